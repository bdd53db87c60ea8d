import type { ErrorCode } from "../parser/codes.ts";
import type { TensorType } from "../ir/types.ts";
import type { Range } from "./rules.ts";

/** One argument of a function: its name and what it means, for the documentation. */
export interface Param {
  readonly name: string;
  readonly doc: string;
}

/**
 * A function's arguments as TypeScript code, handed to its `emit` by the trainer generator (which knows
 * how each node is named in the generated trainer).
 */
export interface EmitArgs {
  /** Argument i as a tensor: a number becomes a scalar tensor, a net application its output. */
  tensor(i: number): string;
  /**
   * Argument i as an operand of the broadcasting rule, laid out as the checker decided (a per-sample [1]
   * value reshaped to weigh each sample); `asTensor: false` leaves numbers as numbers.
   */
  operand(i: number, asTensor: boolean): string;
  /** Argument i as a JavaScript number (a constant, `batch`, or a state variable read back). */
  number(i: number): string;
  /** Argument i by its plain name in the generated code. */
  name(i: number): string;
  /** The value of argument i when it is a constant, else null. */
  constant(i: number): number | null;
  /** grad(y, x): y recomputed as a function of x and differentiated (only grad calls this). */
  gradient(): string;
  /**
   * The call site as a string literal for the generated code: the pass it is computed in (a step's name,
   * `measure`, `after_<step>`, `samples`) and the node, the same in both trainers and inside a grad()
   * region. Functions that draw random numbers key their draws by it (see diffaug).
   */
  site(): string;
  /**
   * The running average kept by the `track_avg` layer that made argument i (a net's output or tap), as the
   * trainer's variable (only truncate calls this; the checker makes sure there is one, E0195).
   */
  average(i: number): string;
}

/**
 * A function of the expression language, everything about it in one place: signature and docs, typing
 * rule, value range, and the tfjs code of both trainers. Its runtime code (what `rt.<name>` runs) sits in
 * the same file, taking `tf` as an argument so that the checker never loads tfjs.
 */
export interface FnDef<N extends string = string> {
  /** The name specs call it by (the registry checks it is the key it is listed under). */
  readonly name: N;
  /** The arguments, in order: their number is the function's arity. */
  readonly params: readonly Param[];
  readonly doc: string;
  /**
   * The typing rule: the result type from the arguments' types (and the values of constant arguments), or
   * why they do not fit: a message (E0510 when it is the broadcasting rule's, else E0206), or a message
   * with its own code.
   */
  readonly type: (args: readonly TensorType[], constants: readonly (number | null)[]) => TensorType | string | Refusal;
  /**
   * Whether the arguments combine by the broadcasting rule (rules.ts): the checker then records how each is
   * laid out, and `EmitArgs.operand` follows it.
   */
  readonly broadcasts: boolean;
  /** The result's value range from the arguments' ranges, where it is known. */
  readonly range: (args: readonly (Range | null)[]) => Range | null;
  /** The activation it applies to its first argument itself, so that one applied before is a mistake (W0401). */
  readonly applies?: "sigmoid" | "softmax";
  /** tfjs code of a call, the same in the layer-by-layer (--no-opt) and the optimized trainer. */
  readonly emit: (a: EmitArgs) => string;
  /**
   * The fused form the optimized trainer uses against a constant target (pass loss-forms): one op with a
   * hand-written backward pass, `rt.fused.<name>`, bit for bit the same numbers.
   */
  readonly fused?: { readonly emit: (a: EmitArgs, target: string) => string };
  /**
   * An argument written as a string (diffaug's policy): the checker turns it into the constant `parse`
   * gives, or reports its message (E0153) at the part of the string it names (offsets into the string's
   * value); anything but a string there is E0153 too.
   */
  /**
   * Its value belongs to the step that computes it (random draws keyed by the call site, like diffaug's):
   * the optimizer never hands a forward pass that reads it from one step to another (pass reuse-forward).
   */
  readonly perStep?: boolean;
  readonly stringArg?: { readonly index: number; readonly parse: (s: string) => number | { readonly message: string; readonly start: number; readonly end: number } };
}

/** Arguments a typing rule refuses, with the diagnostic code that says why. */
export interface Refusal {
  readonly code: ErrorCode;
  readonly message: string;
}

/** No range known. */
export const unknownRange = (): Range | null => null;
