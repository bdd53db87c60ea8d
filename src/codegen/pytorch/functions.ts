/*
 * The functions and operators of the spec language in the PyTorch trainer: one entry per function of the
 * registry (src/functions/index.ts); the table's type requires every name, so a new function does not
 * compile until it says what it is here. The Python functions they call live in the trainer's vendored
 * runtime (runtime.py), each the same formula as the TypeScript runtime's.
 */
import type { FnName } from "../../functions/index.ts";
import { policyWords } from "../../functions/diffaug.ts";

/** A call's arguments as Python code (what src/functions' EmitArgs gives the TypeScript trainer). */
export interface PyArgs {
  /** Argument i as a tensor (a number becomes a float32 scalar tensor). */
  tensor(i: number): string;
  /** Whether argument i is per-sample ([batch, ...]): a reduction of it reads the batch. */
  batched(i: number): boolean;
  /** Argument i as an operand of the broadcasting rule (a per-sample [1] value shaped to weigh each sample). */
  operand(i: number): string;
  /** Argument i as a Python number (a constant, the batch size, a state read back). */
  number(i: number): string;
  /** The value of argument i when it is a constant. */
  constant(i: number): number | null;
  /** grad(y, x), only for grad. */
  gradient(): string;
  /** The call site as the TypeScript trainer keys a call's random draws (its step or pass, and its node), a Python string. */
  site(): string;
  /** The running average kept by the `track_avg` layer that made argument i (truncate's w_avg), as Python code. */
  average(i: number): string;
}

/** A function the PyTorch trainer does not run yet, and why (`ganc compile --target pytorch` reports E0240 at the call). */
export interface UnsupportedFn {
  readonly unsupported: string;
}

export type PyFunctionTable = { readonly [K in FnName]: ((a: PyArgs) => string) | UnsupportedFn };

const unary = (f: string) => (a: PyArgs) => `${f}(${a.tensor(0)})`;
const pair = (f: string) => (a: PyArgs) => `${f}(${a.operand(0)}, ${a.operand(1)})`;
// A reduction over the batch: under torchrun it reads the whole batch (whole_batch), so that a loss using it
// nonlinearly (a norm over the batch, a batch mean inside bce, pullaway's pairs) is the one-process loss.
const reduce = (f: string) => (a: PyArgs) => `${f}(${a.batched(0) ? `whole_batch(${a.tensor(0)})` : a.tensor(0)})`;

export const PY_FUNCTIONS: PyFunctionTable = {
  // Its draws come from the generator at a key of (seed, iteration, batch, call site), as the TypeScript trainer's.
  diffaug: (a) => `diff_augment(${a.tensor(0)}, ${JSON.stringify(policyWords(a.constant(1)!))}, augment_key(run, b, ${a.site()}))`,
  styles: (a) => `styles(${a.tensor(0)}, ${a.number(1).replace(/\.0$/, "")})`,
  // The crossover is drawn at the call's key (seed, iteration, batch of the iteration, call site), as diffaug's.
  mix: (a) => `mix_styles(${a.tensor(0)}, ${a.tensor(1)}, ${a.number(2).replace(/\.0$/, "")}, ${a.number(3)}, augment_key(run, b, ${a.site()}))`,
  // psi is the run's --truncation (1, no truncation, but when sampling with --sample-to).
  truncate: (a) => `truncate(${a.tensor(0)}, ${a.average(0)}, run.truncation)`,
  bce_logits: pair("bce_logits"),
  bce: pair("bce"),
  mse: pair("mse"),
  l1: pair("l1"),
  softmax_ce: (a) => `softmax_ce(${a.tensor(0)}, ${a.tensor(1)})`,
  mean: reduce("torch.mean"),
  sum: reduce("torch.sum"),
  std: reduce("std"),
  norm: reduce("torch.norm"),
  sample_norm: unary("sample_norm"),
  sample_mean: unary("sample_mean"),
  pullaway: reduce("pullaway"),
  // |x| with TensorFlow.js's gradient at 0 (-1; torch.abs's is 0).
  abs: unary("tf_abs"),
  sqrt: unary("torch.sqrt"),
  square: unary("torch.square"),
  log: unary("torch.log"),
  exp: unary("torch.exp"),
  relu: unary("F.relu"),
  sigmoid: unary("torch.sigmoid"),
  tanh: unary("torch.tanh"),
  softplus: unary("F.softplus"),
  max: pair("maximum"),
  min: pair("minimum"),
  clip: (a) => `torch.clamp(${a.tensor(0)}, ${a.number(1)}, ${a.number(2)})`,
  grad: (a) => a.gradient(),
  slice: (a) => `slice_channels(${a.tensor(0)}, ${a.number(1).replace(/\.0$/, "")}, ${a.number(2).replace(/\.0$/, "")})`,
};

/** Binary operators: Python's own, on tensors and numbers alike. */
export const PY_OPERATORS: { readonly [S in "+" | "-" | "*" | "/"]: (a: PyArgs) => string } = {
  "+": (a) => `(${a.operand(0)} + ${a.operand(1)})`,
  "-": (a) => `(${a.operand(0)} - ${a.operand(1)})`,
  "*": (a) => `(${a.operand(0)} * ${a.operand(1)})`,
  "/": (a) => `(${a.operand(0)} / ${a.operand(1)})`,
};
