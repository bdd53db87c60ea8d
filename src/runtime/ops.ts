import * as tf from "@tensorflow/tfjs";
import { Rng } from "./rng.ts";
import { GANC_MAX_POOL2, GANC_MAX_POOL2_GRAD, GANC_MAX_POOL2_INDEX, GANC_POWER_STEP, GANC_SOFTMAX, GANC_SOFTMAX_GRAD } from "./kernels/names.ts";
// conv and dense layers with a bias (see lazy-bias.ts): in ops so that every runtime (Node, the playground) has them.
export { conv2dBias, matMulBias } from "./lazy-bias.ts";
import { runtime as bceLogitsRuntime } from "../functions/bce-logits.ts";
import { selfAttentionRuntime } from "../layers/attention.ts";
import { runtime as bceRuntime } from "../functions/bce.ts";
import { runtime as diffAugmentRuntime } from "../functions/diffaug.ts";
import { runtime as mixRuntime } from "../functions/mix.ts";
import { runtime as stylesRuntime } from "../functions/styles.ts";
import { runtime as truncateRuntime } from "../functions/truncate.ts";
import { runtime as gradRuntime } from "../functions/grad.ts";
import { runtime as l1Runtime } from "../functions/l1.ts";
import { gradient as maxGradient } from "../functions/max.ts";
import { gradient as minGradient } from "../functions/min.ts";
import { runtime as mseRuntime } from "../functions/mse.ts";
import { runtime as pullawayRuntime } from "../functions/pullaway.ts";
import { runtime as sampleMeanRuntime } from "../functions/sample-mean.ts";
import { runtime as sampleNormRuntime } from "../functions/sample-norm.ts";
import { runtime as sliceRuntime } from "../functions/slice.ts";
import { minibatchStddevOf } from "../layers/minibatch-stddev.ts";
import { modConvOf } from "../layers/modconv.ts";
import { pixelNormOf } from "../layers/pixelnorm.ts";
import { addNoiseOf, noiseOf } from "../layers/noise.ts";
import { runtime as softmaxCeRuntime } from "../functions/softmax-ce.ts";
import { runtime as stdRuntime } from "../functions/std.ts";

/**
 * The tensor functions generated trainers call for layers and loss terms that take more than one tfjs op.
 * Each one is the textbook formula, written once here so every trainer shares the same tested code.
 */

// ---- second derivatives ----------------------------------------------------------------------------

/*
 * Gradient penalties (WGAN-GP, DRAGAN, R1) differentiate a gradient. tfjs builds first derivatives from
 * ordinary ops, so second derivatives exist only where those ops have gradients themselves, and are right
 * only where tfjs records them correctly. Two gaps break the critic architectures of the reference
 * collection; both are closed here, for every trainer, when the runtime is loaded:
 *
 * 1. Comparison and logical kernels have no gradient, yet leaky ReLU's gradient selects with Greater,
 *    clip's with LogicalAnd and LessEqual, max/min's with Less / Greater / LessEqual, so a penalty through
 *    a leaky ReLU fails with "gradient function not found for Greater". They are piecewise constant: their
 *    derivative is zero wherever it exists (everywhere but on the kinks, a set of measure zero).
 *
 * 2. Kernels whose gradient reads their own saved output (sigmoid, tanh, softmax, log-softmax, exp) get
 *    a second derivative that silently drops every term through that output: tfjs records the copy of
 *    the output it saves before the op that produced it, so the tape walk from the weights never reaches
 *    the copy and treats it as a constant. Their gradients are re-registered to save the input instead
 *    and recompute the output from it (one extra elementwise op per activation in a backward pass).
 *
 * test/variants/gradient-penalty.test.ts checks the resulting first and second derivatives of every
 * layer kind against finite differences on the cpu and wasm backends.
 */
const PIECEWISE_CONSTANT: Record<string, readonly string[]> = {
  [tf.Greater]: ["a", "b"],
  [tf.Less]: ["a", "b"],
  [tf.LessEqual]: ["a", "b"],
  [tf.Equal]: ["a", "b"],
  [tf.NotEqual]: ["a", "b"],
  [tf.LogicalAnd]: ["a", "b"],
  [tf.LogicalOr]: ["a", "b"],
  [tf.LogicalXor]: ["a", "b"],
  [tf.LogicalNot]: ["x"],
};

type GradFunc = (dy: tf.Tensor, saved: tf.Tensor[], attrs: Record<string, unknown>) => Record<string, () => tf.Tensor>;

/** Gradients of activations computed from the saved input, so an outer gradient can see the dependence. */
const FROM_INPUT: Record<string, { input: string; grad: GradFunc }> = {
  [tf.Sigmoid]: {
    input: "x",
    grad: (dy, [x]) => ({ x: () => tf.tidy(() => {
      const y = tf.sigmoid(x!);
      return tf.mul(dy, tf.mul(y, tf.sub(1, y)));
    }) }),
  },
  [tf.Tanh]: { input: "x", grad: (dy, [x]) => ({ x: () => tf.mul(dy, tf.sub(1, tf.square(tf.tanh(x!)))) }) },
  [tf.Exp]: { input: "x", grad: (dy, [x]) => ({ x: () => tf.mul(dy, tf.exp(x!)) }) },
  [tf.Softmax]: {
    input: "logits",
    grad: (dy, [logits], attrs) => ({ logits: () => tf.tidy(() => {
      const dim = attrs.dim as number;
      const y = tf.softmax(logits!, dim);
      const dyTimesY = tf.mul(dy, y);
      return tf.sub(dyTimesY, tf.mul(tf.sum(dyTimesY, [dim], true), y));
    }) }),
  },
  [tf.LogSoftmax]: {
    input: "logits",
    grad: (dy, [logits], attrs) => ({ logits: () => tf.tidy(() => {
      const axis = attrs.axis as number;
      return tf.sub(dy, tf.mul(tf.sum(dy, axis, true), tf.softmax(logits!, axis)));
    }) }),
  },
};

/**
 * Tile's gradient as one transpose and one sum. tfjs's own adds up one slice of dy per repetition
 * (3,136 Slice and Add kernels for a [1,1,1,128] statistic tiled over a 64x7x7 batch), which is where
 * a gradient penalty's second derivative through batch norm spent most of its time. The sum runs
 * over the repetitions in the same row-major order from 0, as the slices were added (bit for bit the
 * same on wasm, whose Sum adds in float32; cpu's Sum accumulates in double).
 */
function tileGrad(dy: tf.Tensor, saved: tf.Tensor[], attrs: Record<string, unknown>): Record<string, () => tf.Tensor> {
  const [x] = saved;
  const reps = attrs.reps as number[];
  return {
    x: () =>
      tf.tidy(() => {
        const shape = x!.shape;
        const n = shape.length;
        const split = shape.flatMap((a, i) => [reps[i]!, a]); // [r1, a1, r2, a2, ...]
        const perm = [...shape.map((_, i) => 2 * i + 1), ...shape.map((_, i) => 2 * i)]; // a's, then r's
        const size = shape.reduce((p, a) => p * a, 1);
        const repeats = reps.reduce((p, r) => p * r, 1);
        const byRep = tf.reshape(tf.transpose(tf.reshape(dy, split), perm), [size, repeats]);
        return tf.reshape(tf.sum(byRep, 1), n === 0 ? [] : shape);
      }),
  };
}

function registerSecondOrderGradients(): void {
  tf.registerGradient({ kernelName: tf.Tile, inputsToSave: ["x"], gradFunc: tileGrad as unknown as tf.GradFunc });
  // max and min of a per-sample [1] value against an image: gradients that sum over the broadcast axes
  tf.registerGradient(maxGradient(tf));
  tf.registerGradient(minGradient(tf));
  for (const [kernelName, inputs] of Object.entries(PIECEWISE_CONSTANT)) {
    if (tf.getGradient(kernelName) !== undefined) continue;
    tf.registerGradient({
      kernelName,
      inputsToSave: [...inputs],
      gradFunc: (_dy, saved) => Object.fromEntries(inputs.map((name, i) => [name, () => tf.zeros(saved[i]!.shape, "float32")])),
    });
  }
  for (const [kernelName, { input, grad }] of Object.entries(FROM_INPUT)) {
    tf.registerGradient({ kernelName, inputsToSave: [input], gradFunc: grad as unknown as tf.GradFunc });
  }
  registerMaxPool2Gradients();
  registerSoftmaxGradients();
}

/**
 * The gradients of attention.ts's softmax kernels (kernels/names.ts). GancSoftmax's: GancSoftmaxGrad for attn's
 * gradient (first derivatives: the chain's bits; e and sums computed again from s), plus what reaches e and sums themselves (they are read only by a
 * backward pass that a second derivative differentiates: (de + dsums) * e, zero otherwise, and +0 changes nothing
 * after the kernel's own + 0). GancSoftmaxGrad's, from ds = (dy / sums + g) e with g = -t / sums^2 and t = the row
 * sum of dy e, and u = the row sum of dds e:
 *   dy: e (dds / sums - u / sums^2)    e: dds (dy / sums + g) - u dy / sums^2    sums: 2 t u / sums^3 - (row sum of dds e dy) / sums^2
 * in tf ops (differentiable again). attention.test.ts checks them against central differences.
 */
function registerSoftmaxGradients(): void {
  const rowSum = (t: tf.Tensor) => tf.sum(t, -1, true);
  tf.registerGradient({
    kernelName: GANC_SOFTMAX,
    // s, not the outputs: tfjs's tape records the copies it saves of a kernel's outputs before the kernel itself,
    // so a second derivative would not find its way from s to them; e and sums are computed again from s instead
    inputsToSave: ["s"],
    gradFunc: ((dys: tf.Tensor[], saved: tf.Tensor[]) => {
      const [de, dsums, dattn] = dys as [tf.Tensor, tf.Tensor, tf.Tensor];
      return {
        s: () => {
          const [e, sums, attn] = tf.engine().runKernel(GANC_SOFTMAX, { s: saved[0]! }, {}) as tf.Tensor[];
          attn!.dispose();
          return tf.add(tf.engine().runKernel(GANC_SOFTMAX_GRAD, { dy: dattn, e: e!, sums: sums! }, {}) as tf.Tensor, tf.mul(tf.add(de, dsums), e!));
        },
      };
    }) as unknown as tf.GradFunc,
  });
  tf.registerGradient({
    kernelName: GANC_SOFTMAX_GRAD,
    inputsToSave: ["dy", "e", "sums"],
    gradFunc: ((dds: tf.Tensor, saved: tf.Tensor[]) => {
      const [dy, e, sums] = saved as [tf.Tensor, tf.Tensor, tf.Tensor];
      const sq = tf.square(sums);
      const t = rowSum(tf.mul(dy, e));
      const u = rowSum(tf.mul(dds, e));
      return {
        dy: () => tf.mul(e, tf.sub(tf.div(dds, sums), tf.div(u, sq))),
        e: () => tf.sub(tf.mul(dds, tf.sub(tf.div(dy, sums), tf.div(t, sq))), tf.div(tf.mul(u, dy), sq)),
        sums: () => tf.sub(tf.div(tf.mul(tf.mul(t, u), 2), tf.mul(sq, sums)), tf.div(rowSum(tf.mul(tf.mul(dds, e), dy)), sq)),
      };
    }) as unknown as tf.GradFunc,
  });
}

/**
 * The gradients of attention.ts's 2x2 max pooling kernels (kernels/names.ts), each differentiable again: the
 * pooling by an index routes dy to the indexed entry (GancMaxPool2Grad), whose gradient pools by the same index;
 * the index itself is piecewise constant (zero, as ArgMax's; float32, as tfjs's tape wants every gradient). The
 * tape adds that zero to x's gradient after the pooling's, as it did for the chain of ops the kernels replace.
 */
function registerMaxPool2Gradients(): void {
  const zeros = (t: tf.Tensor) => () => tf.zeros(t.shape, "float32");
  const pooled = (name: string, dyName: "x" | "dy", grad: string) =>
    tf.registerGradient({
      kernelName: name,
      inputsToSave: [dyName, "idx"],
      gradFunc: ((dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [, idx] = saved as [tf.Tensor, tf.Tensor];
        const run = () => tf.engine().runKernel(grad, grad === GANC_MAX_POOL2 ? { x: dy, idx } : { dy, idx }, {}) as tf.Tensor;
        return { [dyName]: run, idx: zeros(idx) };
      }) as unknown as tf.GradFunc,
    });
  pooled(GANC_MAX_POOL2, "x", GANC_MAX_POOL2_GRAD);
  pooled(GANC_MAX_POOL2_GRAD, "dy", GANC_MAX_POOL2);
  tf.registerGradient({ kernelName: GANC_MAX_POOL2_INDEX, inputsToSave: ["x"], gradFunc: ((_dy: tf.Tensor, [x]: tf.Tensor[]) => ({ x: zeros(x!) })) as unknown as tf.GradFunc });
}
registerSecondOrderGradients();

/** How a network runs: `train` uses batch statistics and updates moving averages; `eval` uses batch
 * statistics without updating them (actions, logged values); `infer` uses the moving averages (samples). */
export type Mode = "train" | "eval" | "infer";

/** The identity whose gradient is zero: values that must not be differentiated (moving statistics, power iteration). */
const stopGradient = tf.customGrad(((x: tf.Tensor) => ({ value: tf.clone(x), gradFunc: (dy: tf.Tensor) => tf.zerosLike(dy) })) as never) as unknown as (x: tf.Tensor) => tf.Tensor;

export interface BatchNormVars {
  gamma: tf.Variable | null;
  beta: tf.Variable | null;
  movingMean: tf.Variable;
  movingVariance: tf.Variable;
  decay: number;
  epsilon: number;
}

/** Batch normalization over every axis but the last, like TF's batch_norm(decay, epsilon, scale=True). */
export function batchNorm(x: tf.Tensor, v: BatchNormVars, mode: Mode): tf.Tensor {
  // tfjs's batch-norm gradient fails without a scale ("reading 'dataId'") or an offset ("reading 'id'"),
  // so a layer without them (`batchnorm scale=false center=false`) passes the constants 1 and 0.
  const scale = v.gamma ?? tf.onesLike(v.movingMean);
  const offset = v.beta ?? tf.zerosLike(v.movingMean);
  if (mode === "infer") return tf.batchNorm(x, v.movingMean, v.movingVariance, offset, scale, v.epsilon);
  const axes = x.shape.slice(0, -1).map((_, i) => i);
  const { mean, variance } = tf.moments(x, axes);
  if (mode === "train") {
    // Moving averages are state, not part of the loss: update them from values cut off the gradient tape.
    tf.tidy(() => {
      const m = stopGradient(mean);
      const s = stopGradient(variance);
      v.movingMean.assign(tf.add(tf.mul(v.movingMean, v.decay), tf.mul(m, 1 - v.decay)));
      v.movingVariance.assign(tf.add(tf.mul(v.movingVariance, v.decay), tf.mul(s, 1 - v.decay)));
    });
  }
  return tf.batchNorm(x, mean, variance, offset, scale, v.epsilon);
}

/**
 * Conditional batch norm: batch norm without its own scale and offset (the moving averages as
 * `batchNorm` keeps them), times the per-sample gain 1 + c wGain, plus the bias c wBias; c is [batch, k],
 * the maps [k, channels], broadcast over an image's positions.
 */
export function condBatchNorm(x: tf.Tensor, c: tf.Tensor, wGain: tf.Tensor, wBias: tf.Tensor, v: BatchNormVars, mode: Mode): tf.Tensor {
  const normalized = batchNorm(x, v, mode);
  const perSample = [x.shape[0]!, ...x.shape.slice(1, -1).map(() => 1), x.shape[x.rank - 1]!];
  const gain = tf.reshape(tf.add(tf.matMul(c as tf.Tensor2D, wGain as tf.Tensor2D), 1), perSample);
  const bias = tf.reshape(tf.matMul(c as tf.Tensor2D, wBias as tf.Tensor2D), perSample);
  return tf.add(tf.mul(normalized, gain), bias);
}

/**
 * The running average of `track_avg` (src/layers/track-avg.ts): `x` itself; on training passes `avg` moves
 * toward the batch mean of `x`, avg * decay + mean * (1 - decay), from values cut off the gradient tape.
 */
export function trackAverage(x: tf.Tensor, avg: tf.Variable, decay: number, mode: Mode): tf.Tensor {
  if (mode === "train") {
    tf.tidy(() => {
      const m = tf.mean(stopGradient(x), 0);
      avg.assign(tf.add(tf.mul(avg, decay), tf.mul(m, 1 - decay)));
    });
  }
  return x;
}

/** StyleGAN2's minibatch standard deviation layer (src/layers/minibatch-stddev.ts). */
export function minibatchStddev(x: tf.Tensor4D, group: number, features: number): tf.Tensor4D {
  return minibatchStddevOf(tf, x, group, features);
}

/** Pixel normalization over the last axis (src/layers/pixelnorm.ts). */
export function pixelNorm(x: tf.Tensor, epsilon: number): tf.Tensor {
  return pixelNormOf(tf, x, epsilon);
}

/** StyleGAN2's noise input x + n * s, n standard normal [batch, height, width, 1] drawn from `seed` (src/layers/noise.ts). */
export function addNoise(x: tf.Tensor, strength: tf.Tensor, seed: number): tf.Tensor {
  return tf.tidy(() => addNoiseOf(tf, x, strength, noiseOf(tf, x, seed)));
}

/** Layer normalization over every non-batch axis, with a per-channel scale and offset. */
export function layerNorm(x: tf.Tensor, gamma: tf.Variable, beta: tf.Variable, epsilon: number): tf.Tensor {
  const axes = x.shape.slice(1).map((_, i) => i + 1);
  const { mean, variance } = tf.moments(x, axes, true);
  return tf.add(tf.mul(tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, epsilon))), gamma), beta);
}

export function dropout(x: tf.Tensor, rate: number, mode: Mode, seed: number): tf.Tensor {
  return mode === "train" && rate > 0 ? tf.dropout(x, rate, undefined, seed) : x;
}

/** Concatenates `y` onto `x` on the last axis; a vector `y` is broadcast over the positions of an image `x`. */
export function concatInput(x: tf.Tensor, y: tf.Tensor): tf.Tensor {
  if (x.rank === 4 && y.rank === 2) {
    const [b, h, w] = x.shape as number[];
    y = tf.tile(tf.reshape(y, [b!, 1, 1, y.shape[1]!]), [1, h!, w!, 1]);
  }
  return tf.concat([x, y], -1);
}

/**
 * Nearest-neighbour upsampling by a whole factor. The gradient sums each factor x factor block, written
 * with reshape and sum rather than tfjs's ResizeNearestNeighborGrad kernel, which has no gradient of its
 * own (so no second derivative) and which the cpu backend gets wrong for batches of more than one image.
 */
export function upsample(x: tf.Tensor4D, factor: number): tf.Tensor4D {
  const [b, h, w, c] = x.shape;
  const op = tf.customGrad(((xx: tf.Tensor4D) => ({
    value: tf.image.resizeNearestNeighbor(xx, [h * factor, w * factor]),
    gradFunc: (dy: tf.Tensor) => tf.sum(tf.reshape(dy, [b, h, factor, w, factor, c]), [2, 4]),
  })) as never) as unknown as (xx: tf.Tensor4D) => tf.Tensor4D;
  return op(x);
}

/**
 * Backends whose tensors lie in host memory (wasm's heap, cpu's arrays): there the power-iteration step
 * runs in float64 on the kernel's values (powerStep64), a few microseconds, instead of about 15 kernels
 * (two products, two norms, their divisions) of a few elements each; on a GPU it stays ops, which need
 * no read-back.
 */
const POWER_STEP_ON_HOST = new Set(["wasm", "cpu"]);

/**
 * One power-iteration step of spectral norm for w [n, out] (row-major) and u [out], in float64:
 * v = l2(w u), u' = l2(w^T v) with l2(t) = t / (||t|| + 1e-12), each rounded to float32 once (u' from the
 * rounded v, as the ops compute it). The values are not differentiated (u and v are constants of the
 * normalization's gradient).
 */
export function powerStep64(w: ArrayLike<number>, n: number, out: number, u: ArrayLike<number>): { v: Float32Array; u: Float32Array } {
  const t = new Float64Array(n);
  let tt = 0;
  for (let i = 0; i < n; i++) {
    let acc = 0;
    for (let o = 0; o < out; o++) acc += w[i * out + o]! * u[o]!;
    t[i] = acc;
    tt += acc * acc;
  }
  const v = new Float32Array(n);
  const tn = Math.sqrt(tt) + 1e-12;
  for (let i = 0; i < n; i++) v[i] = t[i]! / tn;
  const s = new Float64Array(out);
  for (let i = 0; i < n; i++) {
    const vi = v[i]!;
    for (let o = 0; o < out; o++) s[o] += vi * w[i * out + o]!;
  }
  let ss = 0;
  for (let o = 0; o < out; o++) ss += s[o]! * s[o]!;
  const sn = Math.sqrt(ss) + 1e-12;
  const un = new Float32Array(out);
  for (let o = 0; o < out; o++) un[o] = s[o]! / sn;
  return { v, u: un };
}

/**
 * Spectral normalization (Miyato et al.): divide the kernel by its largest singular value, estimated with
 * one power-iteration step per training call; `u` persists between calls.
 */
export function spectralNorm(kernel: tf.Tensor, u: tf.Variable, mode: Mode): tf.Tensor {
  return spectralNormParts(kernel, u, mode).normalized;
}

/** spectralNorm's result and the values its gradient reads: v [1, n], u' [1, out] and sigma (see src/runtime/fused/spectral.ts). */
export function spectralNormParts(kernel: tf.Tensor, u: tf.Variable, mode: Mode): { normalized: tf.Tensor; vv: tf.Tensor; un: tf.Tensor; sigma: tf.Tensor } {
  const { w, vv, un } = spectralNormVectors(kernel, u, mode);
  const sigma = spectralSigma(w, vv, un);
  return { normalized: tf.div(kernel, sigma), vv, un, sigma };
}

/** Spectral norm's estimate of the largest singular value of w [n, out]: the sum of (v w) * u', as ops. */
export function spectralSigma(w: tf.Tensor, vv: tf.Tensor, un: tf.Tensor): tf.Tensor {
  return tf.sum(tf.mul(tf.matMul(vv, w), un));
}

/**
 * spectralNorm's power-iteration step: the kernel as [n, out] and the vectors v [1, n] and u' [1, out] (constants to
 * a tape), u updated to u' in training.
 */
export function spectralNormVectors(
  kernel: tf.Tensor,
  u: tf.Variable,
  mode: Mode,
  opts: { wantVw?: boolean } = {},
): { w: tf.Tensor; vv: tf.Tensor; un: tf.Tensor; vw?: tf.Tensor } {
  const w = tf.reshape(kernel, [-1, kernel.shape[kernel.rank - 1]!]); // [n, out]
  let vv: tf.Tensor; // [1, n]
  let un: tf.Tensor; // [1, out]
  let vw: tf.Tensor | undefined; // [1, out]: v w, the product u' normalizes (webgpu's kernel hands it out)
  if (tf.getKernel(GANC_POWER_STEP, tf.getBackend()) !== undefined) {
    // The same float64 step on the wasm heap (kernels/wasm/index.ts, makePowerStepKernel), called below tfjs's
    // engine: no gradient tape records it, so its results are constants to the tape (the kernel has no gradient),
    // as the uploaded results of the JavaScript step below are. (webgpu: float32, kernels/webgpu/spectral.ts.)
    const k = tf.getKernel(GANC_POWER_STEP, tf.getBackend())!;
    const outs = k.kernelFunc({ inputs: { w, u }, backend: tf.backend(), attrs: {} }) as tf.TensorInfo[];
    [vv, un, vw] = outs.map((info) => tf.engine().makeTensorFromTensorInfo(info)) as [tf.Tensor, tf.Tensor, tf.Tensor?];
    if (vw !== undefined && !opts.wantVw) {
      vw.dispose();
      vw = undefined;
    }
  } else if (POWER_STEP_ON_HOST.has(tf.getBackend())) {
    const step = powerStep64(w.dataSync() as Float32Array, w.shape[0]!, w.shape[1]!, u.dataSync() as Float32Array);
    vv = tf.tensor2d(step.v, [1, w.shape[0]!]);
    un = tf.tensor2d(step.u, [1, w.shape[1]!]);
  } else {
    const l2 = (t: tf.Tensor) => tf.div(t, tf.add(tf.norm(t), 1e-12));
    vv = stopGradient(l2(tf.matMul(stopGradient(u), w, false, true)));
    un = stopGradient(l2(tf.matMul(vv, w)));
  }
  if (mode === "train") tf.tidy(() => u.assign(un));
  return { w, vv, un, ...(vw !== undefined ? { vw } : {}) };
}

// ---- expression functions --------------------------------------------------------------------------

// Each is written in its file under src/functions, with its typing rule and the code the trainer emits.
export const bceLogits = bceLogitsRuntime(tf);
export const bce = bceRuntime(tf);
export const mse = mseRuntime(tf);
export const l1 = l1Runtime(tf);
export const softmaxCe = softmaxCeRuntime(tf);
export const std = stdRuntime(tf);
export const sampleNorm = sampleNormRuntime(tf);
export const sampleMean = sampleMeanRuntime(tf);
export const pullaway = pullawayRuntime(tf);
export const sliceLast = sliceRuntime(tf);
export const gradOf = gradRuntime(tf);
export const diffAugment = diffAugmentRuntime(tf, (key) => Rng.fromState([...key]));
/** Style stacks (src/functions/styles.ts, mix.ts) and the truncation trick (truncate.ts). */
export const styles = stylesRuntime(tf);
export const mixStyles = mixRuntime(tf, (key) => Rng.fromState([...key]));
export const truncate = truncateRuntime(tf);

/** The attention layer's forward pass (src/layers/attention.ts). */
export const selfAttention = selfAttentionRuntime(tf);

/** StyleGAN2's modulated convolution (src/layers/modconv.ts): x [n, h, w, in], style [n, wdim]. */
export function modConv(x: tf.Tensor4D, style: tf.Tensor, kernel: tf.Tensor, affine: tf.Tensor, affineBias: tf.Tensor, bias: tf.Tensor | null, demod: boolean): tf.Tensor4D {
  return modConvOf(tf, x, style, kernel, affine, affineBias, bias, demod);
}

/** Keras-style gradient clipping: each gradient's norm to at most `clipnorm`, each element to [-clipvalue, clipvalue]. */
/**
 * The gradients of a lazy step (`every(k, step)` in the schedule): scaled by k, the interval, as if its loss were
 * k times larger, and one for every variable (zeros where the loss does not reach one, like the last bias under
 * an R1 penalty), so the optimizer's moments decay for all of them, as StyleGAN2's regularization step does.
 */
export function lazyGradients(grads: tf.NamedTensorMap, vars: readonly tf.Variable[], k: number): tf.NamedTensorMap {
  const out: tf.NamedTensorMap = {};
  for (const v of vars) {
    const g = grads[v.name];
    out[v.name] = g ? tf.mul(g, tf.scalar(k)) : tf.zerosLike(v);
  }
  return out;
}

export function clipGradients(grads: tf.NamedTensorMap, clipnorm: number | null, clipvalue: number | null): tf.NamedTensorMap {
  const out: tf.NamedTensorMap = {};
  for (const [name, g] of Object.entries(grads)) {
    let c = g;
    if (clipnorm !== null) c = tf.mul(c, tf.div(clipnorm, tf.maximum(tf.norm(c), clipnorm)));
    if (clipvalue !== null) c = tf.clipByValue(c, -clipvalue, clipvalue);
    out[name] = c;
  }
  return out;
}
