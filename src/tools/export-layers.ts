import type * as tfType from "@tensorflow/tfjs";

/**
 * The custom Keras layers of `ganc export`, for what tfjs's layers lack: a slice of a vector (`chunk`) and
 * conditional batch norm (`cbn`). The export writes their source as ganc-layers.mjs next to model.json
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
  tf.serialization.registerClass(GancTruncate);
  return { GancSlice, GancCondBatchNorm, GancTruncate };
`;

/** The file the export writes when the model has custom layers. */
export const CUSTOM_LAYERS_FILE = "ganc-layers.mjs";

/** Its text: an ES module that takes the tfjs module, so it needs no import of its own. */
export const CUSTOM_LAYERS_SOURCE = `// Custom layers of a generator exported by ganc (slices of a vector, conditional batch norm, truncation).
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
  return /"class_name":"Ganc(Slice|CondBatchNorm|Truncate)"/.test(JSON.stringify(topology));
}
