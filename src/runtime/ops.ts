import * as tf from "@tensorflow/tfjs";

/**
 * The tensor functions generated trainers call for layers and loss terms that take more than one tfjs op.
 * Each one is the textbook formula, written once here so every trainer shares the same tested code.
 */

/** How a network runs: `train` uses batch statistics and updates moving averages; `eval` uses batch
 * statistics without updating them (actions, logged values); `infer` uses the moving averages (samples). */
export type Mode = "train" | "eval" | "infer";

/** The identity whose gradient is zero: values that must not be differentiated (moving statistics, power iteration). */
export const stopGradient = tf.customGrad(((x: tf.Tensor) => ({ value: tf.clone(x), gradFunc: (dy: tf.Tensor) => tf.zerosLike(dy) })) as never) as unknown as (x: tf.Tensor) => tf.Tensor;

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
  if (mode === "infer") return tf.batchNorm(x, v.movingMean, v.movingVariance, v.beta ?? undefined, v.gamma ?? undefined, v.epsilon);
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
  return tf.batchNorm(x, mean, variance, v.beta ?? undefined, v.gamma ?? undefined, v.epsilon);
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

export function upsample(x: tf.Tensor4D, factor: number): tf.Tensor4D {
  const [, h, w] = x.shape;
  return tf.image.resizeNearestNeighbor(x, [h * factor, w * factor]);
}

/**
 * Spectral normalization (Miyato et al.): divide the kernel by its largest singular value, estimated with
 * one power-iteration step per training call; `u` persists between calls.
 */
export function spectralNorm(kernel: tf.Tensor, u: tf.Variable, mode: Mode): tf.Tensor {
  const w = tf.reshape(kernel, [-1, kernel.shape[kernel.rank - 1]!]); // [n, out]
  const l2 = (t: tf.Tensor) => tf.div(t, tf.add(tf.norm(t), 1e-12));
  const uu = stopGradient(u);
  const vv = stopGradient(l2(tf.matMul(uu, w, false, true))); // [1, n]
  const un = stopGradient(l2(tf.matMul(vv, w))); // [1, out]
  if (mode === "train") tf.tidy(() => u.assign(un));
  const sigma = tf.sum(tf.mul(tf.matMul(vv, w), un));
  return tf.div(kernel, sigma);
}

// ---- loss terms --------------------------------------------------------------------------------

/** Mean sigmoid cross-entropy on logits, in the stable form max(l,0) - l*t + log(1 + exp(-|l|)). */
export function bceLogits(logits: tf.Tensor, targets: tf.Tensor | number): tf.Scalar {
  return tf.mean(tf.add(tf.sub(tf.relu(logits), tf.mul(logits, targets)), tf.log1p(tf.exp(tf.neg(tf.abs(logits))))));
}

/** Mean binary cross-entropy on probabilities, clamped away from 0 and 1 so log stays finite. */
export function bce(p: tf.Tensor, targets: tf.Tensor | number): tf.Scalar {
  const eps = 1e-7;
  const q = tf.clipByValue(p, eps, 1 - eps);
  const t = typeof targets === "number" ? tf.scalar(targets) : targets;
  return tf.neg(tf.mean(tf.add(tf.mul(t, tf.log(q)), tf.mul(tf.sub(1, t), tf.log(tf.sub(1, q)))))) as tf.Scalar;
}

export function mse(a: tf.Tensor, b: tf.Tensor | number): tf.Scalar {
  return tf.mean(tf.square(tf.sub(a, b)));
}

export function l1(a: tf.Tensor, b: tf.Tensor | number): tf.Scalar {
  return tf.mean(tf.abs(tf.sub(a, b)));
}

/** Mean over the batch of -sum(labels * log_softmax(logits)). */
export function softmaxCe(logits: tf.Tensor, labels: tf.Tensor): tf.Scalar {
  return tf.mean(tf.neg(tf.sum(tf.mul(labels, tf.logSoftmax(logits)), -1)));
}

/** Standard deviation of all elements (population form, like tf.math.reduce_std). */
export function std(x: tf.Tensor): tf.Scalar {
  return tf.sqrt(tf.moments(x).variance) as tf.Scalar;
}

/** L2 norm over each sample's elements: [batch]. */
export function sampleNorm(x: tf.Tensor): tf.Tensor1D {
  return tf.sqrt(tf.sum(tf.square(tf.reshape(x, [x.shape[0]!, -1])), 1)) as tf.Tensor1D;
}

export function sampleMean(x: tf.Tensor): tf.Tensor1D {
  return tf.mean(tf.reshape(x, [x.shape[0]!, -1]), 1);
}

/** EBGAN's pull-away term: (sum of the cosine-similarity matrix - n) / (n (n - 1)). */
export function pullaway(x: tf.Tensor): tf.Scalar {
  const n = x.shape[0]!;
  const flat = tf.reshape(x, [n, -1]);
  const unit = tf.div(flat, tf.sqrt(tf.sum(tf.square(flat), 1, true)));
  const sim = tf.matMul(unit, unit, false, true);
  return tf.div(tf.sub(tf.sum(sim), n), n * (n - 1));
}

/** The last axis of `x` from `begin`, `size` wide. */
export function sliceLast(x: tf.Tensor, begin: number, size: number): tf.Tensor {
  const b = x.shape.map((_, i) => (i === x.rank - 1 ? begin : 0));
  const s = x.shape.map((d, i) => (i === x.rank - 1 ? size : d!));
  return tf.slice(x, b, s);
}

/**
 * Gradient of sum(y) with respect to the tensor `x` that `f` turned into `y`, kept on the tape so a
 * loss can penalise it (WGAN-GP, DRAGAN, R1: a second derivative when the optimizer differentiates it).
 */
export function gradOf(f: (x: tf.Tensor) => tf.Tensor, x: tf.Tensor): tf.Tensor {
  return tf.grad((xx: tf.Tensor) => tf.sum(f(xx)))(x);
}

/** Keras-style gradient clipping: each gradient's norm to at most `clipnorm`, each element to [-clipvalue, clipvalue]. */
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
