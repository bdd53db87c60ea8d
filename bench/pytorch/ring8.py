"""The ring-of-8 MLP GAN (test/fixtures/ring8.gan) in PyTorch, timing training iterations on the CPU.

  python3 bench/pytorch/ring8.py [--iters 300] [--warmup 30] [--threads N]

G: z ~ N(0, 1)^8 -> FC128-ReLU -> FC128-ReLU -> FC2; D: FC128-ReLU -> FC128-ReLU -> FC1 (logit).
Weights N(0, 0.02), biases 0; sigmoid cross-entropy; Adam(1e-3, beta1 0.5) for both; batch 128 from
10,000 points of 8 Gaussians (std 0.02) on a circle of radius 2. One iteration = one D step then one
G step, each with its own forward pass.
"""
import math
import os
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ beside the scripts
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

common.ensure_openblas()

import torch  # noqa: E402
from torch import nn  # noqa: E402

Z_DIM = 8
BATCH = 128
POINTS = 10_000


def mlp(n_in, n_out):
    net = nn.Sequential(nn.Linear(n_in, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU(), nn.Linear(128, n_out))
    for m in net:
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0.0, 0.02)
            nn.init.zeros_(m.bias)
    return net


def ring8(n):
    modes = torch.randint(0, 8, (n,)).float() * (2 * math.pi / 8)
    centers = torch.stack([2 * torch.cos(modes), 2 * torch.sin(modes)], 1)
    return centers + 0.02 * torch.randn(n, 2)


def main():
    args = common.arguments(__doc__.splitlines()[0], 300, 30)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    t0 = time.perf_counter()
    G, D = mlp(Z_DIM, 2), mlp(2, 1)
    opt_d = torch.optim.Adam(D.parameters(), lr=1e-3, betas=(0.5, 0.999), eps=1e-8)
    opt_g = torch.optim.Adam(G.parameters(), lr=1e-3, betas=(0.5, 0.999), eps=1e-8)
    bce = nn.BCEWithLogitsLoss()
    points = ring8(POINTS)
    ones = torch.ones(BATCH, 1)
    zeros = torch.zeros(BATCH, 1)
    state = {"order": torch.randperm(POINTS), "cursor": 0, "d": None, "g": None}

    def next_batch():
        if state["cursor"] + BATCH > POINTS:
            state["order"], state["cursor"] = torch.randperm(POINTS), 0
        idx = state["order"][state["cursor"]:state["cursor"] + BATCH]
        state["cursor"] += BATCH
        return points[idx]

    def iterate():
        x = next_batch()
        z = torch.randn(BATCH, Z_DIM)
        opt_d.zero_grad(set_to_none=True)
        with torch.no_grad():
            fake = G(z)
        d_loss = bce(D(x), ones) + bce(D(fake), zeros)
        d_loss.backward()
        opt_d.step()
        opt_g.zero_grad(set_to_none=True)
        g_loss = bce(D(G(z)), ones)
        g_loss.backward()
        opt_g.step()
        state["d"], state["g"] = d_loss.detach(), g_loss.detach()

    setup = time.perf_counter() - t0
    common.run("ring8", BATCH, iterate, args, setup, lambda: {"finalLosses": {"d": float(state["d"]), "g": float(state["g"])}})


if __name__ == "__main__":
    main()
