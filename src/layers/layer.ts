/*
 * What one layer kind is: everything the compiler and the runtime know about it, in one module per kind
 * (src/layers/<kind>.ts), registered in src/layers/index.ts. Every consumer (the shape checker, the
 * `--resolved` printer, the trainer's code, the optimizer's plan, the fused runtime, export) dispatches
 * through that table, so a kind that leaves out a part does not compile.
 *
 * Layer modules are loaded by both halves of ganc: `ganc check` (which must not load tfjs) and the runtime
 * that generated trainers import (which must not load the parser). So a layer module imports tfjs, the
 * parser and the runtime as types only; what it needs of them at run time is handed in (`tf`, the kernels
 * of the fused engine, the argument reader, a way to report an error).
 */
import type * as tf from "@tensorflow/tfjs";
import type * as A from "../parser/ast.ts";
import type { ErrorCode } from "../parser/codes.ts";
import type { ArgReader } from "../parser/check/args.ts";
import type { Init, LayerInfo, NetIR } from "../ir/types.ts";
import type * as Engine from "../runtime/fused/engine.ts";
import type { ApplyOptions, BnStats } from "../runtime/fused/net.ts";

// ---- checking: arguments, shapes, variables ----------------------------------------------------------

/** What a layer's shape rule is given: its arguments, its input shape, and how to declare variables and report errors. */
export interface CheckContext {
  /** The layer's bound arguments (unknown, duplicate and ill-typed ones are reported by the reader). */
  readonly r: ArgReader;
  /** The layer as written, and the net around it. */
  readonly layer: A.Layer;
  readonly net: A.NetDecl;
  /** Per-sample shapes of the net's inputs, and of this layer's input. */
  readonly inputShapes: readonly (readonly number[])[];
  readonly shape: readonly number[];
  /**
   * The per-sample shape of a named value of the net (an input, or an earlier layer's `-> name`) and its
   * net-wide name (what the IR stores: a value inside a block instance is `up2/main`), or null after
   * reporting why it cannot be read here (unknown, or defined only by a later layer).
   */
  value(name: string, span: A.Span): { readonly shape: readonly number[]; readonly ref: string } | null;
  /** The net's inputs that its first application gives one-hot class labels (the data's label, a categorical noise). */
  readonly labels: ReadonlySet<string>;
  /** The names of the net's named values defined so far that are not inputs (earlier `-> name`). */
  readonly values: ReadonlySet<string>;
  /** Declares a variable of this layer (`<net>/<layer>/<suffix>`) and returns its full name. */
  variable(suffix: string, shape: number[], init: Init, trainable?: boolean): string;
  /**
   * Asks for the variables of net `net`'s embed layer `layer` (its only one when null) instead of this
   * layer's own, with `shape` ([classes, dim]); resolved once every net is checked, which fills in the
   * layer's `kernel` and `sn` (or reports at `span` why it cannot).
   */
  share(net: string, layer: string | null, shape: readonly number[], span: A.Span): void;
  /** The `init` argument, or `dflt` (a bad one is reported). */
  init(dflt: Init): Init;
  /** Reports `message` at the layer (E0201 unless told) and gives null, the result of a layer that does not fit. */
  fail(message: string, code?: ErrorCode): null;
  /** Reports an error at another place (an argument of the layer). */
  error(code: ErrorCode, message: string, span: A.Span): void;
  suggest(word: string, candidates: readonly string[]): string | null;
}

export interface Checked<L> {
  readonly layer: L;
  readonly out: readonly number[];
}

/** The argument expressions `ganc check --resolved` writes for defaults (made by the printer). */
export interface ResolvedContext {
  num(v: number): A.Expr;
  bool(b: boolean): A.Expr;
  name(n: string): A.Expr;
  /** The initializer of variable `name` as written in a spec. */
  initOf(variable: string): A.Expr;
}

// ---- code generation ---------------------------------------------------------------------------------

export interface CodeContext {
  readonly net: NetIR;
  readonly info: LayerInfo;
  /** The name a spec name (an input or a named value of the net) has as a local of the generated net function. */
  local(name: string): string;
  /** In a fused net's code (FusedForm.code): the FusedRef a named value of the net is there, as code (`{ layer: 4 }`). */
  ref?(name: string): string;
}

// ---- the fused runtime (src/runtime/fused/net.ts) -----------------------------------------------------

/**
 * A layer's backward pass: its input's gradient from its output's `dy`. `into`, given only to a layer whose op
 * says `accumulates`, is the gradient its input already has from later layers that read it too (a shortcut):
 * such a layer reads its input more than once (batch norm), and tfjs's tape adds each of those terms to
 * `into` in turn, so it returns that sum.
 */
export type Backward = (dy: tf.Tensor, grads: Map<tf.Variable, tf.Tensor>, into?: tf.Tensor | null) => tf.Tensor | null;

/** A named value that a layer of a fused net reads: an input of the net, or the output of an earlier layer of the fused net. */
export type FusedRef = { readonly input: number } | { readonly layer: number };

/** What a layer's fused forward pass is given (tfjs and the engine's kernels are passed in: see above). */
export interface FusedEnv {
  readonly tf: typeof tf;
  readonly kernel: typeof Engine.kernel;
  readonly kernels: typeof Engine.kernels;
  readonly gancKernel: typeof Engine.gancKernel;
  readonly view: typeof Engine.view;
  readonly constant: typeof Engine.constant;
  readonly filledView: typeof Engine.filledView;
  /** tf.grads usable inside the backward pass (a layer that differentiates a recomputation with tfjs: attention). */
  readonly vjp: typeof Engine.vjp;
  /** The layer's input, and all inputs of the net. */
  readonly x: tf.Tensor;
  readonly xs: readonly tf.Tensor[];
  /** Whether the backward pass must give the input's gradient. */
  readonly needDx: boolean;
  /** Whether the step trains the net's weights. */
  readonly train: boolean;
  readonly o: ApplyOptions;
  /** Keeps a tensor for the backward pass (a no-op when there is none). */
  keep<T extends tf.Tensor>(t: T): T;
  /** Batch statistics of the pass's batch-norm layers. */
  readonly stats: BnStats[];
  /** Gradients of the net's inputs that layers other than the first read (concat). */
  readonly inputGrads: (tf.Tensor | null)[];
  /** The value of a named value the layer reads (FusedOp.refs). */
  value(r: FusedRef): tf.Tensor;
  /** Whether the backward pass must give `r` a gradient. */
  needsGrad(r: FusedRef): boolean;
  /** Adds `g` to the gradient of `r` (in the backward pass; the net sums a value's gradients as tfjs's tape does). */
  addGrad(r: FusedRef, g: tf.Tensor): void;
  /** A kernel as this application uses it: spectrally normalized for a layer with sn (FusedOp.spectral), else the variable. */
  weight(v: tf.Variable): tf.Tensor;
  /** An activation's forward and backward kernels (the registry's, by kind). */
  activation(a: { readonly kind: string }, x: tf.Tensor): tf.Tensor;
  activationGrad(a: { readonly kind: string }, dy: tf.Tensor, y: tf.Tensor): tf.Tensor;
  activationAttrs(a: { readonly kind: string } | null): { activation: string; leakyreluAlpha: number };
}

/** A layer as an op of the fused network: the object the trainer writes, and its forward/backward pass. */
export interface FusedOp<F extends { readonly op: string }> {
  readonly op: F["op"];
  forward(l: F, env: FusedEnv): { y: tf.Tensor; backward: Backward };
  /** Its trainable variables (their gradients are what a training step asks of it). */
  weights?(l: F): readonly tf.Variable[];
  /** Indices of other inputs of the net it reads (their gradients flow back through it). */
  inputsRead?(l: F): readonly number[];
  /** Named values it reads besides the path (from, add); their gradients come back through env.addGrad. */
  refs?(l: F): readonly FusedRef[];
  /** Whether its backward adds its input's gradient to the one the input already has (Backward's `into`). */
  readonly accumulates?: boolean;
  /** Whether it ignores the path's value (from: a new path starts there), so gives no gradient to it. */
  readonly startsPath?: boolean;
  /**
   * Its spectrally normalized kernels, [kernel, u] each: the net normalizes them (rt.spectralNorm, on the
   * gradient tape) before the op, in layer order, once per application, and the layer reads them with env.weight.
   */
  spectral?(l: F): readonly (readonly [tf.Variable, tf.Variable])[];
}

/** How the optimized trainer runs a layer inside a network applied as one op. */
export interface FusedForm<L, F extends { readonly op: string }> {
  /** Whether it has a fused form with these passes on (no: the whole net runs layer by layer). */
  available?(l: L, passes: ReadonlySet<string>): boolean;
  /** Whether an activation right after it can run inside its kernel. */
  hostsActivation?(l: L): boolean;
  /** The named values of the net it reads (from, add): the plan gives each a FusedRef (CodeContext.ref). */
  reads?(l: L): readonly string[];
  /** The object the trainer passes to rt.fused.FusedNet; `act`: the code of a fused activation, or "null". */
  code(l: L, c: CodeContext, act: string): string;
  readonly runtime: FusedOp<F>;
}

/** An activation layer: its runtime form inside fused kernels and fused nets. */
export interface ActivationForm<L, Act extends { readonly kind: string }> {
  /** The trainer's code of the runtime activation object, `{ kind: "relu" }`. */
  code(l: L): string;
  /** Whether it can run inside a biased dense or conv kernel (the layer-by-layer trainer uses that kernel too). */
  fusable(l: L): boolean;
  /** The fused kernels' `activation` attributes. */
  attrs(a: Act): { activation: string; leakyreluAlpha: number };
  forward(a: Act, x: tf.Tensor, env: Pick<FusedEnv, "tf" | "kernel">): tf.Tensor;
  /** Its gradient from its output `y`. */
  grad(a: Act, dy: tf.Tensor, y: tf.Tensor, env: Pick<FusedEnv, "tf" | "kernel" | "constant" | "gancKernel">): tf.Tensor;
}

// ---- export (src/tools/export.ts) ---------------------------------------------------------------------

export interface ExportEnv {
  readonly tf: typeof tf;
  readonly net: NetIR;
  readonly info: LayerInfo;
  /** The Keras layer's name. */
  readonly name: string;
  /** The output of the layers before. */
  readonly h: tf.SymbolicTensor;
  /** A Keras layer applied to `x`, with `weights` set once the model is built. */
  apply(layer: tf.layers.Layer, x: tf.SymbolicTensor | tf.SymbolicTensor[], weights?: tf.Tensor[]): tf.SymbolicTensor;
  /** A variable's value from the checkpoint. */
  take(name: string): tf.Tensor;
  /** A kernel's value as the trainer's inference mode uses it (spectral norm applied). */
  kernelOf(kernel: string, sn: string | null): tf.Tensor;
  /** The model input of the net's input `name`, or the output of its named value `name`, if it has one. */
  input(name: string): tf.SymbolicTensor | undefined;
  /**
   * A layer of the custom classes the export writes to ganc-layers.mjs (for what Keras has no layer of:
   * GancSlice, GancCondBatchNorm), registered with tfjs so that plain tf.loadLayersModel reads the model.
   */
  custom(className: string, config: Record<string, unknown>): tf.layers.Layer;
  /** Stops the export with a message. */
  fail(message: string): never;
}

// ---- the module -------------------------------------------------------------------------------------

/**
 * One layer kind. `L` is its IR (what the checker resolves a layer to: every default filled in, variables
 * named), `F` the object of its fused form, `Act` its runtime activation if it is an activation.
 */
export interface LayerModule<L extends { readonly op: string }, F extends { readonly op: string } = never, Act extends { readonly kind: string } = never> {
  readonly kind: L["op"];
  readonly doc: string;
  /** Parameters in positional order, each with its doc (for the schema and editors). A trailing `...` marks a variadic one. */
  readonly params: Readonly<Record<string, string>>;
  /** Short spellings of parameter names (`k` for `kernel`). */
  readonly paramAliases?: Readonly<Record<string, string>>;
  /** Other names of the layer (`conv` for `conv2d`). */
  readonly aliases?: readonly string[];
  /** How its layers are named in variable names (`conv` gives conv1, conv2, ...); the kind if absent. */
  readonly prefix?: string;
  /**
   * The range the layer confines its output to (sigmoid [0, 1]), "through" for layers that only move
   * values (reshape: the range is the one before), null for layers whose output can be anything.
   */
  readonly range: readonly [number, number] | "through" | null;
  /** The shape rule: the layer's IR and output shape, or null after reporting why it does not fit. */
  check(c: CheckContext): Checked<L> | null;
  /** The defaults `ganc check --resolved` writes out, by parameter. */
  resolved(l: L, c: ResolvedContext): (readonly [string, A.Expr | null])[];
  /** The layer-by-layer trainer's statement (`--no-opt`, and inside gradient penalties): transforms `h`. */
  code(l: L, c: CodeContext): string;
  /** Its form in a network run as one op; null where it has none (the net then runs layer by layer), "identity" where it is one. */
  readonly fused: FusedForm<L, F> | "identity" | null;
  readonly activation?: ActivationForm<L, Act>;
  /** The Keras layers of `ganc export`; null where the layer is the identity at inference. */
  export(l: L, e: ExportEnv): tf.SymbolicTensor | null;
}

// ---- small helpers shared by layer modules ------------------------------------------------------------

export const fmt = (s: readonly number[]) => `[${s.join(", ")}]`;
export const prod = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);

/**
 * The gradient of a sum or mean over windows of fh x fw positions of x [b, h, w, c] (a pooling, a global
 * sum or average), from dy [b, h / fh, w / fw, c]: each dy value copied over its window and divided by
 * `count` (1: not divided). tfjs's tape computes it as (dy reshaped times a tensor of ones) / count. Where fh
 * and fw are powers of two, the same values come from dividing dy first and upsampling it by copying (x * 1
 * = x, and each value's division is the same before or after it is copied), one pass on wasm
 * (ResizeNearestNeighbor) and no tensor of ones to fill and multiply; otherwise the tape's ops.
 */
export function spreadOverWindows(env: Pick<FusedEnv, "tf" | "view">, dy: tf.Tensor, shape: readonly number[], fh: number, fw: number, count: number): tf.Tensor {
  const { tf, view } = env;
  const [b, h, w, c] = shape as [number, number, number, number];
  const pow2 = (f: number) => (f & (f - 1)) === 0;
  if (pow2(fh) && pow2(fw)) {
    const d = view(count === 1 ? dy : tf.div(dy, count), [b, h / fh, w / fw, c]) as tf.Tensor4D;
    return fh === 1 && fw === 1 ? d : tf.image.resizeNearestNeighbor(d, [h, w]);
  }
  const spread = tf.mul(view(dy, [b, h / fh, 1, w / fw, 1, c]), tf.ones([b, h / fh, fh, w / fw, fw, c]));
  return view(count === 1 ? spread : tf.div(spread, count), [b, h, w, c]);
}
