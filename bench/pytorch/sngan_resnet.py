"""SNGAN's CIFAR ResNet (specs/sngan_resnet.gan) in PyTorch, timing training iterations on the CPU.

  python3 bench/pytorch/sngan_resnet.py [--iters 5] [--warmup 1] [--threads N] [--batch 16] [--width 0.25] [--device cuda [--count-kernels]]

G: z ~ N(0, 1)^128 -> FC(4*4*C_G) -> 3 up-blocks [BN, ReLU, nearest 2x up, conv3, BN, ReLU, conv3;
shortcut: up 2x, conv1] -> BN, ReLU, conv3 to 3 channels, sigmoid. D: an optimized first block [conv3,
ReLU, conv3, avgpool 2; shortcut: avgpool 2, conv1], a down block [ReLU, conv3, ReLU, conv3, avgpool 2;
shortcut: conv1, avgpool 2], two blocks keeping size (identity shortcut), ReLU, sum over positions, FC 1.
torch.nn.utils.spectral_norm on every weight of D (one power iteration per forward pass in training);
Xavier-uniform weights, zero biases; BN momentum 0.1 (decay 0.9), eps 1e-5. Hinge loss, Adam(2e-4,
betas (0, 0.9)) for both. One iteration = 5 D steps (each on its own batch and z, G's fake computed
without gradient) then one G step on the first D step's z, as the spec's schedule [5*d, g].
C_G = 256 * width, C_D = 128 * width. The images are uniform random values in [0, 1] (32x32x3; the
tfjs engines train on mnist_color, the values do not change the time of any op here).
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
import torch.nn.functional as F  # noqa: E402
from torch.nn.utils import spectral_norm  # noqa: E402

Z_DIM = 128
D_STEPS = 5
IMAGES = 2_000


class GBlock(nn.Module):
    def __init__(self, ch):
        super().__init__()
        self.bn1, self.bn2 = nn.BatchNorm2d(ch), nn.BatchNorm2d(ch)
        self.c1, self.c2 = nn.Conv2d(ch, ch, 3, padding=1), nn.Conv2d(ch, ch, 3, padding=1)
        self.sc = nn.Conv2d(ch, ch, 1)

    def forward(self, x):
        h = F.interpolate(F.relu(self.bn1(x)), scale_factor=2, mode="nearest")
        h = self.c2(F.relu(self.bn2(self.c1(h))))
        return self.sc(F.interpolate(x, scale_factor=2, mode="nearest")) + h


class Generator(nn.Module):
    def __init__(self, ch):
        super().__init__()
        self.ch = ch
        self.fc = nn.Linear(Z_DIM, 4 * 4 * ch)
        self.blocks = nn.Sequential(GBlock(ch), GBlock(ch), GBlock(ch))
        self.bn = nn.BatchNorm2d(ch)
        self.out = nn.Conv2d(ch, 3, 3, padding=1)

    def forward(self, z):
        # The spec reshapes to [4, 4, C] (channels last); channels-first here: same cost.
        h = self.fc(z).view(-1, self.ch, 4, 4)
        return torch.sigmoid(self.out(F.relu(self.bn(self.blocks(h)))))


class DBlock(nn.Module):
    """first: no ReLU before the first conv, shortcut pooled then 1x1 conv; down: pooling, shortcut 1x1
    conv then pooled; otherwise identity shortcut."""

    def __init__(self, cin, ch, kind):
        super().__init__()
        self.kind = kind
        self.c1 = spectral_norm(nn.Conv2d(cin, ch, 3, padding=1))
        self.c2 = spectral_norm(nn.Conv2d(ch, ch, 3, padding=1))
        self.sc = spectral_norm(nn.Conv2d(cin, ch, 1)) if kind != "same" else None

    def forward(self, x):
        if self.kind == "first":
            h = F.avg_pool2d(self.c2(F.relu(self.c1(x))), 2)
            return self.sc(F.avg_pool2d(x, 2)) + h
        h = self.c2(F.relu(self.c1(F.relu(x))))
        if self.kind == "down":
            return F.avg_pool2d(self.sc(x), 2) + F.avg_pool2d(h, 2)
        return x + h


class Discriminator(nn.Module):
    def __init__(self, ch):
        super().__init__()
        self.blocks = nn.Sequential(DBlock(3, ch, "first"), DBlock(ch, ch, "down"), DBlock(ch, ch, "same"), DBlock(ch, ch, "same"))
        self.fc = spectral_norm(nn.Linear(ch, 1))

    def forward(self, x):
        return self.fc(torch.sum(F.relu(self.blocks(x)), dim=(2, 3)))




def main():
    p = common.parser(__doc__.splitlines()[0], 5, 1)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--width", type=float, default=0.25)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    t0 = time.perf_counter()
    batch = args.batch
    dev = torch.device(args.device)
    G = Generator(max(1, round(256 * args.width)))
    D = Discriminator(max(1, round(128 * args.width)))
    common.xavier_init(G)
    common.xavier_init(D)
    G.to(dev).train()
    D.to(dev).train()
    opt_d = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.0, 0.9), eps=1e-8)
    opt_g = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.0, 0.9), eps=1e-8)
    images = torch.rand(IMAGES, 3, 32, 32, device=dev)
    state = {"d": None, "g": None}
    next_batch = common.shuffled_batches(images, batch)


    def iterate():
        z0 = None
        for i in range(D_STEPS):
            x = next_batch()
            z = torch.randn(batch, Z_DIM, device=dev)
            if i == 0:
                z0 = z
            with torch.no_grad():
                fake = G(z)
            opt_d.zero_grad(set_to_none=True)
            d_loss = F.relu(1 - D(x)).mean() + F.relu(1 + D(fake)).mean()
            d_loss.backward()
            opt_d.step()
        opt_g.zero_grad(set_to_none=True)
        g_loss = -D(G(z0)).mean()
        g_loss.backward()
        opt_g.step()
        state["d"], state["g"] = d_loss.detach(), g_loss.detach()

    setup = time.perf_counter() - t0
    common.run("sngan_resnet", batch, iterate, args, setup, lambda: {"finalLosses": {"d": float(state["d"]), "g": float(state["g"])}, "scale": {"batch": batch, "width": args.width}})


if __name__ == "__main__":
    main()
