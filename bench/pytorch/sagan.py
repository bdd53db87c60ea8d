"""SAGAN at CIFAR scale (specs/sagan.gan) in PyTorch, timing training iterations on the CPU.

  python3 bench/pytorch/sagan.py [--iters 5] [--warmup 1] [--threads N] [--batch 16] [--width 0.25]

The SNGAN ResNets of bench/pytorch/sngan_resnet.py (G: FC(4*4*C_G), 3 up-blocks, BN, ReLU, conv3 to 3
channels, sigmoid; D: optimized first block, a down block, two blocks keeping size, ReLU, sum over positions,
FC 1) with a self-attention layer in G after its second block and in D after its first (both at 16x16), as
the layer is written in src/layers/attention.ts: bias-free 1x1 convs to queries (C/8), keys (C/8) and values
(C/2), keys and values max-pooled 2x2, softmax over the pooled positions, a bias-free 1x1 conv back to C,
x + gamma * that with gamma starting at 0. torch.nn.utils.spectral_norm on every weight of both nets (the
attention convs included; one power iteration per forward pass in training); Xavier-uniform weights, zero
biases; BN momentum 0.1 (decay 0.9), eps 1e-5. Hinge loss; Adam betas (0, 0.9), D lr 4e-4, G lr 1e-4. One
iteration = one D step then one G step (schedule [d, g]) on one draw of z, each step evaluating fake = G(z)
itself, as ganc's trainer does: every application of a net with spectral norm runs a power iteration, so the
G step's pass normalizes G's weights with the vectors the D step's pass moved and is not that pass again
(ganc's reuse-forward pass skips such nets). --reuse-fake times the common shortcut instead: one pass of G,
read detached by the D step and differentiated by the G step (one power iteration per iteration, not two; the
bench's rows until 2026-12-07 used it). C_G = 256 * width, C_D = 128 * width. The images are uniform random
values in [0, 1] (32x32x3; the tfjs engine trains on mnist_color, the values do not change any op's time).
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
from torch.nn.utils import spectral_norm as sn  # noqa: E402

Z_DIM = 128
IMAGES = 2_000


class Attention(nn.Module):
    def __init__(self, ch):
        super().__init__()
        self.f = sn(nn.Conv2d(ch, ch // 8, 1, bias=False))
        self.g = sn(nn.Conv2d(ch, ch // 8, 1, bias=False))
        self.h = sn(nn.Conv2d(ch, ch // 2, 1, bias=False))
        self.o = sn(nn.Conv2d(ch // 2, ch, 1, bias=False))
        self.gamma = nn.Parameter(torch.zeros(1))

    def forward(self, x):
        b, c, hh, ww = x.shape
        q = self.f(x).view(b, c // 8, hh * ww).transpose(1, 2)  # [b, n, c/8]
        k = F.max_pool2d(self.g(x), 2).view(b, c // 8, hh * ww // 4)  # [b, c/8, n/4]
        v = F.max_pool2d(self.h(x), 2).view(b, c // 2, hh * ww // 4)  # [b, c/2, n/4]
        attn = torch.softmax(torch.bmm(q, k), dim=-1)  # [b, n, n/4]
        a = torch.bmm(v, attn.transpose(1, 2)).view(b, c // 2, hh, ww)
        return x + self.gamma * self.o(a)


class GBlock(nn.Module):
    def __init__(self, ch):
        super().__init__()
        self.bn1, self.bn2 = nn.BatchNorm2d(ch), nn.BatchNorm2d(ch)
        self.c1, self.c2 = sn(nn.Conv2d(ch, ch, 3, padding=1)), sn(nn.Conv2d(ch, ch, 3, padding=1))
        self.sc = sn(nn.Conv2d(ch, ch, 1))

    def forward(self, x):
        h = F.interpolate(F.relu(self.bn1(x)), scale_factor=2, mode="nearest")
        h = self.c2(F.relu(self.bn2(self.c1(h))))
        return self.sc(F.interpolate(x, scale_factor=2, mode="nearest")) + h


class Generator(nn.Module):
    def __init__(self, ch):
        super().__init__()
        self.ch = ch
        self.fc = sn(nn.Linear(Z_DIM, 4 * 4 * ch))
        self.blocks = nn.Sequential(GBlock(ch), GBlock(ch), Attention(ch), GBlock(ch))
        self.bn = nn.BatchNorm2d(ch)
        self.out = sn(nn.Conv2d(ch, 3, 3, padding=1))

    def forward(self, z):
        h = self.fc(z).view(-1, self.ch, 4, 4)
        return torch.sigmoid(self.out(F.relu(self.bn(self.blocks(h)))))


class DBlock(nn.Module):
    """As in bench/pytorch/sngan_resnet.py: first, down, or same (identity shortcut)."""

    def __init__(self, cin, ch, kind):
        super().__init__()
        self.kind = kind
        self.c1 = sn(nn.Conv2d(cin, ch, 3, padding=1))
        self.c2 = sn(nn.Conv2d(ch, ch, 3, padding=1))
        self.sc = sn(nn.Conv2d(cin, ch, 1)) if kind != "same" else None

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
        self.blocks = nn.Sequential(DBlock(3, ch, "first"), Attention(ch), DBlock(ch, ch, "down"), DBlock(ch, ch, "same"), DBlock(ch, ch, "same"))
        self.fc = sn(nn.Linear(ch, 1))

    def forward(self, x):
        return self.fc(torch.sum(F.relu(self.blocks(x)), dim=(2, 3)))




def main():
    p = common.parser(__doc__.splitlines()[0], 5, 1)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--width", type=float, default=0.25)
    p.add_argument("--reuse-fake", action="store_true", help="one pass of G per iteration, shared by both steps")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    t0 = time.perf_counter()
    batch = args.batch
    G = Generator(max(1, round(256 * args.width)))
    D = Discriminator(max(1, round(128 * args.width)))
    common.xavier_init(G)
    common.xavier_init(D)
    G.train()
    D.train()
    opt_d = torch.optim.Adam(D.parameters(), lr=4e-4, betas=(0.0, 0.9), eps=1e-8)
    opt_g = torch.optim.Adam(G.parameters(), lr=1e-4, betas=(0.0, 0.9), eps=1e-8)
    images = torch.rand(IMAGES, 3, 32, 32)
    state = {"d": None, "g": None}
    next_batch = common.shuffled_batches(images, batch)


    def iterate():
        x = next_batch()
        z = torch.randn(batch, Z_DIM)
        opt_d.zero_grad(set_to_none=True)
        if args.reuse_fake:
            fake = G(z)
            d_loss = F.relu(1 - D(x)).mean() + F.relu(1 + D(fake.detach())).mean()
        else:
            with torch.no_grad():
                fake = G(z)
            d_loss = F.relu(1 - D(x)).mean() + F.relu(1 + D(fake)).mean()
        d_loss.backward()
        opt_d.step()
        opt_g.zero_grad(set_to_none=True)
        if not args.reuse_fake:
            fake = G(z)
        g_loss = -D(fake).mean()
        g_loss.backward(inputs=list(G.parameters()))
        opt_g.step()
        state["d"], state["g"] = d_loss.detach(), g_loss.detach()

    setup = time.perf_counter() - t0
    common.run("sagan", batch, iterate, args, setup, lambda: {"finalLosses": {"d": float(state["d"]), "g": float(state["g"])}, "scale": {"batch": batch, "width": args.width}})


if __name__ == "__main__":
    main()
