"""Where PyTorch's time goes in one iteration of the reduced sngan_resnet (bench/pytorch/sngan_resnet.py's
model and schedule): torch.profiler's table by operator, then by operator and input shapes.

  python3 bench/pytorch/profile_sngan.py [--threads 2] [--batch 16] [--width 0.25] [--rows 25]
"""
import argparse
import os
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ beside the scripts
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

common.ensure_openblas()

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch.profiler import ProfilerActivity, profile  # noqa: E402
import sngan_resnet as S  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--width", type=float, default=0.25)
    p.add_argument("--rows", type=int, default=25)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    G = S.Generator(max(1, round(256 * a.width)))
    D = S.Discriminator(max(1, round(128 * a.width)))
    opt_d = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.0, 0.9))
    opt_g = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.0, 0.9))

    def iterate():
        z0 = None
        for i in range(S.D_STEPS):
            x = torch.rand(a.batch, 3, 32, 32)
            z = torch.randn(a.batch, S.Z_DIM)
            z0 = z if i == 0 else z0
            with torch.no_grad():
                fake = G(z)
            opt_d.zero_grad(set_to_none=True)
            (F.relu(1 - D(x)).mean() + F.relu(1 + D(fake)).mean()).backward()
            opt_d.step()
        opt_g.zero_grad(set_to_none=True)
        (-D(G(z0)).mean()).backward()
        opt_g.step()

    for _ in range(2):
        iterate()
    times = []
    for _ in range(5):
        t = time.perf_counter()
        iterate()
        times.append(round((time.perf_counter() - t) * 1000))
    print(f"ms per iteration (5 after 2 warm-up): {times}")
    with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
        iterate()
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=a.rows))
    print(prof.key_averages(group_by_input_shape=True).table(sort_by="self_cpu_time_total", row_limit=a.rows))


if __name__ == "__main__":
    main()
