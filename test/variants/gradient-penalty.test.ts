import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-wasm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { selectBackend } from "../../src/runtime/backend.ts";
import * as rt from "../../src/runtime/ops.ts";
import { avgPool, upsampleBilinear } from "../../src/runtime/resample.ts";
import { conv2dBias, matMulBias } from "../../src/runtime/lazy-bias.ts";

/*
 * Gradient penalties (WGAN-GP, DRAGAN, R1) differentiate the critic twice: the penalty is a function of
 * grad(D(x).logit, x), and the optimizer needs its gradient with respect to D's weights. tfjs builds the
 * first derivative out of ordinary ops, so the second one exists only if those ops have gradients of
 * their own, and is right only if those gradients are. Here every layer kind a critic can use is checked
 * on the cpu and wasm backends against central finite differences:
 *   (a) the input gradient grad(sum(D(x)), x), the thing the penalty is made of;
 *   (b) the gradient of the WGAN-GP penalty mean((||grad||_2 - 1)^2) with respect to some of D's weights.
 *
 * The small nets are written with the same calls the generated trainer emits for each layer
 * (src/codegen/trainer.ts, layerCode).
 *
 * Tolerance: everything runs in float32 (eps 6e-8). A central difference with step h has truncation error
 * O(h^2 f''') (nil on the piecewise-linear parts, tiny elsewhere at h = 1e-3) and rounding error about
 * eps * |f| / h ~ 1e-4 for the O(1) values used here, so analytic and numeric derivatives agree to ~1e-3
 * of the largest derivative; 1e-2 leaves margin without letting a wrong derivative through (a missing
 * term or a wrong sign is off by O(1)). Leaky ReLU and ReLU have kinks where finite differences are
 * meaningless; every evaluation records the sign pattern of the pre-activations and asserts the step
 * never crossed a kink, so a pass means the comparison was valid.
 */

const H = 1e-3;
const TOL = 1e-2;
const KINK_MARGIN = 5e-3;

type Layer =
  | { op: "dense"; units: number; bias?: boolean; sn?: boolean }
  | { op: "conv2d" | "conv2dTranspose"; filters: number; kernel: number; stride: number; bias?: boolean }
  | { op: "batchnorm"; scale?: boolean; center?: boolean }
  | { op: "layernorm" }
  | { op: "leakyrelu"; alpha: number }
  | { op: "relu" | "sigmoid" | "tanh" | "softmax" | "flatten" }
  | { op: "upsample"; factor: number; bilinear?: boolean }
  | { op: "avgpool"; size: number; stride: number; padding: "same" | "valid" }
  | { op: "global_sum" | "global_avg" }
  | { op: "concat" };

interface Net {
  vars: tf.Variable[];
  /** D's logit [n, 1]; pre-activations of kinked layers are pushed to `kinks` when given. */
  forward(x: tf.Tensor, y: tf.Tensor | null, kinks?: tf.Tensor[]): tf.Tensor;
}

let nextVar = 0;

/** A deterministic generator for test values (mulberry32), so failures reproduce. */
function rng(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randn(r: () => number, shape: number[], std: number): tf.Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const v = new Float32Array(n);
  for (let i = 0; i < n; i++) v[i] = std * Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());
  return tf.tensor(v, shape);
}

/** Builds a critic from `layers` for inputs of shape `inShape` (one sample), weights scaled so values are O(1). */
function buildNet(layers: Layer[], inShape: number[], yShape: number[] | null, seed: number, post?: Case["post"]): Net {
  const r = rng(seed);
  const vars: tf.Variable[] = [];
  const v = (shape: number[], std: number, fill?: number) => {
    const t = fill === undefined ? randn(r, shape, std) : tf.fill(shape, fill);
    const variable = tf.variable(t, true, `w${nextVar++}`);
    vars.push(variable);
    return variable;
  };
  let shape = inShape;
  const steps: ((h: tf.Tensor, y: tf.Tensor | null, kinks?: tf.Tensor[]) => tf.Tensor)[] = [];
  for (const l of layers) {
    switch (l.op) {
      case "dense": {
        const k = v([shape[0]!, l.units], 1 / Math.sqrt(shape[0]!));
        const b = l.bias === false ? null : v([l.units], 0.3);
        const u = l.sn ? tf.variable(randn(r, [1, l.units], 1), false) : null;
        // Power iteration run to convergence first: the gradient treats the singular vectors as constants,
        // which matches the derivative of the largest singular value only where they are its own.
        if (u) for (let i = 0; i < 50; i++) tf.tidy(() => rt.spectralNorm(k, u, "train"));
        steps.push((h) => {
          const kk = u ? rt.spectralNorm(k, u, "eval") : k;
          return b ? matMulBias(h as tf.Tensor2D, kk as tf.Tensor2D, b) : tf.matMul(h as tf.Tensor2D, kk as tf.Tensor2D);
        });
        shape = [l.units];
        break;
      }
      case "conv2d":
      case "conv2dTranspose": {
        const [hh, ww, c] = shape as [number, number, number];
        const t = l.op === "conv2dTranspose";
        const k = v(t ? [l.kernel, l.kernel, l.filters, c] : [l.kernel, l.kernel, c, l.filters], 1 / Math.sqrt(l.kernel * l.kernel * c));
        const b = l.bias === false ? null : v([l.filters], 0.3);
        const out = t ? [hh * l.stride, ww * l.stride, l.filters] : [Math.ceil(hh / l.stride), Math.ceil(ww / l.stride), l.filters];
        steps.push((h) => {
          if (t) {
            const y = tf.conv2dTranspose(h as tf.Tensor4D, k as tf.Tensor4D, [h.shape[0]!, out[0]!, out[1]!, l.filters], l.stride, "same");
            return b ? tf.add(y, b) : y;
          }
          return b
            ? conv2dBias(h as tf.Tensor4D, k as tf.Tensor4D, b, l.stride, "same")
            : tf.conv2d(h as tf.Tensor4D, k as tf.Tensor4D, l.stride, "same");
        });
        shape = out;
        break;
      }
      case "batchnorm": {
        const c = shape[shape.length - 1]!;
        const bn: rt.BatchNormVars = {
          gamma: l.scale === false ? null : v([c], 0.3),
          beta: l.center === false ? null : v([c], 0.3),
          movingMean: tf.variable(tf.zeros([c]), false),
          movingVariance: tf.variable(tf.ones([c]), false),
          decay: 0.9,
          epsilon: 1e-5,
        };
        if (bn.gamma) bn.gamma.assign(tf.add(bn.gamma, 1));
        // "train" as in the generated steps: batch statistics (and a moving-average update on the side).
        steps.push((h) => rt.batchNorm(h, bn, "train"));
        break;
      }
      case "layernorm": {
        const c = shape[shape.length - 1]!;
        const g = v([c], 0.3);
        g.assign(tf.add(g, 1));
        const b = v([c], 0.3);
        steps.push((h) => rt.layerNorm(h, g, b, 1e-5));
        break;
      }
      case "leakyrelu":
        steps.push((h, _y, kinks) => (kinks?.push(h), tf.leakyRelu(h, l.alpha)));
        break;
      case "relu":
        steps.push((h, _y, kinks) => (kinks?.push(h), tf.relu(h)));
        break;
      case "sigmoid":
        steps.push((h) => tf.sigmoid(h));
        break;
      case "tanh":
        steps.push((h) => tf.tanh(h));
        break;
      case "softmax":
        steps.push((h) => tf.softmax(h));
        break;
      case "flatten":
        steps.push((h) => tf.reshape(h, [h.shape[0]!, -1]));
        shape = [shape.reduce((a, b) => a * b, 1)];
        break;
      case "upsample":
        steps.push((h) => (l.bilinear ? upsampleBilinear : rt.upsample)(h as tf.Tensor4D, l.factor));
        shape = [shape[0]! * l.factor, shape[1]! * l.factor, shape[2]!];
        break;
      case "avgpool": {
        steps.push((h) => avgPool(h as tf.Tensor4D, l.size, l.stride, l.padding));
        const out = (n: number) => (l.padding === "same" ? Math.ceil(n / l.stride) : Math.floor((n - l.size) / l.stride) + 1);
        shape = [out(shape[0]!), out(shape[1]!), shape[2]!];
        break;
      }
      case "global_sum":
      case "global_avg":
        steps.push((h) => (l.op === "global_sum" ? tf.sum(h, [1, 2]) : tf.mean(h, [1, 2])));
        shape = [shape[2]!];
        break;
      case "concat":
        steps.push((h, y) => rt.concatInput(h, y!));
        shape = shape.length === 3 ? [shape[0]!, shape[1]!, shape[2]! + yShape![0]!] : [shape[0]! + yShape![0]!];
        break;
    }
  }
  if (shape.length !== 1 || shape[0] !== 1) throw new Error(`test net must end in one logit, ends in [${shape}]`);
  return {
    vars,
    forward: (x, y, kinks) => {
      const logit = steps.reduce((h, f) => f(h, y, kinks), x);
      return post ? post(logit, kinks) : logit;
    },
  };
}

interface Case {
  name: string;
  layers: Layer[];
  x: number[]; // batch shape
  y?: number[]; // second input (a label vector) for conditional critics
  /** Expression functions applied to the logit inside grad(...), as the generated code calls them. */
  post?: (logit: tf.Tensor, kinks?: tf.Tensor[]) => tf.Tensor;
}

const CASES: Case[] = [
  { name: "dense + leaky ReLU", layers: [{ op: "dense", units: 6 }, { op: "leakyrelu", alpha: 0.2 }, { op: "dense", units: 5 }, { op: "leakyrelu", alpha: 0.2 }, { op: "dense", units: 1 }], x: [4, 5] },
  { name: "dense + ReLU, no bias", layers: [{ op: "dense", units: 6, bias: false }, { op: "relu" }, { op: "dense", units: 1 }], x: [4, 5] },
  { name: "conv2d + leaky ReLU", layers: [{ op: "conv2d", filters: 4, kernel: 3, stride: 2 }, { op: "leakyrelu", alpha: 0.2 }, { op: "flatten" }, { op: "dense", units: 1 }], x: [3, 6, 6, 1] },
  { name: "conv2d without bias + tanh", layers: [{ op: "conv2d", filters: 3, kernel: 3, stride: 1, bias: false }, { op: "tanh" }, { op: "flatten" }, { op: "dense", units: 1 }], x: [2, 4, 4, 2] },
  { name: "batchnorm (batch statistics) + leaky ReLU", layers: [{ op: "dense", units: 6 }, { op: "batchnorm" }, { op: "leakyrelu", alpha: 0.2 }, { op: "dense", units: 1 }], x: [5, 4] },
  { name: "batchnorm without scale and offset", layers: [{ op: "dense", units: 6 }, { op: "batchnorm", scale: false, center: false }, { op: "tanh" }, { op: "dense", units: 1 }], x: [5, 4] },
  { name: "batchnorm on conv features", layers: [{ op: "conv2d", filters: 3, kernel: 3, stride: 2 }, { op: "batchnorm" }, { op: "leakyrelu", alpha: 0.2 }, { op: "flatten" }, { op: "dense", units: 1 }], x: [3, 4, 4, 1] },
  { name: "layernorm", layers: [{ op: "conv2d", filters: 3, kernel: 3, stride: 2 }, { op: "layernorm" }, { op: "leakyrelu", alpha: 0.2 }, { op: "flatten" }, { op: "dense", units: 1 }], x: [3, 4, 4, 1] },
  { name: "deconv + upsample + sigmoid", layers: [{ op: "conv2dTranspose", filters: 2, kernel: 3, stride: 2 }, { op: "upsample", factor: 2 }, { op: "sigmoid" }, { op: "flatten" }, { op: "dense", units: 1 }], x: [2, 2, 2, 2] },
  {
    name: "ResNet-critic resampling: average pooling (tiling and padded), bilinear upsampling, global sum",
    layers: [
      { op: "conv2d", filters: 3, kernel: 3, stride: 1 },
      { op: "leakyrelu", alpha: 0.2 },
      { op: "avgpool", size: 2, stride: 2, padding: "valid" },
      { op: "upsample", factor: 2, bilinear: true },
      { op: "avgpool", size: 3, stride: 2, padding: "same" },
      { op: "global_sum" },
      { op: "dense", units: 1 },
    ],
    x: [3, 6, 6, 1],
  },
  { name: "global average pooling", layers: [{ op: "conv2d", filters: 3, kernel: 3, stride: 2 }, { op: "tanh" }, { op: "global_avg" }, { op: "dense", units: 1 }], x: [3, 4, 4, 2] },
  { name: "softmax", layers: [{ op: "dense", units: 4 }, { op: "softmax" }, { op: "dense", units: 1 }], x: [3, 3] },
  { name: "spectral norm", layers: [{ op: "dense", units: 5, sn: true }, { op: "leakyrelu", alpha: 0.2 }, { op: "dense", units: 1, sn: true }], x: [3, 4] },
  { name: "label concatenated onto an image (CGAN's D)", layers: [{ op: "concat" }, { op: "conv2d", filters: 3, kernel: 3, stride: 2 }, { op: "leakyrelu", alpha: 0.2 }, { op: "flatten" }, { op: "dense", units: 1 }], x: [3, 4, 4, 1], y: [3, 2] },
  {
    name: "expressions on the gradient path: clip, abs, max, min, sample_norm",
    layers: [{ op: "dense", units: 4 }, { op: "tanh" }, { op: "dense", units: 1 }],
    x: [4, 3],
    post: (l, kinks) => {
      kinks?.push(l, tf.sub(l, 0.3), tf.add(l, 0.3));
      // Slopes 3, 2, -1, -2 on the pieces of the first sum, plus sqrt(5) sign(l) from the norm: never 0,
      // so no sample's input gradient vanishes.
      const pieces = tf.add(tf.clipByValue(l, -0.3, 0.3), tf.mul(2, tf.maximum(tf.abs(l), tf.minimum(l, tf.mul(l, 0.5)))));
      return tf.add(pieces, tf.reshape(rt.sampleNorm(tf.concat([l, tf.mul(l, 2)], 1)), [-1, 1]));
    },
  },
  {
    name: "expressions on the gradient path: bce_logits, softplus, exp, log, sigmoid",
    layers: [{ op: "dense", units: 4 }, { op: "leakyrelu", alpha: 0.2 }, { op: "dense", units: 1 }],
    x: [4, 3],
    post: (l) => tf.add(rt.bceLogits(l, 1), tf.add(tf.softplus(l), tf.log(tf.add(tf.sigmoid(tf.exp(tf.mul(l, 0.3))), 1)))),
  },
  {
    name: "the reference critic, scaled down",
    layers: [
      { op: "conv2d", filters: 4, kernel: 4, stride: 2 },
      { op: "leakyrelu", alpha: 0.2 },
      { op: "conv2d", filters: 6, kernel: 4, stride: 2 },
      { op: "batchnorm" },
      { op: "leakyrelu", alpha: 0.2 },
      { op: "flatten" },
      { op: "dense", units: 8 },
      { op: "batchnorm" },
      { op: "leakyrelu", alpha: 0.2 },
      { op: "dense", units: 1 },
    ],
    x: [4, 8, 8, 1],
  },
];

/** Which side of zero each recorded pre-activation lies on. */
function signature(kinks: tf.Tensor[]): string {
  return kinks.map((k) => Array.from(k.dataSync(), (v) => (v > 0 ? "1" : "0")).join("")).join("|");
}

/** Up to `count` element indices spread over a tensor of `size` elements. */
function picks(size: number, count: number): number[] {
  if (size <= count) return [...Array(size).keys()];
  return [...Array(count).keys()].map((i) => Math.floor(((i + 0.5) * size) / count));
}

/** max |a - b| relative to the largest |b|, which the tolerance is stated against. */
function relError(analytic: number[], numeric: number[]): number {
  const scale = Math.max(...numeric.map(Math.abs), 1e-6);
  return Math.max(...analytic.map((a, i) => Math.abs(a - numeric[i]!))) / scale;
}

/** Smallest distance of a recorded pre-activation from its kink at zero. */
function kinkMargin(kinks: tf.Tensor[]): number {
  return Math.min(Infinity, ...kinks.map((k) => tf.min(tf.abs(k)).dataSync()[0]!));
}

/**
 * Inputs drawn until no pre-activation lies within KINK_MARGIN of a kink, so that steps of H in one input
 * or one weight stay on the same linear piece (the signature checks in checkCase confirm it).
 */
function inputsAwayFromKinks(c: Case, net: Net, r: () => number): { x: tf.Tensor; y: tf.Tensor | null } {
  for (let tries = 0; tries < 500; tries++) {
    const x = randn(r, c.x, 1);
    const y = c.y ? randn(r, c.y, 1) : null;
    const margin = tf.tidy(() => {
      const kinks: tf.Tensor[] = [];
      net.forward(x, y, kinks);
      return kinkMargin(kinks);
    });
    if (margin >= KINK_MARGIN) return { x, y };
    x.dispose();
    y?.dispose();
  }
  throw new Error(`${c.name}: no input found with pre-activations away from the kinks`);
}

function checkCase(c: Case, seed: number) {
  const net = buildNet(c.layers, c.x.slice(1), c.y ? c.y.slice(1) : null, seed, c.post);
  const { x, y } = inputsAwayFromKinks(c, net, rng(seed + 1000));

  /** sum of the logits and the kink pattern at input `xv`. */
  const evalD = (xv: tf.Tensor) =>
    tf.tidy(() => {
      const kinks: tf.Tensor[] = [];
      const out = tf.sum(net.forward(xv, y, kinks)).dataSync()[0]!;
      return { out, sig: signature(kinks) };
    });
  const base = evalD(x);

  // (a) grad(sum(D(x)), x) against central differences in each input element.
  const g = tf.tidy(() => Array.from(rt.gradOf((xx) => net.forward(xx, y), x).dataSync()));
  const xs = Array.from(x.dataSync());
  const idx = picks(xs.length, 48);
  const numeric = idx.map((i) => {
    const at = (d: number) => {
      const p = xs.slice();
      p[i] = p[i]! + d;
      const t = tf.tensor(p, x.shape);
      const e = evalD(t);
      t.dispose();
      expect(e.sig, `input step at element ${i} crossed a kink`).toBe(base.sig);
      return e.out;
    };
    return (at(H) - at(-H)) / (2 * H);
  });
  const inputErr = relError(idx.map((i) => g[i]!), numeric);

  // (b) the penalty's gradient with respect to D's weights against central differences.
  const penalty = () => tf.mean(tf.square(tf.sub(rt.sampleNorm(rt.gradOf((xx) => net.forward(xx, y), x)), 1))) as tf.Scalar;
  const { grads } = tf.variableGrads(penalty, net.vars);
  const analytic: number[] = [];
  const fd: number[] = [];
  for (const w of net.vars) {
    const orig = w.dataSync().slice();
    // A weight the penalty does not reach (the last layer's bias) gets no gradient at all: it is zero.
    const gw = grads[w.name]?.dataSync() ?? new Float32Array(orig.length);
    for (const i of picks(orig.length, 4)) {
      const at = (d: number) => {
        const p = orig.slice();
        p[i] = p[i]! + d;
        tf.tidy(() => w.assign(tf.tensor(p, w.shape)));
        expect(evalD(x).sig, `weight step on ${w.name}[${i}] crossed a kink`).toBe(base.sig);
        return tf.tidy(() => penalty().dataSync()[0]!);
      };
      const v = (at(H) - at(-H)) / (2 * H);
      tf.tidy(() => w.assign(tf.tensor(orig, w.shape)));
      analytic.push(gw[i]!);
      fd.push(v);
    }
  }
  Object.values(grads).forEach((t) => t.dispose());
  const weightErr = relError(analytic, fd);
  x.dispose();
  y?.dispose();
  net.vars.forEach((v) => v.dispose());
  return { inputErr, weightErr, fd };
}

for (const backend of ["cpu", "wasm"] as const) {
  describe(`second derivatives through critic layers on ${backend}`, () => {
    let previous: string;
    beforeAll(async () => {
      previous = tf.getBackend();
      await selectBackend(backend, { log: () => {} });
    });
    afterAll(async () => {
      if (previous) await tf.setBackend(previous);
    });

    for (const [i, c] of CASES.entries()) {
      it(c.name, () => {
        const { inputErr, weightErr, fd } = checkCase(c, 17 + i);
        expect(inputErr, "input gradient vs finite differences").toBeLessThan(TOL);
        // The penalty must actually depend on the weights checked, or the comparison proves nothing.
        expect(Math.max(...fd.map(Math.abs))).toBeGreaterThan(1e-3);
        expect(weightErr, "penalty gradient vs finite differences").toBeLessThan(TOL);
      });
    }
  });
}
