import type { TensorType } from "../../ir/types.ts";

/** Expression functions: arity and result type. `null` from `result` means the argument types do not fit. */
export interface FnSig {
  readonly arity: number;
  readonly doc: string;
  readonly result: (args: readonly TensorType[]) => TensorType | string;
}

import { broadcast, SCALAR, show } from "./expr-types.ts";

// Typing rules: every function's `result` is its typing rule; pairwise functions (bce_logits, bce, mse,
// l1, max, min) follow the one broadcasting rule of expr-types.ts.
export { broadcast, show };

const elementwise = (args: readonly TensorType[]) => args[0]!;
const reduceAll = () => SCALAR;
const pairMean = (args: readonly TensorType[]) => {
  const b = broadcast(args[0]!, args[1]!);
  return typeof b === "string" ? b : SCALAR;
};

export const FUNCTIONS: Readonly<Record<string, FnSig>> = {
  bce_logits: { arity: 2, doc: "mean sigmoid cross-entropy of logits against targets, in the stable form max(l,0) - l*t + log(1+exp(-|l|))", result: pairMean },
  bce: { arity: 2, doc: "mean binary cross-entropy of probabilities against targets", result: pairMean },
  mse: { arity: 2, doc: "mean squared difference", result: pairMean },
  l1: { arity: 2, doc: "mean absolute difference", result: pairMean },
  softmax_ce: {
    arity: 2,
    doc: "mean softmax cross-entropy of logits [batch, k] against one-hot labels [batch, k]",
    result: (a) => (a[0]!.shape.length === 1 && a[1]!.shape.length === 1 && a[0]!.shape[0] === a[1]!.shape[0] ? SCALAR : `softmax_ce needs logits and labels of the same [batch, k] shape, got ${show(a[0]!)} and ${show(a[1]!)}`),
  },
  mean: { arity: 1, doc: "mean of all elements", result: reduceAll },
  sum: { arity: 1, doc: "sum of all elements", result: reduceAll },
  std: { arity: 1, doc: "standard deviation of all elements", result: reduceAll },
  norm: { arity: 1, doc: "L2 norm of all elements", result: reduceAll },
  sample_norm: { arity: 1, doc: "L2 norm of each sample over all its elements: [batch]", result: (a) => (a[0]!.batched ? { batched: true, shape: [] } : "sample_norm needs a batched tensor") },
  sample_mean: { arity: 1, doc: "mean of each sample over all its elements: [batch]", result: (a) => (a[0]!.batched ? { batched: true, shape: [] } : "sample_mean needs a batched tensor") },
  pullaway: { arity: 1, doc: "pull-away term: (sum of the cosine-similarity matrix of the samples - n) / (n (n-1))", result: (a) => (a[0]!.batched ? SCALAR : "pullaway needs a batched tensor") },
  abs: { arity: 1, doc: "|x|", result: elementwise },
  sqrt: { arity: 1, doc: "square root", result: elementwise },
  square: { arity: 1, doc: "x^2", result: elementwise },
  log: { arity: 1, doc: "natural logarithm", result: elementwise },
  exp: { arity: 1, doc: "e^x", result: elementwise },
  relu: { arity: 1, doc: "max(x, 0)", result: elementwise },
  sigmoid: { arity: 1, doc: "1 / (1 + e^-x)", result: elementwise },
  tanh: { arity: 1, doc: "tanh(x)", result: elementwise },
  softplus: { arity: 1, doc: "log(1 + e^x)", result: elementwise },
  max: { arity: 2, doc: "elementwise maximum", result: (a) => broadcast(a[0]!, a[1]!) },
  min: { arity: 2, doc: "elementwise minimum", result: (a) => broadcast(a[0]!, a[1]!) },
  clip: {
    arity: 3,
    doc: "clip(x, low, high)",
    result: (a) => (a[1]!.batched || a[2]!.batched || a[1]!.shape.length || a[2]!.shape.length ? "clip bounds must be scalars" : a[0]!),
  },
  grad: { arity: 2, doc: "gradient of the sum of `y` with respect to `x`, shaped like x", result: (a) => a[1]! },
  slice: { arity: 3, doc: "slice(x, begin, size) on the last axis", result: () => "slice is typed by the checker" },
};
