import * as fs from "node:fs";
import * as tf from "@tensorflow/tfjs";

/**
 * The small MNIST classifier behind the image quality metrics (Fréchet distance on its features, the
 * classifier score, class coverage). scripts/train-classifier.ts trains it on the embedded digits and
 * writes mnist-classifier.json next to this file; the weights are stored as base64 float16.
 */

// From the package's root: this module is src/runtime/eval/classifier.ts, or part of the bundle of the runtime,
// whose every file lies in a folder of dist/lazy/ (scripts/build.mjs), three folders below the root as well.
export const CLASSIFIER_FILE = new URL("../../../src/runtime/eval/mnist-classifier.json", import.meta.url);
export const FEATURES_LAYER = "features";
export const LOGITS_LAYER = "logits";

export interface ClassifierFile {
  format: "ganc-mnist-classifier/1";
  /** Held-out accuracy of the stored (float16) weights. */
  accuracy: number;
  split: string;
  command: string;
  architecture: string;
  weights: { name: string; shape: number[]; float16: string }[];
}

/** 28x28x1 in [0, 1] -> 10 logits; the 64 units of layer "features" are the feature vector. */
export function buildClassifier(): tf.Sequential {
  const m = tf.sequential();
  m.add(tf.layers.conv2d({ inputShape: [28, 28, 1], filters: 16, kernelSize: 3, padding: "same", activation: "relu", name: "conv1" }));
  m.add(tf.layers.maxPooling2d({ poolSize: 2, name: "pool1" }));
  m.add(tf.layers.conv2d({ filters: 32, kernelSize: 3, padding: "same", activation: "relu", name: "conv2" }));
  m.add(tf.layers.maxPooling2d({ poolSize: 2, name: "pool2" }));
  m.add(tf.layers.conv2d({ filters: 64, kernelSize: 3, padding: "same", activation: "relu", name: "conv3" }));
  m.add(tf.layers.maxPooling2d({ poolSize: 2, name: "pool3" }));
  m.add(tf.layers.flatten({ name: "flatten" }));
  m.add(tf.layers.dropout({ rate: 0.25, name: "dropout" }));
  m.add(tf.layers.dense({ units: 64, activation: "relu", name: FEATURES_LAYER }));
  m.add(tf.layers.dense({ units: 10, name: LOGITS_LAYER }));
  return m;
}

export const ARCHITECTURE =
  "conv3x3(16)+relu, maxpool2, conv3x3(32)+relu, maxpool2, conv3x3(64)+relu, maxpool2, flatten, dropout(0.25), dense(64)+relu [features], dense(10) [logits]";

// ---- float16 ---------------------------------------------------------------------------------------

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** IEEE half precision, round to nearest even; overflow goes to infinity. */
export function toHalf(v: number): number {
  f32[0] = v;
  const x = u32[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  let e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let h = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    if (rem > half || (rem === half && h & 1)) h++;
    return sign | h;
  }
  let h = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && h & 1)) h++;
  return sign | h; // a carry out of the mantissa correctly bumps the exponent
}

export function fromHalf(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const e = (h >>> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return sign * m * 2 ** -24;
  if (e === 0x1f) return m ? NaN : sign * Infinity;
  return sign * (1 + m / 1024) * 2 ** (e - 15);
}

export function encodeHalf(values: Float32Array): string {
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = toHalf(values[i]!);
  return Buffer.from(out.buffer).toString("base64");
}

export function decodeHalf(b64: string): Float32Array {
  const bytes = Buffer.from(b64, "base64");
  const out = new Float32Array(bytes.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = fromHalf(bytes.readUInt16LE(2 * i));
  return out;
}

/** The weights as stored: the model's own weights rounded through float16. */
export function exportWeights(m: tf.LayersModel): ClassifierFile["weights"] {
  return m.weights.map((w) => {
    const t = w.read();
    return { name: w.originalName, shape: [...t.shape], float16: encodeHalf(t.dataSync() as Float32Array) };
  });
}

export function setWeights(m: tf.LayersModel, weights: ClassifierFile["weights"]): void {
  const byName = new Map(weights.map((w) => [w.name, w]));
  const values = m.weights.map((w) => {
    const s = byName.get(w.originalName);
    if (!s) throw new Error(`classifier weights: ${w.originalName} missing`);
    if (s.shape.join(",") !== w.shape.join(",")) throw new Error(`classifier weights: ${w.originalName} has shape [${s.shape}], expected [${w.shape}]`);
    return tf.tensor(decodeHalf(s.float16), s.shape);
  });
  m.setWeights(values);
  for (const v of values) v.dispose();
}

export interface Classifier {
  info: Omit<ClassifierFile, "weights">;
  /** Penultimate-layer features [n, 64] and class probabilities [n, 10] of images [n, 28, 28, 1] in [0, 1]. */
  run(images: Float32Array, n: number, batch?: number): { features: Float64Array[]; probs: Float64Array[] };
}

let cached: Classifier | undefined;

/** Loads the stored classifier (once per process). */
export function loadClassifier(file: string | URL = CLASSIFIER_FILE): Classifier {
  if (cached && file === CLASSIFIER_FILE) return cached;
  let parsed: ClassifierFile;
  try {
    parsed = JSON.parse(fs.readFileSync(file, "utf8")) as ClassifierFile;
  } catch (err) {
    throw new Error(`cannot read the MNIST classifier (${String(file)}): ${(err as Error).message}; run scripts/train-classifier.ts`);
  }
  const model = buildClassifier();
  setWeights(model, parsed.weights);
  const both = tf.model({ inputs: model.inputs, outputs: [model.getLayer(FEATURES_LAYER).output as tf.SymbolicTensor, model.getLayer(LOGITS_LAYER).output as tf.SymbolicTensor] });
  const { weights: _w, ...info } = parsed;
  const c: Classifier = {
    info,
    run(images, n, batch = 500) {
      if (images.length !== n * 784) throw new RangeError(`expected ${n} images of 28x28x1 (${n * 784} values), got ${images.length}`);
      const features: Float64Array[] = [];
      const probs: Float64Array[] = [];
      for (let s = 0; s < n; s += batch) {
        const k = Math.min(batch, n - s);
        const [f, p] = tf.tidy(() => {
          const x = tf.tensor4d(images.subarray(s * 784, (s + k) * 784), [k, 28, 28, 1]);
          const [feat, logits] = both.predict(x) as tf.Tensor[];
          return [feat!.dataSync(), tf.softmax(logits!).dataSync()];
        });
        const fd = f!.length / k;
        for (let i = 0; i < k; i++) {
          features.push(Float64Array.from(f!.subarray(i * fd, (i + 1) * fd)));
          probs.push(Float64Array.from(p!.subarray(i * 10, (i + 1) * 10)));
        }
      }
      return { features, probs };
    },
  };
  if (file === CLASSIFIER_FILE) cached = c;
  return c;
}
