import * as tf from "@tensorflow/tfjs";
import { oneHot } from "./data.ts";
import { Rng } from "./rng.ts";
import type { Batch, SpecInfo } from "./run-spec.ts";

/*
 * A run's noise draws and averaged weights: no Node modules here, so that the playground's page runs the
 * same code as the command line (src/ui/playground/run.ts).
 */

/** One draw of a spec's noise for `count` rows; `cycle`: categorical codes go 0, 1, 2, ... instead of at random. */
export function drawNoise(n: SpecInfo["noise"][number], count: number, rng: Rng, cycle: boolean): tf.Tensor {
  if (n.dist === "categorical") {
    const idx = new Int32Array(count);
    for (let i = 0; i < count; i++) idx[i] = cycle ? i % n.classes : Math.floor(rng.uniform() * n.classes);
    return tf.tensor(oneHot(idx, n.classes), [count, n.classes]);
  }
  const size = n.shape.reduce((a, b) => a * b, 1);
  const buf = new Float32Array(count * size);
  if (n.dist === "uniform") rng.fillUniform(buf, n.a, n.b);
  else rng.fillNormal(buf, n.a, n.b);
  return tf.tensor(buf, [count, ...n.shape]);
}

/**
 * An exponential moving average of some variables (the generator's weights), updated after every
 * iteration; sampling swaps it in, training never sees it.
 */
export class WeightAverage {
  readonly shadow: tf.Variable[];

  constructor(
    readonly vars: tf.Variable[],
    private readonly decay: number,
  ) {
    this.shadow = vars.map((v) => tf.variable(v.clone(), false, `${v.name}/ema`));
  }

  update(): void {
    tf.tidy(() => this.shadow.forEach((s, i) => s.assign(tf.add(tf.mul(s, this.decay), tf.mul(this.vars[i]!, 1 - this.decay)))));
  }

  /** Runs `fn` with the averaged values in the variables, then puts the trained ones back. */
  async swappedIn<T>(fn: () => Promise<T>): Promise<T> {
    const saved = this.vars.map((v) => v.clone());
    this.vars.forEach((v, i) => v.assign(this.shadow[i]!));
    try {
      return await fn();
    } finally {
      this.vars.forEach((v, i) => v.assign(saved[i]!));
      saved.forEach((t) => t.dispose());
    }
  }
}

/** Fixed noise (and cycling labels and codes) for `n` rows, the same at every sample step of a run with `seed`. */
export function fixedNoiseBatch(spec: SpecInfo, seed: number, n: number, salt = 0x5a4d1e): Batch {
  const rng = new Rng((seed ^ salt) >>> 0);
  const d = spec.data;
  const labels = new Int32Array(n).map((_, i) => i % d.numClasses);
  const b: Batch = { [`${d.name}_label`]: tf.tensor(oneHot(labels, d.numClasses), [n, d.numClasses]) };
  for (const nz of spec.noise) b[nz.name] = drawNoise(nz, n, rng, true);
  return b;
}
