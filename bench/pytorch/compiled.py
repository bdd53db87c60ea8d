"""Times a trainer written by `ganc compile --target pytorch` (the bench's pytorch-compiled engine).

  python3 bench/pytorch/compiled.py TRAINER.py MODEL [--iters N] [--warmup N] [--threads N] [--data DIR] [--batch N]

Runs the trainer's own main() for warmup + iters iterations (its run folder in a temporary directory) and
times each iteration from the end of the previous one to the start of its end_iteration(): the steps (the
batch, the noise, forward, backward and updates), without the logs, sample grids and checkpoints that the
hand-written scripts do not write either. Prints the result line of common.py.
"""
import importlib.util
import os
import shutil
import sys
import tempfile
import time

sys.dont_write_bytecode = True  # no __pycache__ beside the scripts
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

common.ensure_openblas()

import torch  # noqa: E402


def main():
    p = common.parser(__doc__.splitlines()[0], 300, 30)
    p.add_argument("trainer")
    p.add_argument("model")
    p.add_argument("--data", default=None, help="the data folder 'ganc data' wrote, for specs that are not toy sets")
    p.add_argument("--batch", type=int, default=None)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    spec = importlib.util.spec_from_file_location("compiled_trainer", args.trainer)
    trainer = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(trainer)
    times, cpu_times = [], []
    mark = {"t": None, "c": None, "setup": None}
    original = trainer.Run.end_iteration

    turns = common.Turns()
    steps = args.warmup + args.iters

    def end_iteration(run):
        t, c = time.perf_counter(), time.process_time()
        if mark["t"] is not None and run.step >= args.warmup:
            times.append((t - mark["t"]) * 1000)
            cpu_times.append((c - mark["c"]) * 1000)
        original(run)
        if run.step >= steps:
            turns.end()
        else:
            turns.point()
        mark["t"], mark["c"] = time.perf_counter(), time.process_time()

    original_begin = trainer.Run.begin

    def begin(run):
        original_begin(run)
        mark["setup"] = time.perf_counter() - t0
        turns.point()
        mark["t"], mark["c"] = time.perf_counter(), time.process_time()

    trainer.Run.end_iteration = end_iteration
    trainer.Run.begin = begin
    out = tempfile.mkdtemp(prefix="ganc-bench-py-")
    try:
        argv = ["--steps", str(steps), "--seed", str(args.seed), "--out", out, "--quiet", "--device", "cpu"]
        if args.data:
            argv += ["--data", args.data]
        if args.batch:
            argv += ["--batch", str(args.batch)]
        code = trainer.main(argv)
        if code:
            raise SystemExit(code)
    finally:
        shutil.rmtree(out, ignore_errors=True)
    batch = args.batch or trainer.SPEC["data"]["batch"]
    common.report(args.model, batch, times, cpu_times, args, mark["setup"], engine="pytorch-compiled")


if __name__ == "__main__":
    main()
