/**
 * Trains the MNIST classifier behind `ganc eval` (Fréchet distance on its features, classifier score,
 * class coverage) on the embedded digits and writes src/runtime/eval/mnist-classifier.json.
 *
 *   node bin/run-ts.mjs scripts/train-classifier.ts [--epochs 12] [--seed 1]
 *
 * Split: the 10,000 embedded digits are shuffled with the seed; 1,000 are held out for testing and
 * never trained on. The accuracy written to the file is measured on them with the stored float16 weights.
 * The split and the augmentation are seeded; tfjs's weight initialisation and batch shuffling are not, so
 * the accuracy varies by a few tenths of a percent from one training to the next.
 */
import * as path from "node:path";
import * as tf from "@tensorflow/tfjs";
import { selectBackend } from "../src/runtime/backend.ts";
import { loadEmbeddedMnist } from "../src/runtime/data.ts";
import { Rng } from "../src/runtime/rng.ts";
import { writeFileAtomic } from "../src/runtime/fsutil.ts";
import { ARCHITECTURE, buildClassifier, CLASSIFIER_FILE, exportWeights, setWeights, type ClassifierFile } from "../src/runtime/eval/classifier.ts";

const arg = (name: string, dflt: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
};
const epochs = arg("epochs", 12);
const seed = arg("seed", 1);
const HELD_OUT = 1000;

await selectBackend("auto");
const ds = loadEmbeddedMnist();
const order = Array.from({ length: ds.count }, (_, i) => i);
const rng = new Rng(seed);
for (let i = order.length - 1; i > 0; i--) {
  const k = Math.floor(rng.uniform() * (i + 1));
  [order[i], order[k]] = [order[k]!, order[i]!];
}
const testIdx = order.slice(0, HELD_OUT);
const trainIdx = order.slice(HELD_OUT);

function gather(idx: number[]): { x: tf.Tensor4D; y: tf.Tensor2D; labels: Int32Array; raw: Float32Array } {
  const x = new Float32Array(idx.length * 784);
  const y = new Float32Array(idx.length * 10);
  const labels = new Int32Array(idx.length);
  idx.forEach((j, i) => {
    x.set(ds.x.subarray(j * 784, (j + 1) * 784), i * 784);
    labels[i] = ds.labels![j]!;
    y[i * 10 + labels[i]!] = 1;
  });
  return { x: tf.tensor4d(x, [idx.length, 28, 28, 1]), y: tf.tensor2d(y, [idx.length, 10]), labels, raw: x };
}

function shiftImages(src: Float32Array, n: number, r: Rng): Float32Array {
  const out = new Float32Array(src.length);
  for (let i = 0; i < n; i++) {
    const dx = Math.floor(r.uniform() * 5) - 2, dy = Math.floor(r.uniform() * 5) - 2;
    for (let y = 0; y < 28; y++) {
      const sy = y - dy;
      if (sy < 0 || sy >= 28) continue;
      for (let x = 0; x < 28; x++) {
        const sx = x - dx;
        if (sx >= 0 && sx < 28) out[i * 784 + y * 28 + x] = src[i * 784 + sy * 28 + sx]!;
      }
    }
  }
  return out;
}

const train = gather(trainIdx);
const test = gather(testIdx);

function accuracy(m: tf.LayersModel): number {
  return tf.tidy(() => {
    const pred = (m.predict(test.x) as tf.Tensor).argMax(-1).dataSync();
    let ok = 0;
    pred.forEach((p, i) => (ok += p === test.labels[i] ? 1 : 0));
    return ok / test.labels.length;
  });
}

const model = buildClassifier();
model.compile({ optimizer: tf.train.adam(1e-3), loss: (y: tf.Tensor, logits: tf.Tensor) => tf.losses.softmaxCrossEntropy(y, logits), metrics: ["accuracy"] });
const started = Date.now();
for (let e = 0; e < epochs; e++) {
  // Each image shifted by up to 2 pixels each way (after a first epoch on the originals): more variety
  // for a small training set.
  const shifted = e === 0 ? train.x.clone() : tf.tensor4d(shiftImages(train.raw, trainIdx.length, rng), [trainIdx.length, 28, 28, 1]);
  if (e >= 6) (model.optimizer as unknown as { learningRate: number }).learningRate = 3e-4;
  const h = await model.fit(shifted, train.y, { epochs: 1, batchSize: 64, shuffle: true, verbose: 0 });
  shifted.dispose();
  console.error(`epoch ${e + 1}/${epochs}: loss ${(h.history.loss![0] as number).toFixed(4)}, held-out accuracy ${(accuracy(model) * 100).toFixed(2)}% (${((Date.now() - started) / 1000).toFixed(0)} s)`);
}

// Round the weights through float16 as stored, and measure the accuracy of exactly those.
const weights = exportWeights(model);
const stored = buildClassifier();
setWeights(stored, weights);
const acc = accuracy(stored);
const file: ClassifierFile = {
  format: "ganc-mnist-classifier/1",
  accuracy: Math.round(acc * 10000) / 10000,
  split: `embedded MNIST (10,000 digits of the mnist package): ${HELD_OUT} held out for testing, ${trainIdx.length} for training, shuffled with seed ${seed}`,
  command: `node bin/run-ts.mjs scripts/train-classifier.ts --epochs ${epochs} --seed ${seed}`,
  architecture: ARCHITECTURE,
  weights,
};
const out = path.resolve(new URL(CLASSIFIER_FILE).pathname);
writeFileAtomic(out, JSON.stringify(file) + "\n");
console.error(`held-out accuracy ${(acc * 100).toFixed(2)}% (float16 weights); wrote ${out}`);
