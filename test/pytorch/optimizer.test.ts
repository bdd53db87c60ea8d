import * as fs from "node:fs";
import * as path from "node:path";
import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { PY_RUNTIME } from "../../src/codegen/pytorch/runtime.ts";
import { tmpDir } from "../helpers.ts";
import { pythonWithTorch, skipNote } from "../python.ts";

/**
 * The PyTorch trainer's optimizers update the whole group in place, over flat buffers. Their results must be,
 * bit for bit, those of TensorFlow.js's update rules applied variable by variable, which the script below
 * writes out operation by operation (float32 tensors, beta^t as float32 running products): for Adam, RMSprop,
 * momentum (with and without Nesterov) and SGD, over several steps, with a learning rate changed between
 * steps, and with steps where some variables get no gradient (their values and slots must stay as they are).
 * Adam is also checked against the same formulas in float64 (to float32 rounding), so that the reference
 * itself is the formula the docstring states.
 */
const py = pythonWithTorch();

const SCRIPT = String.raw`
import json
torch.manual_seed(7)
shapes = [[3, 5], [5], [2, 2, 3, 4], [1], [7]]
CFG = {"lr": 0.01, "beta1": 0.5, "beta2": 0.999, "epsilon": 1e-7, "rho": 0.9, "momentum": 0.8, "nesterov": False}


def reference(kind, cfg, params, slots, acc, grads, lr):
    """TensorFlow.js's rules, one variable after the other, each line one float32 operation (or two)."""
    a1, a2 = acc
    for i, (p, g) in enumerate(zip(params, grads)):
        if g is None:
            continue
        if kind == "adam":
            m, v = slots[0][i], slots[1][i]
            m.copy_(m * cfg["beta1"] + g * (1 - cfg["beta1"]))
            v.copy_(v * cfg["beta2"] + g * g * (1 - cfg["beta2"]))
            p.add_(m / float(1 - a1) / (torch.sqrt(v / float(1 - a2)) + cfg["epsilon"]) * -lr)
        elif kind == "rmsprop":
            ms, mom = slots[0][i], slots[1][i]
            ms.copy_(ms * cfg["rho"] + g * g * (1 - cfg["rho"]))
            mom.copy_(mom * cfg["momentum"] + g * lr / torch.sqrt(ms + cfg["epsilon"]))
            p.copy_(p - mom)
        elif kind == "momentum":
            a = slots[0][i]
            a.copy_(a * cfg["momentum"] + g)
            p.copy_(p - (lr * (g + a * cfg["momentum"]) if cfg["nesterov"] else lr * a))
        else:
            p.copy_(p - lr * g)
    return (a1 * cfg["beta1"], a2 * cfg["beta2"])


out = {}
for kind, nesterov in (("adam", False), ("rmsprop", False), ("momentum", False), ("momentum", True), ("sgd", False)):
    cfg = dict(CFG, kind=kind, nesterov=nesterov)
    start = [torch.randn(s) for s in shapes]
    params = [torch.nn.Parameter(t.clone()) for t in start]
    opt = Optimizer("d", params, cfg)
    ref = [t.clone() for t in start]
    ref_slots = [[torch.zeros(s) for s in shapes] for _ in Optimizer.SLOTS[kind]]
    acc = (torch.tensor(cfg["beta1"], dtype=torch.float32), torch.tensor(cfg["beta2"], dtype=torch.float32))
    p64 = [t.double() for t in start]
    m64 = [torch.zeros(s, dtype=torch.float64) for s in shapes]
    v64 = [torch.zeros(s, dtype=torch.float64) for s in shapes]
    worst64 = 0.0
    for step in range(12):
        grads = [torch.randn(s) * 10 ** (i - 2) for i, s in enumerate(shapes)]
        if step in (3, 7):
            grads[1] = None  # a variable this step's loss does not reach
            grads[4] = None
        if step == 6:
            opt.lr = 0.003  # a schedule's new rate
        lr = opt.lr
        for p, g in zip(params, grads):
            p.grad = g
        opt.step()
        acc = reference(kind, cfg, ref, ref_slots, acc, grads, lr)
        if kind == "adam":
            for i, g in enumerate(grads):
                if g is None:
                    continue
                g = g.double()
                m64[i] = m64[i] * cfg["beta1"] + g * (1 - cfg["beta1"])
                v64[i] = v64[i] * cfg["beta2"] + g * g * (1 - cfg["beta2"])
                t = opt.t
                p64[i] = p64[i] - lr * (m64[i] / (1 - cfg["beta1"] ** t)) / (torch.sqrt(v64[i] / (1 - cfg["beta2"] ** t)) + cfg["epsilon"])
            worst64 = max(worst64, max(float(torch.max(torch.abs(p.detach().double() - q) / (torch.abs(q) + 1e-3))) for p, q in zip(params, p64)))
    same = all(torch.equal(p.detach(), q) for p, q in zip(params, ref))
    same_slots = all(torch.equal(a, b) for k in range(len(ref_slots)) for a, b in zip(opt.slots[k], ref_slots[k]))
    moved = all(not torch.equal(p.detach(), t) for p, t in zip(params, start))
    name = kind + ("-nesterov" if nesterov else "")
    out[name] = {"weights": same, "slots": same_slots, "moved": moved, "worst64": worst64,
                 "acc": [float(opt.acc_beta1), float(acc[0]), float(opt.acc_beta2), float(acc[1])] if kind == "adam" else None}
print(json.dumps(out))
`;

// bce_logits is PyTorch's one kernel, and |x| (abs, l1) has TensorFlow.js's gradient: against float64
// arithmetic of TensorFlow.js's formula relu(x) - x t + log(1 + exp(-|x|)), values and gradients agree to float32
// rounding, at logits of exactly 0 the gradient is tfjs's (0.5 - t) / n (tf.abs's gradient is -1 at 0, which
// torch.abs's 0 would make -t / n), and second derivatives pass gradgradcheck in float64.
const BCE = String.raw`
import json
torch.manual_seed(3)
x = torch.cat([torch.randn(200, 1) * 4, torch.zeros(8, 1)])
n = x.numel()
res = {}
for t in (1.0, 0.0, 0.3, "tensor"):
    tt = torch.rand(1, 1) if t == "tensor" else t  # a [1, 1] target broadcasts over the batch
    a = x.clone().requires_grad_(True)
    loss = bce_logits(a, tt)
    loss.backward()
    d = x.double().requires_grad_(True)
    td = tt.double() if torch.is_tensor(tt) else tt
    # float64, tf.abs's gradient at 0 (-1) written out: |x| as x * s with s = 1 where x > 0, else -1
    s = torch.where(d > 0, torch.ones_like(d), -torch.ones_like(d))
    ref = torch.mean(F.relu(d) - d * td + torch.log1p(torch.exp(-(d * s))))
    ref.backward()
    tv = float(tt) if torch.is_tensor(tt) else tt
    res[str(t)] = {
        "value": abs(float(loss) - float(ref)) / abs(float(ref)),
        "grad": float(torch.max(torch.abs(a.grad.double() - d.grad))) * n,
        "at0": [float(g) * n for g in a.grad[200:, 0]], "want0": 0.5 - tv,
    }
z = torch.tensor([0.0, 1.5, -2.0, 0.0], requires_grad=True)
tf_abs(z).sum().backward()
res["abs_grad"] = z.grad.tolist()
w = torch.tensor([0.0, 2.0, -1.0, 0.5], requires_grad=True)
l1(w, torch.tensor([0.0, 1.0, -1.0, 1.0])).backward()
res["l1_grad"] = (w.grad * 4).tolist()
xs = (torch.randn(6, 1, dtype=torch.float64) * 3).requires_grad_(True)
res["gradgrad_bce"] = bool(torch.autograd.gradgradcheck(lambda v: bce_logits(v, 1.0) * 1.0, (xs,)))
res["gradgrad_abs"] = bool(torch.autograd.gradgradcheck(lambda v: tf_abs(v * v - 1.0), (xs,)))
print(json.dumps(res))
`;

describe.skipIf(!py.python)("PyTorch runtime: bce_logits and |x|", () => {
  it("agree with float64 arithmetic, take TensorFlow.js's gradients at 0, and have second derivatives", () => {
    const dir = tmpDir("ganc-pybce-");
    const file = path.join(dir, "bce_check.py");
    fs.writeFileSync(file, "import math, os, sys, json, struct, zlib, hashlib, argparse, time\nimport numpy as np\nimport torch\nimport torch.nn.functional as F\n" + PY_RUNTIME + BCE);
    const r = spawnSync(py.python!, [file], { encoding: "utf8", timeout: 300_000 });
    expect(r.status, r.stderr).toBe(0);
    const got = JSON.parse(r.stdout) as Record<string, unknown>;
    for (const t of ["1.0", "0.0", "0.3", "tensor"]) {
      const g = got[t] as { value: number; grad: number; at0: number[]; want0: number };
      expect(g.value, `target ${t}: the loss against float64`).toBeLessThan(1e-6);
      expect(g.grad, `target ${t}: the gradient (times n) against float64`).toBeLessThan(1e-6);
      for (const v of g.at0) expect(v, `target ${t}: the gradient at a logit of 0 (times n)`).toBeCloseTo(g.want0, 6);
    }
    expect(got.abs_grad).toEqual([-1, 1, -1, -1]);
    expect(got.l1_grad).toEqual([-1, 1, -1, -1]);
    expect(got.gradgrad_bce).toBe(true);
    expect(got.gradgrad_abs).toBe(true);
    fs.rmSync(dir, { recursive: true, force: true });
  }, 300_000);
});

describe.skipIf(!py.python)("PyTorch runtime: the optimizers' in-place updates", () => {
  it("are bit for bit TensorFlow.js's rules applied variable by variable", () => {
    const dir = tmpDir("ganc-pyopt-");
    const file = path.join(dir, "opt_check.py");
    fs.writeFileSync(file, "import math, os, sys, json, struct, zlib, hashlib, argparse, time\nimport numpy as np\nimport torch\nimport torch.nn.functional as F\n" + PY_RUNTIME + SCRIPT);
    const r = spawnSync(py.python!, [file], { encoding: "utf8", timeout: 300_000 });
    expect(r.status, r.stderr).toBe(0);
    const got = JSON.parse(r.stdout) as Record<string, { weights: boolean; slots: boolean; moved: boolean; worst64: number; acc: number[] | null }>;
    expect(Object.keys(got).sort()).toEqual(["adam", "momentum", "momentum-nesterov", "rmsprop", "sgd"]);
    for (const [kind, g] of Object.entries(got)) {
      expect(g.moved, `${kind}: every variable moved`).toBe(true);
      expect(g.weights, `${kind}: the weights are the reference's, bit for bit`).toBe(true);
      expect(g.slots, `${kind}: the slots are the reference's, bit for bit`).toBe(true);
    }
    const adam = got["adam"]!;
    expect(adam.acc![0]).toBe(adam.acc![1]);
    expect(adam.acc![2]).toBe(adam.acc![3]);
    expect(adam.worst64).toBeLessThan(1e-4);
    fs.rmSync(dir, { recursive: true, force: true });
  }, 300_000);
});
skipNote("the optimizers' test", py);
