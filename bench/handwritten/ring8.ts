/**
 * The ring-of-8 MLP GAN (test/fixtures/ring8.gan) written by hand in TensorFlow.js, without ganc.
 *
 * G: z ~ N(0, 1)^8 -> FC128-ReLU -> FC128-ReLU -> FC2; D: FC128-ReLU -> FC128-ReLU -> FC1 (logit).
 * Weights N(0, 0.02), biases 0 (ganc's default init for dense layers); sigmoid cross-entropy losses;
 * Adam(1e-3, beta1 0.5) for both. Data: 10,000 points from 8 Gaussians (std 0.02) on a circle of radius
 * 2, drawn once, shuffled per epoch. One iteration = one D step then one G step, each with its own
 * forward pass.
 *
 * The backend is the caller's: select it (tf.setBackend) before calling setup().
 */
import * as tf from "@tensorflow/tfjs";
import type { Trainer } from "./seed-gan.ts";

export type { Trainer };

const Z_DIM = 8;
const HIDDEN = 128;
const STD = 0.02;
const POINTS = 10_000;

export async function setup(batch: number, opts: { seed?: number } = {}): Promise<Trainer> {
  let seed = opts.seed ?? 0;
  const nextSeed = () => ++seed;
  const all: tf.Variable[] = [];
  const dense = (name: string, nIn: number, nOut: number) => {
    const init = tf.randomNormal([nIn, nOut], 0, STD, "float32", nextSeed());
    const w = tf.variable(init, true, `${name}/w`);
    init.dispose();
    const b = tf.variable(tf.zeros([nOut]), true, `${name}/b`);
    all.push(w, b);
    return { w, b };
  };
  const g1 = dense("hw_ring_g/fc1", Z_DIM, HIDDEN);
  const g2 = dense("hw_ring_g/fc2", HIDDEN, HIDDEN);
  const g3 = dense("hw_ring_g/fc3", HIDDEN, 2);
  const d1 = dense("hw_ring_d/fc1", 2, HIDDEN);
  const d2 = dense("hw_ring_d/fc2", HIDDEN, HIDDEN);
  const d3 = dense("hw_ring_d/fc3", HIDDEN, 1);
  const gVars = [g1, g2, g3].flatMap((l) => [l.w, l.b]);
  const dVars = [d1, d2, d3].flatMap((l) => [l.w, l.b]);

  const fc = (x: tf.Tensor, l: { w: tf.Variable; b: tf.Variable }) => tf.add(tf.matMul(x as tf.Tensor2D, l.w as tf.Tensor2D), l.b);
  const G = (z: tf.Tensor) => fc(tf.relu(fc(tf.relu(fc(z, g1)), g2)), g3);
  const D = (x: tf.Tensor) => fc(tf.relu(fc(tf.relu(fc(x, d1)), d2)), d3);
  const bce = (logits: tf.Tensor, target: number) =>
    tf.losses.sigmoidCrossEntropy(target === 1 ? tf.onesLike(logits) : tf.zerosLike(logits), logits) as tf.Scalar;

  const optD = tf.train.adam(1e-3, 0.5, 0.999, 1e-8);
  const optG = tf.train.adam(1e-3, 0.5, 0.999, 1e-8);

  // Data, drawn once with a small seeded generator.
  let rand = ((opts.seed ?? 0) * 2654435761 + 1) >>> 0;
  const uniform = () => {
    rand = (Math.imul(rand, 1664525) + 1013904223) >>> 0;
    return (rand + 0.5) / 2 ** 32;
  };
  const points = new Float32Array(POINTS * 2);
  for (let i = 0; i < POINTS; i++) {
    const a = (2 * Math.PI * Math.floor(uniform() * 8)) / 8;
    const r = Math.sqrt(-2 * Math.log(uniform()));
    const t = 2 * Math.PI * uniform();
    points[2 * i] = 2 * Math.cos(a) + STD * r * Math.cos(t);
    points[2 * i + 1] = 2 * Math.sin(a) + STD * r * Math.sin(t);
  }
  const order = Uint32Array.from({ length: POINTS }, (_, i) => i);
  let cursor = POINTS;
  function nextPoints(): tf.Tensor2D {
    if (cursor + batch > POINTS) {
      for (let i = POINTS - 1; i > 0; i--) {
        const j = Math.floor(uniform() * (i + 1));
        [order[i], order[j]] = [order[j]!, order[i]!];
      }
      cursor = 0;
    }
    const buf = new Float32Array(batch * 2);
    for (let i = 0; i < batch; i++) {
      const k = order[cursor + i]!;
      buf[2 * i] = points[2 * k]!;
      buf[2 * i + 1] = points[2 * k + 1]!;
    }
    cursor += batch;
    return tf.tensor2d(buf, [batch, 2]);
  }

  let lastD: tf.Scalar | null = null;
  let lastG: tf.Scalar | null = null;

  function iterate(): void {
    const x = nextPoints();
    const z = tf.randomNormal([batch, Z_DIM], 0, 1, "float32", nextSeed());
    lastD?.dispose();
    lastG?.dispose();
    lastD = optD.minimize(() => tf.add(bce(D(x), 1), bce(D(G(z)), 0)), true, dVars);
    lastG = optG.minimize(() => bce(D(G(z)), 1), true, gVars);
    x.dispose();
    z.dispose();
  }

  return {
    iterate,
    async losses() {
      return { d: (await lastD!.data())[0]!, g: (await lastG!.data())[0]! };
    },
    dispose() {
      lastD?.dispose();
      lastG?.dispose();
      optD.dispose();
      optG.dispose();
      for (const v of all) v.dispose();
    },
  };
}
