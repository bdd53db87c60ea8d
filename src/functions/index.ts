/**
 * The functions of the expression language, one file each, registered here. Adding one: write
 * `src/functions/<name>.ts` exporting its FnDef (and `runtime` if the trainer calls rt.<name>), add its name
 * to FnName and its entry to FUNCTIONS; TypeScript refuses a table that misses a name, and
 * test/functions/registry.test.ts checks names, arities, docs, runtime exports and the README.
 */
import { abs } from "./abs.ts";
import { bceLogits } from "./bce-logits.ts";
import { bce } from "./bce.ts";
import { clip } from "./clip.ts";
import { diffaug } from "./diffaug.ts";
import { exp } from "./exp.ts";
import type { FnDef } from "./function.ts";
import { grad } from "./grad.ts";
import { l1 } from "./l1.ts";
import { log } from "./log.ts";
import { max } from "./max.ts";
import { mean } from "./mean.ts";
import { min } from "./min.ts";
import { mse } from "./mse.ts";
import { norm } from "./norm.ts";
import { pullaway } from "./pullaway.ts";
import { relu } from "./relu.ts";
import { sampleMean } from "./sample-mean.ts";
import { sampleNorm } from "./sample-norm.ts";
import { sigmoid } from "./sigmoid.ts";
import { slice } from "./slice.ts";
import { softmaxCe } from "./softmax-ce.ts";
import { softplus } from "./softplus.ts";
import { sqrt } from "./sqrt.ts";
import { square } from "./square.ts";
import { std } from "./std.ts";
import { sum } from "./sum.ts";
import { tanh } from "./tanh.ts";
import { styles } from "./styles.ts";
import { mix } from "./mix.ts";
import { truncate } from "./truncate.ts";

export type { EmitArgs, FnDef, Param, Refusal } from "./function.ts";
export { NEGATE, OPERATORS, type OperatorDef } from "./operators.ts";

export type FnName =
  | "bce_logits"
  | "bce"
  | "mse"
  | "l1"
  | "softmax_ce"
  | "mean"
  | "sum"
  | "std"
  | "norm"
  | "sample_norm"
  | "sample_mean"
  | "pullaway"
  | "abs"
  | "sqrt"
  | "square"
  | "log"
  | "exp"
  | "relu"
  | "sigmoid"
  | "tanh"
  | "softplus"
  | "max"
  | "min"
  | "clip"
  | "grad"
  | "slice"
  | "diffaug"
  | "styles"
  | "mix"
  | "truncate";

/** Every function, by the name specs call it by (the order is the README's and the error messages'). */
export const FUNCTIONS: { readonly [K in FnName]: FnDef<K> } = {
  bce_logits: bceLogits,
  bce: bce,
  mse: mse,
  l1: l1,
  softmax_ce: softmaxCe,
  mean: mean,
  sum: sum,
  std: std,
  norm: norm,
  sample_norm: sampleNorm,
  sample_mean: sampleMean,
  pullaway: pullaway,
  abs: abs,
  sqrt: sqrt,
  square: square,
  log: log,
  exp: exp,
  relu: relu,
  sigmoid: sigmoid,
  tanh: tanh,
  softplus: softplus,
  max: max,
  min: min,
  clip: clip,
  grad: grad,
  slice: slice,
  diffaug: diffaug,
  styles: styles,
  mix: mix,
  truncate: truncate,
};

export function isFnName(name: string): name is FnName {
  return Object.hasOwn(FUNCTIONS, name);
}
