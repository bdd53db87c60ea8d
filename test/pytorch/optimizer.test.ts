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

// bce_logits with a constant target of 1 or 0 skips the product x * t: the loss and its gradient must be, bit
// for bit, those of the general formula (logits with zeros, where TensorFlow's gradient is relu's and abs's 0).
const BCE = String.raw`
import json
torch.manual_seed(3)
x = torch.cat([torch.randn(200, 1) * 4, torch.zeros(8, 1)])
res = {}
for t in (1.0, 0.0):
    a = x.clone().requires_grad_(True)
    b = x.clone().requires_grad_(True)
    fast = bce_logits(a, t)
    ref = torch.mean(F.relu(b) - b * t + torch.log1p(torch.exp(-torch.abs(b))))
    fast.backward()
    ref.backward()
    res[str(t)] = [bool(torch.equal(fast, ref)), bool(torch.equal(a.grad, b.grad)), float(fast)]
print(json.dumps(res))
`;

describe.skipIf(!py.python)("PyTorch runtime: bce_logits with a constant target", () => {
  it("gives the general formula's loss and gradient, bit for bit", () => {
    const dir = tmpDir("ganc-pybce-");
    const file = path.join(dir, "bce_check.py");
    fs.writeFileSync(file, "import math, os, sys, json, struct, zlib, hashlib, argparse, time\nimport numpy as np\nimport torch\nimport torch.nn.functional as F\n" + PY_RUNTIME + BCE);
    const r = spawnSync(py.python!, [file], { encoding: "utf8", timeout: 300_000 });
    expect(r.status, r.stderr).toBe(0);
    const got = JSON.parse(r.stdout) as Record<string, [boolean, boolean, number]>;
    for (const t of ["1.0", "0.0"]) {
      expect(got[t]![0], `target ${t}: the loss`).toBe(true);
      expect(got[t]![1], `target ${t}: the gradient`).toBe(true);
      expect(got[t]![2]).toBeGreaterThan(0.1);
    }
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
