/**
 * The one broadcasting rule every operator and pairwise function obeys, and the typing helpers the
 * function definitions share. Pure: no tfjs, no parser (the runtime imports the function files too).
 *
 * Two operands combine when their per-sample shapes are equal, or when one of them is a scalar (a number,
 * a state variable, a reduction such as mean(x)), or a per-sample `[1]` value (a `[1]` noise, a `dense 1`
 * output; also `[1, 1, 1]`) against any batched value with at least as many per-sample dimensions; the
 * result has the other operand's shape. Nothing else broadcasts: `[batch, 1] + [batch]` would silently
 * build a batch-by-batch matrix, and is an error.
 */
import type { TensorType } from "../ir/types.ts";

/** A closed value range, where it is known. */
export interface Range {
  readonly low: number;
  readonly high: number;
}

export const SCALAR: TensorType = { batched: false, shape: [] };

export function isScalar(t: TensorType): boolean {
  return !t.batched && t.shape.length === 0;
}

/**
 * A per-sample scalar written as `[1]` (or `[1, 1, 1]`): broadcasts over any batched value with at least as
 * many per-sample dimensions (the generated code reshapes it to [batch, 1, ..., 1]).
 */
export function isPerSampleOne(t: TensorType): boolean {
  return t.batched && t.shape.length >= 1 && t.shape.every((d) => d === 1);
}

export function show(t: TensorType): string {
  if (isScalar(t)) return "a scalar";
  return `[${t.batched ? ["batch", ...t.shape] : t.shape}]`.replace(/,/g, ", ");
}

const same = (a: TensorType, b: TensorType) => a.batched === b.batched && a.shape.length === b.shape.length && a.shape.every((x, i) => x === b.shape[i]);

/**
 * The broadcasting rule. Returns the result type, or a message naming both shapes and saying how to
 * write what was probably meant.
 */
export function broadcast(a: TensorType, b: TensorType): TensorType | string {
  if (isScalar(a)) return b;
  if (isScalar(b)) return a;
  if (same(a, b)) return a;
  if (a.batched && b.batched) {
    if (isPerSampleOne(a) && a.shape.length <= b.shape.length) return b;
    if (isPerSampleOne(b) && b.shape.length <= a.shape.length) return a;
  }
  return `shapes ${show(a)} and ${show(b)} do not broadcast${hint(a, b)}`;
}

/**
 * How each operand of a broadcast is laid out for tfjs, which aligns trailing axes: a per-sample [1] value
 * against a value of more per-sample dimensions is reshaped to [batch, 1, ..., 1] of that rank (the number
 * here), so that it weighs each sample; `null` leaves an operand as it is.
 */
export function alignment(a: TensorType, b: TensorType): readonly [number | null, number | null] {
  const expand = (x: TensorType, y: TensorType) => (x.batched && y.batched && x.shape.length < y.shape.length && x.shape.every((d) => d === 1) ? y.shape.length : null);
  return [expand(a, b), expand(b, a)];
}

function hint(a: TensorType, b: TensorType): string {
  const perSample = (t: TensorType) => t.batched && t.shape.length === 0;
  if ((perSample(a) && b.batched) || (perSample(b) && a.batched)) {
    const other = perSample(a) ? b : a;
    return `, and would make a batch-by-batch matrix: reduce the ${show(other)} side to one value per sample with sample_mean(...), so that both are [batch]`;
  }
  if (!a.batched || !b.batched) return "; only a scalar combines with a value of another shape: reduce it with mean(...) or sum(...)";
  return "; only equal shapes, a scalar, or a per-sample [1] value combine: reshape or slice one side inside a net, or reduce it with sample_mean(...)";
}

// ---- typing rules shared by several functions ---------------------------------------------------------

/** Elementwise: the result has the argument's type. */
export const elementwise = (args: readonly TensorType[]): TensorType => args[0]!;
/** A reduction over every element: a scalar. */
export const reduceAll = (): TensorType => SCALAR;
/** A mean over a pair that follows the broadcasting rule (the pairwise losses): a scalar. */
export const pairMean = (args: readonly TensorType[]): TensorType | string => {
  const b = broadcast(args[0]!, args[1]!);
  return typeof b === "string" ? b : SCALAR;
};
/** One value per sample: [batch]. */
export const perSample = (name: string) => (args: readonly TensorType[]): TensorType | string => (args[0]!.batched ? { batched: true, shape: [] } : `${name} needs a batched tensor`);
