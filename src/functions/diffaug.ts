import type * as TF from "@tensorflow/tfjs";
import { unknownRange, type FnDef } from "./function.ts";

/**
 * DiffAugment (Zhao et al. 2020, "Differentiable Augmentation for Data-Efficient GAN Training"), with the
 * semantics of the authors' DiffAugment_pytorch.py:
 *
 * - `color`: brightness x + U(-0.5, 0.5); saturation (x - m) * U(0, 2) + m around each pixel's channel
 *   mean m; contrast (x - m) * U(0.5, 1.5) + m around the image's mean m (in this order);
 * - `translation`: a shift by whole pixels, up to 1/8 of the side (rounded) in each direction, drawn per
 *   axis; what comes in from outside is 0;
 * - `cutout`: a square of half the side (rounded) at a random center, set to 0 (clipped at the borders).
 *
 * Every operation is affine in the image for fixed draws, so gradients (and second derivatives) flow
 * through to whatever produced it. One draw per sample and operation. The draws come from a generator
 * whose state is the key the trainer passes: the run derives it from the seed, the iteration, the batch
 * within it, the step and the call (`Run.augmentKey`), so no state needs to be kept for a resume.
 */

/** The operations, as bits of the policy constant the checker makes of the policy string. */
export const DIFFAUG_OPS = { color: 1, translation: 2, cutout: 4 } as const;
export type DiffAugOp = keyof typeof DIFFAUG_OPS;

/** The policy string ("color,translation,cutout") as bits, or the word that is not an operation. */
export function parsePolicy(s: string): number | { readonly unknown: string; readonly start: number } {
  let mask = 0;
  let at = 0;
  for (const raw of s.split(",")) {
    const word = raw.trim();
    if (!Object.hasOwn(DIFFAUG_OPS, word)) return { unknown: word, start: at + raw.indexOf(word) };
    mask |= DIFFAUG_OPS[word as DiffAugOp];
    at += raw.length + 1;
  }
  return mask;
}

/** The policy bits as words, in the order they are applied. */
export function policyWords(mask: number): string {
  return (Object.keys(DIFFAUG_OPS) as DiffAugOp[]).filter((k) => mask & DIFFAUG_OPS[k]).join(",");
}

export const diffaug: FnDef<"diffaug"> = {
  name: "diffaug",
  params: [
    { name: "x", doc: "a batch of images [height, width, channels] (real or generated, before D)" },
    { name: "policy", doc: 'a string: the operations, comma-separated, of "color", "translation", "cutout"' },
  ],
  doc: "DiffAugment: random color, translation (1/8 of the side) and cutout (half the side), one draw per sample, differentiable",
  type: ([x]) =>
    x!.batched && x!.shape.length === 3
      ? x!
      : { code: "E0152", message: `diffaug needs a batch of images [height, width, channels], got ${x!.batched ? `[${["batch", ...x!.shape].join(", ")}]` : "a scalar"}` },
  broadcasts: false,
  perStep: true,
  stringArg: {
    index: 1,
    parse: (s) => {
      const m = parsePolicy(s);
      if (typeof m === "number") return m;
      const ops = Object.keys(DIFFAUG_OPS);
      const near = ops.find((op) => m.unknown.length > 2 && (op.startsWith(m.unknown.slice(0, 4)) || m.unknown.startsWith(op.slice(0, 4))));
      const message = m.unknown === "" ? `an empty augmentation in "${s}"` : `unknown augmentation '${m.unknown}'${near ? `; did you mean '${near}'?` : ""}`;
      return { message: `${message} (diffaug's policy is a comma-separated list of: ${ops.join(", ")})`, start: m.start, end: m.start + m.unknown.length };
    },
  },
  range: unknownRange,
  emit: (a) => `rt.diffAugment(${a.tensor(0)}, ${JSON.stringify(policyWords(a.constant(1)!))}, run.augmentKey(b, ${a.site()}))`,
};

/** A source of uniform numbers in [0, 1) (the runtime's Rng). */
export interface Uniform {
  uniform(): number;
}

/** The draws of one call: per sample and operation, in the order drawn. */
export interface DiffAugDraws {
  readonly brightness: Float32Array;
  readonly saturation: Float32Array;
  readonly contrast: Float32Array;
  /** Shifts in pixels: the output's pixel (i, j) is the input's (i + dy, j + dx), 0 outside. */
  readonly dy: Int32Array;
  readonly dx: Int32Array;
  /** The cutout's centers as drawn (the reference's offsets), in [0, side + 1 - size % 2). */
  readonly cy: Int32Array;
  readonly cx: Int32Array;
  /** The cutout's rows [top, bottom) and columns [left, right), clipped to the image. */
  readonly cut: Int32Array;
}

/**
 * The draws for `n` images of `h` x `w` under `mask` from `rng` (the run's generator at the call's key): color factors
 * as float32 values (so a float64 computation sees the same numbers), then the shifts, then the cutout
 * centers, each for all samples in turn. Shift range and cutout size as the reference computes them:
 * int(side * 1/8 + 0.5) and int(side * 1/2 + 0.5); a center lies in [0, side + 1 - size % 2).
 */
export function diffAugDraws(rng: Uniform, n: number, h: number, w: number, mask: number): DiffAugDraws {
  const uniform = (count: number, f: (u: number) => number) => Float32Array.from({ length: count }, () => f(rng.uniform()));
  const int = (lo: number, hi: number) => lo + Math.floor(rng.uniform() * (hi - lo)); // [lo, hi)
  const d: DiffAugDraws = {
    brightness: new Float32Array(n),
    saturation: new Float32Array(n).fill(1),
    contrast: new Float32Array(n).fill(1),
    dy: new Int32Array(n),
    dx: new Int32Array(n),
    cy: new Int32Array(n),
    cx: new Int32Array(n),
    cut: new Int32Array(4 * n),
  };
  if (mask & DIFFAUG_OPS.color) {
    d.brightness.set(uniform(n, (u) => u - 0.5));
    d.saturation.set(uniform(n, (u) => u * 2));
    d.contrast.set(uniform(n, (u) => u + 0.5));
  }
  if (mask & DIFFAUG_OPS.translation) {
    const sy = Math.floor(h * 0.125 + 0.5);
    const sx = Math.floor(w * 0.125 + 0.5);
    for (let i = 0; i < n; i++) d.dy[i] = int(-sy, sy + 1);
    for (let i = 0; i < n; i++) d.dx[i] = int(-sx, sx + 1);
  }
  if (mask & DIFFAUG_OPS.cutout) {
    const ch = Math.floor(h * 0.5 + 0.5);
    const cw = Math.floor(w * 0.5 + 0.5);
    for (let i = 0; i < n; i++) d.cy[i] = int(0, h + 1 - (ch % 2));
    for (let i = 0; i < n; i++) d.cx[i] = int(0, w + 1 - (cw % 2));
    for (let i = 0; i < n; i++) {
      const top = d.cy[i]! - Math.floor(ch / 2);
      const left = d.cx[i]! - Math.floor(cw / 2);
      d.cut.set([Math.max(top, 0), Math.min(top + ch, h), Math.max(left, 0), Math.min(left + cw, w)], 4 * i);
    }
  }
  return d;
}

/** Shift matrices [n, side, side]: row i of sample b picks input index i + shift[b] (none outside). */
function shiftMatrices(shift: Int32Array, side: number): Float32Array {
  const m = new Float32Array(shift.length * side * side);
  shift.forEach((s, b) => {
    for (let i = 0; i < side; i++) {
      const k = i + s;
      if (k >= 0 && k < side) m[(b * side + i) * side + k] = 1;
    }
  });
  return m;
}

/**
 * rt.diffAugment: DiffAugment of a batch of NHWC images under `policy` ("color,cutout"), with the draws of
 * the generator at state `key`. Translation is a product with 0/1 shift matrices (exact: one term per
 * output pixel), cutout a product with a 0/1 mask, so every op has tfjs's own gradients, to any order.
 */
export const runtime = (tf: typeof TF, generator: (key: readonly number[]) => Uniform) =>
  function diffAugment(x: TF.Tensor, policy: string, key: readonly number[]): TF.Tensor {
    const mask = parsePolicy(policy);
    if (typeof mask !== "number") throw new Error(`diffAugment: unknown augmentation '${mask.unknown}'`);
    const [n, h, w, c] = x.shape as [number, number, number, number];
    const d = diffAugDraws(generator(key), n, h, w, mask);
    const perSample = (v: Float32Array) => tf.tensor4d(v, [n, 1, 1, 1]);
    let y = x;
    if (mask & DIFFAUG_OPS.color) {
      y = tf.add(y, perSample(d.brightness));
      const pixel = tf.mean(y, 3, true);
      y = tf.add(tf.mul(tf.sub(y, pixel), perSample(d.saturation)), pixel);
      const image = tf.mean(y, [1, 2, 3], true);
      y = tf.add(tf.mul(tf.sub(y, image), perSample(d.contrast)), image);
    }
    if (mask & DIFFAUG_OPS.translation) {
      const rows = tf.tensor3d(shiftMatrices(d.dy, h), [n, h, h]);
      y = tf.reshape(tf.matMul(rows, tf.reshape(y, [n, h, w * c]) as TF.Tensor3D), [n, h, w, c]);
      const cols = tf.tensor3d(shiftMatrices(d.dx, w), [n, w, w]);
      const t = tf.reshape(tf.transpose(y, [0, 2, 1, 3]), [n, w, h * c]) as TF.Tensor3D;
      y = tf.transpose(tf.reshape(tf.matMul(cols, t), [n, w, h, c]), [0, 2, 1, 3]);
    }
    if (mask & DIFFAUG_OPS.cutout) {
      const keep = new Float32Array(n * h * w).fill(1);
      for (let b = 0; b < n; b++) {
        const [top, bottom, left, right] = d.cut.subarray(4 * b, 4 * b + 4) as unknown as [number, number, number, number];
        for (let i = top; i < bottom; i++) keep.fill(0, (b * h + i) * w + left, (b * h + i) * w + right);
      }
      y = tf.mul(y, tf.tensor4d(keep, [n, h, w, 1]));
    }
    return y;
  };
