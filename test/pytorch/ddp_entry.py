"""
torchrun's entry point in test/pytorch/ddp.test.ts: runs a trainer (argv[1:]) and records every file a process
other than rank 0 opens for writing, creates, renames or removes, into $GANC_RANK_WRITES/rank-<rank>.json (the
test checks that rank 0 alone writes the run folder). With $GANC_KILL_RANK1_AT=N, rank 1 kills itself (SIGKILL)
when it calls torch.distributed.all_reduce for the Nth time (the trainer calls it on each logging iteration):
a process lost at a known iteration.

With --jobs FILE instead, runs several trainers one after the other in this process (torch is imported once):
FILE holds a JSON list of {"argv": [trainer, args...], "writes": folder}. Under torchrun each job's process
group gets a store of its own, which rank 0 serves on a port of the job's (not torchrun's agent store, whose
keys the previous job's group left behind). Rank 0 picks that port free when the job starts and hands it to
rank 1 through a file beside FILE: a port picked before the list started could be taken by the time a later
job binds it (seen once in CI: "Address already in use"). A job that fails stops the list.
"""
import builtins
import json
import os
import runpy
import signal
import sys

import torch.distributed
import torch.nn.parallel

rank = int(os.environ.get("RANK", "0"))
real_open = builtins.open
log = []


def _open(file, mode="r", *args, **kwargs):
    if any(c in mode for c in "wax+"):
        log.append(["open", str(file)])
    return real_open(file, mode, *args, **kwargs)


def _wrap(name):
    f = getattr(os, name)

    def wrapped(*args, **kwargs):
        log.append([name, str(args[0]) if args else ""])
        return f(*args, **kwargs)

    return wrapped


if rank != 0:
    builtins.open = _open
    for name in ("makedirs", "mkdir", "replace", "rename", "remove", "unlink"):
        setattr(os, name, _wrap(name))

kill_at = int(os.environ.get("GANC_KILL_RANK1_AT", "0"))
if rank == 1 and kill_at:
    real_all_reduce = torch.distributed.all_reduce
    calls = [0]

    def all_reduce(*args, **kwargs):
        calls[0] += 1
        if calls[0] == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)
        return real_all_reduce(*args, **kwargs)

    torch.distributed.all_reduce = all_reduce



KEPT = []


def run(argv, writes, keep=False):
    """
    Runs one trainer as __main__; returns its exit code. keep: run it in a namespace of its own that stays
    alive until this process ends (see below) rather than runpy's, which is dropped when the trainer ends.
    """
    sys.argv = argv
    del log[:]
    code = 0
    try:
        if keep:
            namespace = {"__name__": "__main__", "__file__": argv[0], "__builtins__": builtins}
            KEPT.append(namespace)
            with real_open(argv[0]) as f:
                exec(compile(f.read(), argv[0], "exec"), namespace)
        else:
            runpy.run_path(argv[0], run_name="__main__")
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        if e.code not in (0, None) and not isinstance(e.code, int):
            print(e.code, file=sys.stderr)
    finally:
        with real_open(os.path.join(writes, "rank-%d.json" % rank), "w") as f:
            json.dump(log, f)
    return code


if sys.argv[1] == "--jobs":
    # Each job's objects, its DDP wrappers included, are kept to the end, which skips their destructors
    # (os._exit). Freeing a DDP wrapper after its group was destroyed destroys the gloo process group it
    # holds, joining its worker threads while holding the interpreter lock, and a worker releasing a tensor
    # of Python's waits for that lock: with PyTorch 1.13, rank 1 deadlocked so at a job's end or during the
    # next job (seen twice in two tries); one trainer per process, as the other tests run, never hung so.
    real_ddp_init = torch.nn.parallel.DistributedDataParallel.__init__

    def ddp_init(self, *args, **kwargs):
        KEPT.append(self)
        real_ddp_init(self, *args, **kwargs)

    torch.nn.parallel.DistributedDataParallel.__init__ = ddp_init
    jobs_file = sys.argv[2]  # (each job sets sys.argv to its trainer's)
    with real_open(jobs_file) as f:
        jobs = json.load(f)
    # torchrun's own port, unique to this launch: names the files the jobs' ports are handed over in
    launch = os.environ.get("MASTER_PORT", "0")

    def job_port(i):
        """Job i's store port: a free one rank 0 picks now, which rank 1 reads from the file rank 0 writes."""
        import socket
        import time

        path = "%s.%s.port%d" % (jobs_file, launch, i)
        if rank == 0:
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                port = s.getsockname()[1]
            with real_open(path + ".tmp", "w") as f:
                f.write(str(port))
            os.rename(path + ".tmp", path)
            return port
        deadline = time.time() + 120
        while not os.path.exists(path):
            if time.time() > deadline:
                raise SystemExit("rank %d: no port from rank 0 for job %d (%s)" % (rank, i, path))
            time.sleep(0.01)
        with real_open(path) as f:
            return int(f.read())

    code = 0
    for i, job in enumerate(jobs):
        if "WORLD_SIZE" in os.environ:
            os.environ["MASTER_PORT"] = str(job_port(i))
            os.environ["TORCHELASTIC_USE_AGENT_STORE"] = "False"
        code = run(job["argv"], job["writes"], keep=True)
        if code:
            break
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
else:
    sys.exit(run(sys.argv[1:], os.environ["GANC_RANK_WRITES"]))
