"""
Compares two first-iteration traces (GANC_TRACE_FIRST_ITERATION, see src/runtime/trace.ts): the TypeScript
trainer's and the PyTorch trainer's. Prints one JSON object: the tensors compared by part, and each
disagreement with the tensor's name and its error. Usage: compare_traces.py TFJS_DIR TORCH_DIR TOLERANCE [TORCH64_DIR]

TORCH64_DIR, when given, is the PyTorch trainer's trace of the same iteration in float64 (GANC_TRACE_FLOAT64=1,
the same weights replayed) on the TypeScript trainer's branches (GANC_TRACE_KINKS=<TFJS_DIR>/kink). Two float32
engines can disagree by more than rounding's usual size where a value sits within rounding of a kink: a
pre-activation of -3e-8 in exact arithmetic that one engine rounds to +2e-8 lets one ReLU pass its gradient in
that engine only, and that single entry, through batch norm's backward pass, moves every gradient upstream by
~1e-3 of its size (the 32x32 ResNet specs at full width: a few such entries among millions in each). The
TypeScript trainer records every ReLU input entry within 1e-4 of its tensor's largest magnitude of 0
(TFJS_DIR/kink, src/runtime/trace.ts), and the float64 evaluation gives each of those entries the side of 0 the
TypeScript trainer gave it; it counts the entries where its own side differs (TORCH64_DIR/kinks.json). A float32
gradient that misses TOLERANCE is then judged against that float64 evaluation: if the TypeScript trainer's
float32 gradient agrees with it to TOLERANCE, the two programs compute the same function and the miss is a
rounding crossing (in either engine); it is listed under "rounding" with the three distances. Otherwise it
stays a problem: a difference of meaning. The crossings themselves must be rounding: a crossing entry farther
than CROSSING_BAND of its tensor's largest magnitude from 0, or a float64 evaluation that did not follow every
ReLU the TypeScript trainer recorded (a different order of evaluation), is a problem too.
"""
import json
import os
import sys

import numpy as np

ATOL = 1e-7
STEP_ATOL = 1e-5
# A ReLU input on opposite sides of 0 in the two evaluations must be this close to 0 (relative to its tensor's
# largest magnitude) to count as rounding: float32 rounding through a few dozen layers is ~1e-7 of that.
CROSSING_BAND = 1e-5


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
    c = arrays(sys.argv[4]) if len(sys.argv) > 4 else None
    problems, rounding = [], []
    step_max = {}
    for name, x in a.items():
        if name.startswith("grad/") and x.size:
            step_max[step_of(name)] = max(step_max.get(step_of(name), 0.0), float(np.max(np.abs(x))))
    for name in sorted(set(a) | set(b)):
        if name.startswith(("after/", "kink/")):  # the replay's inputs: variables after each step, ReLUs near 0
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
        if not err <= tol * scale + floor and c is not None and name.startswith("grad/") and name in c and c[name].shape == x.shape:
            ref = c[name]
            off_tfjs = float(np.max(np.abs(x - ref))) if x.size else 0.0
            if off_tfjs <= tol * scale + floor:
                off_torch = float(np.max(np.abs(y - ref))) if x.size else 0.0
                rounding.append({"tensor": name, "float32": err / max(scale, 1e-30), "tfjs_float64": off_tfjs / max(scale, 1e-30), "torch_float64": off_torch / max(scale, 1e-30)})
                continue
        if not err <= tol * scale + floor:
            problems.append({"tensor": name, "problem": "max |difference| %.3g, %.3g of the largest |value| %.3g" % (err, err / max(scale, 1e-30), scale)})
    parts = {}
    for name in a:
        if name.startswith(("after/", "kink/")):
            continue
        parts[name.split("/")[0]] = parts.get(name.split("/")[0], 0) + 1
    crossings = []
    kinks = os.path.join(sys.argv[4], "kinks.json") if c is not None else None
    if kinks and os.path.exists(kinks):
        with open(kinks) as f:
            k = json.load(f)
        if k["calls"] != k["reference_calls"]:
            problems.append({"tensor": "kinks", "problem": "the float64 evaluation followed %d ReLUs, the TypeScript trainer recorded %d" % (k["calls"], k["reference_calls"])})
        for e in k["kinks"]:
            if e["crossed"]:
                crossings.append(e)
            if e["crossed_largest"] > CROSSING_BAND:
                problems.append({"tensor": "kink/" + e["call"], "problem": "a ReLU input %.3g of its largest magnitude from 0 is on opposite sides of 0: more than rounding" % e["crossed_largest"]})
    print(json.dumps({"compared": parts, "problems": problems, "rounding": rounding, "crossings": crossings}))


main()
