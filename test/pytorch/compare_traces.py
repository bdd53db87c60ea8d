"""
Compares two first-iteration traces (GANC_TRACE_FIRST_ITERATION, see src/runtime/trace.ts): the TypeScript
trainer's and the PyTorch trainer's. Prints one JSON object: the tensors compared by part, and each
disagreement with the tensor's name and its error. Usage: compare_traces.py TFJS_DIR TORCH_DIR TOLERANCE
"""
import json
import os
import sys

import numpy as np

ATOL = 1e-7
STEP_ATOL = 1e-5


def step_of(name):
    return name.split("/")[1]


def arrays(root):
    out = {}
    for folder, _, files in os.walk(root):
        for f in files:
            if f.endswith(".npy"):
                full = os.path.join(folder, f)
                out[os.path.relpath(full, root)[:-4]] = np.load(full).astype(np.float64)
    return out


def main():
    a, b, tol = arrays(sys.argv[1]), arrays(sys.argv[2]), float(sys.argv[3])
    problems = []
    step_max = {}
    for name, x in a.items():
        if name.startswith("grad/") and x.size:
            step_max[step_of(name)] = max(step_max.get(step_of(name), 0.0), float(np.max(np.abs(x))))
    for name in sorted(set(a) | set(b)):
        if name.startswith("after/"):  # the reference's variables after each step, which the replay loads
            continue
        if name not in b:
            problems.append({"tensor": name, "problem": "only the TypeScript trainer wrote it"})
            continue
        if name not in a:
            problems.append({"tensor": name, "problem": "only the PyTorch trainer wrote it"})
            continue
        x, y = a[name], b[name]
        if x.shape != y.shape:
            problems.append({"tensor": name, "problem": "shape %s against %s" % (list(x.shape), list(y.shape))})
            continue
        # Relative to the tensor's largest magnitude, plus a floor: a gradient that is zero in exact arithmetic
        # (the bias of a layer that batch norm follows) or sums terms that nearly cancel is float32 rounding of
        # its terms' size, so a gradient also passes within STEP_ATOL of its step's largest gradient.
        scale = float(np.max(np.abs(x))) if x.size else 0.0
        err = float(np.max(np.abs(x - y))) if x.size else 0.0
        floor = STEP_ATOL * step_max[step_of(name)] if name.startswith("grad/") else ATOL
        if not err <= tol * scale + floor:
            problems.append({"tensor": name, "problem": "max |difference| %.3g, %.3g of the largest |value| %.3g" % (err, err / max(scale, 1e-30), scale)})
    parts = {}
    for name in a:
        if name.startswith("after/"):
            continue
        parts[name.split("/")[0]] = parts.get(name.split("/")[0], 0) + 1
    print(json.dumps({"compared": parts, "problems": problems}))


main()
