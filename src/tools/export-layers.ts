import type * as tfType from "@tensorflow/tfjs";

/**
 * The custom Keras layers of `ganc export`, for what tfjs's layers lack: a slice of a vector (`chunk`),
 * conditional batch norm (`cbn`), modulated convolution (`modconv`), pixel normalization (`pixelnorm`), a
 * learned constant (`const`), noise inputs (`noise`) and the truncation trick (`truncate`). The export writes their source as ganc-layers.mjs next to model.json
 * when the model uses them; plain tfjs loads the model after `registerGancLayers(tf)`:
 *
 *   import * as tf from "@tensorflow/tfjs";
 *   import { registerGancLayers } from "./ganc-layers.mjs";
 *   registerGancLayers(tf);
 *   const model = await tf.loadLayersModel("file://export/model.json");
 *
 * The same source builds the layers during the export, so what is saved is what the file defines.
 * Inference arithmetic is the trainer's (rt.condBatchNorm in sampling mode: the moving statistics).
 */
const BODY = `
  class GancSlice extends tf.layers.Layer {
    constructor(config) {
      super(config);
      this.begin = config.begin;
      this.size = config.size;
    }
    computeOutputShape(shape) {
      return [shape[0], this.size];
    }
    call(inputs) {
      const x = Array.isArray(inputs) ? inputs[0] : inputs;
      return tf.slice(x, [0, this.begin], [-1, this.size]);
    }
    getConfig() {
      return { ...super.getConfig(), begin: this.begin, size: this.size };
    }
    static get className() {
      return "GancSlice";
    }
  }

  // Batch norm on the moving statistics, times the per-sample gain 1 + c W_gain, plus the bias c W_bias.
  class GancCondBatchNorm extends tf.layers.Layer {
    constructor(config) {
      super(config);
      this.epsilon = config.epsilon;
    }
    build(shapes) {
      const channels = shapes[0][shapes[0].length - 1];
      const k = shapes[1][shapes[1].length - 1];
      this.gain = this.addWeight("gain", [k, channels], "float32", tf.initializers.zeros());
      this.bias = this.addWeight("bias", [k, channels], "float32", tf.initializers.zeros());
      this.movingMean = this.addWeight("moving_mean", [channels], "float32", tf.initializers.zeros(), undefined, false);
      this.movingVariance = this.addWeight("moving_variance", [channels], "float32", tf.initializers.ones(), undefined, false);
      this.built = true;
    }
    computeOutputShape(shapes) {
      return shapes[0];
    }
    call(inputs) {
      return tf.tidy(() => {
        const [x, c] = inputs;
        const mean = this.movingMean.read();
        const normalized = tf.batchNorm(x, mean, this.movingVariance.read(), tf.zerosLike(mean), tf.onesLike(mean), this.epsilon);
        const perSample = [x.shape[0], ...x.shape.slice(1, -1).map(() => 1), x.shape[x.rank - 1]];
        const gain = tf.reshape(tf.add(tf.matMul(c, this.gain.read()), 1), perSample);
        const bias = tf.reshape(tf.matMul(c, this.bias.read()), perSample);
        return tf.add(tf.mul(normalized, gain), bias);
      });
    }
    getConfig() {
      return { ...super.getConfig(), epsilon: this.epsilon };
    }
    static get className() {
      return "GancCondBatchNorm";
    }
  }

  // StyleGAN2's modulated convolution (src/layers/modconv.ts, the trainer's rt.modConv): the style
  // s = w A / sqrt(wdim) + b scales the input channels, the weight is used times 1 / sqrt(k * k * in), and
  // with demodulation each sample's output channels are divided by sqrt((s^2) (sum over kh, kw of W^2) + 1e-8).
  class GancModConv extends tf.layers.Layer {
    constructor(config) {
      super(config);
      this.filters = config.filters;
      this.kernelSize = config.kernelSize;
      this.demod = config.demod;
      this.useBias = config.useBias;
    }
    build(shapes) {
      const channels = shapes[0][shapes[0].length - 1];
      const wdim = shapes[1][shapes[1].length - 1];
      const k = this.kernelSize;
      this.kernel = this.addWeight("kernel", [k, k, channels, this.filters], "float32", tf.initializers.zeros());
      this.affine = this.addWeight("affine", [wdim, channels], "float32", tf.initializers.zeros());
      this.affineBias = this.addWeight("affine_bias", [channels], "float32", tf.initializers.ones());
      if (this.useBias) this.bias = this.addWeight("bias", [this.filters], "float32", tf.initializers.zeros());
      this.built = true;
    }
    computeOutputShape(shapes) {
      return [...shapes[0].slice(0, -1), this.filters];
    }
    call(inputs) {
      return tf.tidy(() => {
        const [x, style] = inputs;
        const n = x.shape[0];
        const cin = x.shape[3];
        const affine = this.affine.read();
        const s = tf.add(tf.matMul(style, tf.mul(affine, 1 / Math.sqrt(affine.shape[0]))), this.affineBias.read());
        const k = this.kernelSize;
        const w = tf.mul(this.kernel.read(), 1 / Math.sqrt(k * k * cin));
        let y = tf.conv2d(tf.mul(x, tf.reshape(s, [n, 1, 1, cin])), w, 1, "same");
        if (this.demod) {
          const d = tf.rsqrt(tf.add(tf.matMul(tf.square(s), tf.sum(tf.square(w), [0, 1])), 1e-8));
          y = tf.mul(y, tf.reshape(d, [n, 1, 1, this.filters]));
        }
        return this.useBias ? tf.add(y, this.bias.read()) : y;
      });
    }
    getConfig() {
      return { ...super.getConfig(), filters: this.filters, kernelSize: this.kernelSize, demod: this.demod, useBias: this.useBias };
    }
    static get className() {
      return "GancModConv";
    }
  }

  // x / sqrt(mean(x^2 over the last axis) + epsilon), as the trainer's rt.pixelNorm.
  class GancPixelNorm extends tf.layers.Layer {
    constructor(config) {
      super(config);
      this.epsilon = config.epsilon;
    }
    computeOutputShape(shape) {
      return shape;
    }
    call(inputs) {
      return tf.tidy(() => {
        const x = Array.isArray(inputs) ? inputs[0] : inputs;
        return tf.mul(x, tf.rsqrt(tf.add(tf.mean(tf.square(x), -1, true), this.epsilon)));
      });
    }
    getConfig() {
      return { ...super.getConfig(), epsilon: this.epsilon };
    }
    static get className() {
      return "GancPixelNorm";
    }
  }

  // A learned tensor repeated over the batch of its input (whose values it does not read), as the trainer's const.
  class GancConst extends tf.layers.Layer {
    constructor(config) {
      super(config);
      this.shape = config.shape;
    }
    build() {
      this.value = this.addWeight("value", this.shape, "float32", tf.initializers.zeros());
      this.built = true;
    }
    computeOutputShape(shape) {
      return [shape[0], ...this.shape];
    }
    call(inputs) {
      return tf.tidy(() => {
        const x = Array.isArray(inputs) ? inputs[0] : inputs;
        return tf.tile(tf.expandDims(this.value.read(), 0), [x.shape[0], ...this.shape.map(() => 1)]);
      });
    }
    getConfig() {
      return { ...super.getConfig(), shape: this.shape };
    }
    static get className() {
      return "GancConst";
    }
  }

  // x + n * s with n standard normal [batch, height, width, 1] from a fixed seed: the noise the trainer's
  // sampling uses (so the model reproduces ganc sample), s the learned strength.
  class GancNoise extends tf.layers.Layer {
    constructor(config) {
      super(config);
      this.seed = config.seed;
      this.perChannel = config.perChannel;
    }
    build(shape) {
      this.strength = this.addWeight("strength", [this.perChannel ? shape[shape.length - 1] : 1], "float32", tf.initializers.zeros());
      this.built = true;
    }
    computeOutputShape(shape) {
      return shape;
    }
    call(inputs) {
      return tf.tidy(() => {
        const x = Array.isArray(inputs) ? inputs[0] : inputs;
        const n = tf.randomNormal([x.shape[0], x.shape[1], x.shape[2], 1], 0, 1, "float32", this.seed);
        return tf.add(x, tf.mul(n, this.strength.read()));
      });
    }
    getConfig() {
      return { ...super.getConfig(), seed: this.seed, perChannel: this.perChannel };
    }
    static get className() {
      return "GancNoise";
    }
  }

  // The truncation trick: w_avg + psi (w - w_avg), with the run's running average of w (w itself at psi = 1).
  class GancTruncate extends tf.layers.Layer {
    constructor(config) {
      super(config);
      this.psi = config.psi;
    }
    build(shape) {
      this.wAvg = this.addWeight("w_avg", [shape[shape.length - 1]], "float32", tf.initializers.zeros(), undefined, false);
      this.built = true;
    }
    computeOutputShape(shape) {
      return shape;
    }
    call(inputs) {
      const w = Array.isArray(inputs) ? inputs[0] : inputs;
      if (this.psi === 1) return tf.clone(w);
      return tf.tidy(() => {
        const avg = this.wAvg.read();
        return tf.add(avg, tf.mul(tf.sub(w, avg), this.psi));
      });
    }
    getConfig() {
      return { ...super.getConfig(), psi: this.psi };
    }
    static get className() {
      return "GancTruncate";
    }
  }

  tf.serialization.registerClass(GancSlice);
  tf.serialization.registerClass(GancCondBatchNorm);
  tf.serialization.registerClass(GancModConv);
  tf.serialization.registerClass(GancPixelNorm);
  tf.serialization.registerClass(GancConst);
  tf.serialization.registerClass(GancNoise);
  tf.serialization.registerClass(GancTruncate);
  return { GancSlice, GancCondBatchNorm, GancModConv, GancPixelNorm, GancConst, GancNoise, GancTruncate };
`;

/** The file the export writes when the model has custom layers. */
export const CUSTOM_LAYERS_FILE = "ganc-layers.mjs";

/** Its text: an ES module that takes the tfjs module, so it needs no import of its own. */
export const CUSTOM_LAYERS_SOURCE = `// Custom layers of a generator exported by ganc (slices of a vector, conditional batch norm, modulated convolution, pixel normalization, learned constants, noise inputs, truncation).
// Call registerGancLayers(tf) with your @tensorflow/tfjs module before tf.loadLayersModel.
export function registerGancLayers(tf) {${BODY}}
`;

type Classes = Record<string, new (config: Record<string, unknown>) => tfType.layers.Layer>;
const registered = new WeakMap<object, Classes>();

/** Registers the custom layers with `tf` (once) and gives their classes. */
export function registerGancLayers(tf: typeof tfType): Classes {
  let c = registered.get(tf);
  if (!c) {
    c = new Function("tf", BODY)(tf) as Classes;
    registered.set(tf, c);
  }
  return c;
}

/** A new custom layer `className` with `config`. */
export function customLayer(tf: typeof tfType, className: string, config: Record<string, unknown>): tfType.layers.Layer {
  const cls = registerGancLayers(tf)[className];
  if (!cls) throw new Error(`no custom layer ${className}`);
  return new cls(config);
}

/** Whether a model (its topology) uses one of the custom layers. */
export function usesCustomLayers(topology: unknown): boolean {
  return /"class_name":"Ganc(Slice|CondBatchNorm|ModConv|PixelNorm|Const|Noise|Truncate)"/.test(JSON.stringify(topology));
}
