import type * as TF from "@tensorflow/tfjs";
import { type FnDef } from "./function.ts";
import { styleCount } from "./styles.ts";

/**
 * Style mixing regularization (Karras et al. 2019, 2020): a style stack that switches from w1 to w2 at a
 * crossover layer. As StyleGAN2's official code does (`style_mixing`, per batch), a cutoff is drawn
 * uniformly from [1, n), then a uniform u; when u < p the layers from the cutoff on take w2, else the whole
 * stack is w1. The draws come from a generator keyed by the run's seed, the iteration, the batch within it
 * and the call site (`Run.augmentKey`, as diffaug's), so --seed repeats them and a resume needs no state.
 */
export const mix: FnDef<"mix"> = {
  name: "mix",
  params: [
    { name: "w1", doc: "a batch of style vectors [wdim]: the first layers' styles" },
    { name: "w2", doc: "a batch of style vectors of the same width: the styles from the crossover on" },
    { name: "n", doc: "a constant: how many layers the stack has (a whole number >= 2)" },
    { name: "p", doc: "a constant in [0, 1]: the probability of mixing a batch (StyleGAN2: 0.9)" },
  ],
  doc: "mix(w1, w2, n, p): a style stack [n, wdim]; with probability p (per batch) the layers from a crossover drawn in [1, n) take w2",
  type: ([w1, w2], [, , n, p]) => {
    for (const w of [w1!, w2!]) {
      if (!w.batched || w.shape.length !== 1) return { code: "E0198", message: `mix(w1, w2, n, p) stacks batches of style vectors [wdim], got ${w.batched ? `[${["batch", ...w.shape].join(", ")}]` : "a scalar"}` };
    }
    if (w1!.shape[0] !== w2!.shape[0]) return { code: "E0198", message: `mix(w1, w2, n, p) needs two styles of the same width, got [batch, ${w1!.shape[0]}] and [batch, ${w2!.shape[0]}]` };
    const count = styleCount(n, 2);
    if (count === null) return { code: "E0196", message: `mix(w1, w2, n, p): n is the number of layers, a whole number from 2 to 1024 (the crossover lies in [1, n)), got ${n ?? "a value that is not a constant"}` };
    if (p === null || p === undefined || !(p >= 0 && p <= 1)) return { code: "E0196", message: `mix(w1, w2, n, p): p is a probability, a constant in [0, 1], got ${p ?? "a value that is not a constant"}` };
    return { batched: true, shape: [count, w1!.shape[0]!] };
  },
  broadcasts: false,
  perStep: true,
  range: ([a, b]) => (a && b ? { low: Math.min(a.low, b.low), high: Math.max(a.high, b.high) } : null),
  emit: (a) => `rt.mixStyles(${a.tensor(0)}, ${a.tensor(1)}, ${a.name(2)}, ${a.name(3)}, run.augmentKey(b, ${a.site()}))`,
};

/** A source of uniform numbers in [0, 1) (the runtime's Rng). */
export interface Uniform {
  uniform(): number;
}

/** The crossover of one batch: the first layer that takes w2 (n: none), from the generator at the call's key. */
export function crossover(rng: Uniform, n: number, p: number): number {
  const cutoff = 1 + Math.floor(rng.uniform() * (n - 1)); // torch's random_(1, n)
  return rng.uniform() < p ? cutoff : n;
}

/**
 * rt.mixStyles: [batch, n, wdim], layers below the crossover from w1, the others from w2: a select, so the
 * values are w1's and w2's bits and each gets its layers' gradient (w2 zeros in a batch that is not mixed).
 */
export const runtime = (tf: typeof TF, generator: (key: readonly number[]) => Uniform) =>
  function mixStyles(w1: TF.Tensor, w2: TF.Tensor, n: number, p: number, key: readonly number[]): TF.Tensor {
    const c = crossover(generator(key), n, p);
    const [batch, width] = w1.shape as [number, number];
    const fromW2 = tf.tile(tf.tensor3d(Array.from({ length: n }, (_, l) => (l >= c ? 1 : 0)), [1, n, 1], "bool"), [batch, 1, width]);
    return tf.where(fromW2, tf.tile(tf.expandDims(w2, 1), [1, n, 1]), tf.tile(tf.expandDims(w1, 1), [1, n, 1]));
  };
