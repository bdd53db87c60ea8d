"""
torchrun's entry point in test/pytorch/ddp.test.ts: runs a trainer (argv[1:]) and records every file a process
other than rank 0 opens for writing, creates, renames or removes, into $GANC_RANK_WRITES/rank-<rank>.json (the
test checks that rank 0 alone writes the run folder). With $GANC_KILL_RANK1_AT=N, rank 1 kills itself (SIGKILL)
when it calls torch.distributed.all_reduce for the Nth time (the trainer calls it on each logging iteration):
a process lost at a known iteration.
"""
import builtins
import json
import os
import runpy
import signal
import sys

import torch.distributed

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

sys.argv = sys.argv[1:]
try:
    runpy.run_path(sys.argv[0], run_name="__main__")
finally:
    with real_open(os.path.join(os.environ["GANC_RANK_WRITES"], "rank-%d.json" % rank), "w") as f:
        json.dump(log, f)
