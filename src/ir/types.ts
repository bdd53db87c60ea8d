import type { Span } from "../parser/ast.ts";
import type { LayerIR } from "../layers/index.ts";
import type { FnName } from "../functions/index.ts";
import type { Range } from "../functions/rules.ts";
import type { SourceName } from "../data/index.ts";
import type { ArgValue } from "../data/source.ts";

/**
 * The checked, resolved program the code generator consumes. Every default is filled in, every name
 * resolved, every shape known. Tensors are `[batch, ...shape]` when `batched`, else scalars.
 */
export interface TensorType {
  readonly batched: boolean;
  readonly shape: readonly number[];
}

export type Init =
  | { readonly kind: "normal"; readonly mean: number; readonly std: number }
  | { readonly kind: "truncated_normal"; readonly mean: number; readonly std: number }
  | { readonly kind: "uniform"; readonly low: number; readonly high: number }
  | { readonly kind: "glorot" | "glorot_normal" | "he_normal" | "he_uniform" | "orthogonal" }
  | { readonly kind: "zeros" }
  | { readonly kind: "ones" };

export interface VarIR {
  readonly name: string; // "D/conv1/kernel"
  readonly shape: readonly number[];
  readonly init: Init;
  readonly trainable: boolean;
}

/** A layer of a net: the union of every layer kind's IR (each defined by its module in src/layers/). */
export type { LayerIR } from "../layers/index.ts";

export interface LayerInfo {
  readonly layer: LayerIR;
  readonly name: string; // "conv1", "bn2": stable, per op kind
  readonly inShape: readonly number[];
  readonly outShape: readonly number[];
  readonly line: number;
  readonly tap: string | null;
  /** Net-wide names the output is also kept under (values inside block instances: `up2/main`, `up2/input`). */
  readonly values?: readonly string[];
  /** The block instance the layer belongs to (`up2`, `up2/res1` when nested). */
  readonly instance?: string;
  /** The line of the net's own layer that instantiates that block (the outermost instance, when nested). */
  readonly instanceLine?: number;
}

export interface NetIR {
  readonly name: string;
  readonly params: readonly { readonly name: string; readonly shape: readonly number[] }[];
  readonly layers: readonly LayerInfo[];
  /** tap name -> index of the layer whose output it is; `out` is always the last layer. */
  readonly taps: Readonly<Record<string, number>>;
  readonly vars: readonly VarIR[];
  readonly outShape: readonly number[];
  readonly line: number;
  readonly hasBatchnorm: boolean;
  readonly hasDropout: boolean;
}

export type NodeOp =
  | { readonly op: "data" }
  | { readonly op: "label" }
  | { readonly op: "noise"; readonly noise: string }
  | { readonly op: "state"; readonly state: string }
  | { readonly op: "const"; readonly value: number }
  /** `batch`: the number of samples in a batch at run time (the trainer's --batch may change the spec's). */
  | { readonly op: "batch" }
  | { readonly op: "apply"; readonly net: string; readonly args: readonly number[] }
  | { readonly op: "tap"; readonly of: number; readonly tap: string }
  | { readonly op: "call"; readonly fn: FnName; readonly args: readonly number[] }
  | { readonly op: "binary"; readonly o: "+" | "-" | "*" | "/"; readonly a: number; readonly b: number }
  | { readonly op: "neg"; readonly a: number };

export type ExprNode = NodeOp & {
  readonly id: number;
  /** The type the checker inferred, once: codegen reads it and derives no shapes of its own. */
  readonly type: TensorType;
  /** The value range where the checker knows it (data in [0, 1], a sigmoid's output, a uniform noise). */
  readonly range: Range | null;
  /**
   * For a broadcasting operation (an operator, max, min, a pairwise loss): how each operand is laid out,
   * as the broadcasting rule decided (src/functions/rules.ts `alignment`): a per-sample rank to reshape a
   * per-sample [1] operand to ([batch, 1, ..., 1]), or null for as it is. Empty for other nodes.
   */
  readonly align: readonly (number | null)[];
  /** The named value this node is, if any (for readable generated code). */
  name: string | null;
  readonly line: number;
  readonly span: Span;
};

export interface OptimizerIR {
  readonly kind: "adam" | "rmsprop" | "sgd" | "momentum";
  readonly lr: number;
  readonly beta1: number;
  readonly beta2: number;
  readonly epsilon: number;
  readonly rho: number;
  readonly momentum: number;
  readonly nesterov: boolean;
  readonly clipnorm: number | null;
  readonly clipvalue: number | null;
  /** Learning-rate schedule: none, linear decay to 0 over the run, or staircase decay (times decay_rate every decay_every iterations). */
  readonly decay: "none" | "linear" | "staircase";
  readonly decayEvery: number;
  readonly decayRate: number;
}

export type ActionIR =
  | { readonly kind: "assign"; readonly state: string; readonly node: number; readonly line: number }
  | { readonly kind: "clip_weights"; readonly net: string; readonly low: number; readonly high: number; readonly line: number };

export interface StepIR {
  readonly name: string;
  readonly optimizer: OptimizerIR;
  readonly loss: string;
  readonly lossNode: number;
  readonly nets: readonly string[];
  readonly shared: boolean;
  /** `step d_reg: d minimize ...`: the step whose optimizer (object and state) this step uses; `optimizer` is that one's. */
  readonly optimizerOf?: string;
  readonly actions: readonly ActionIR[];
  readonly line: number;
}

export interface DataIR {
  readonly name: string;
  readonly source: SourceName;
  readonly batch: number;
  /** Per-sample shape, from the source and its arguments. */
  readonly shape: readonly number[];
  /** Width of `real.label`. */
  readonly numClasses: number;
  /** False: the data has no labels (`real.label` is an error). */
  readonly labelled: boolean;
  readonly classNames: readonly string[] | null;
  readonly path: string | null;
  /** The source's other arguments, defaults filled in. */
  readonly args: Readonly<Record<string, ArgValue>>;
  /** Where the samples lie ([0, 1] for images); null: unknown. */
  readonly range: readonly [number, number] | null;
  readonly line: number;
}

export interface NoiseIR {
  readonly name: string;
  readonly dist: "uniform" | "normal" | "categorical";
  readonly a: number; // low or mean
  readonly b: number; // high or std
  readonly shape: readonly number[];
  readonly classes: number;
  readonly line: number;
}

/**
 * A schedule entry: `5*d` (repeat 5), or `every(16, d_reg)` (every 16: the step runs on iterations 16, 32, ...
 * with its gradients scaled by 16; adjust: its Adam's rate and betas adjusted by 16/17, as StyleGAN2 does).
 */
export interface ScheduleItemIR {
  readonly step: string;
  readonly repeat: number;
  readonly every?: number;
  readonly adjust?: boolean;
}

export interface TrainIR {
  readonly epochs: number | null;
  readonly steps: number | null;
  readonly schedule: readonly ScheduleItemIR[];
  readonly seed: number;
  readonly sampleEvery: number;
  readonly sampleCount: number;
  readonly samples: number; // node id of the sampled images
  readonly checkpointEvery: number | "epoch";
  readonly keepCheckpoints: number;
  readonly log: readonly string[];
  readonly logEvery: number;
  readonly histogramEvery: number;
  readonly evalEvery: number;
  readonly evalCount: number;
  readonly ema: number | null;
  readonly emaNet: string | null;
}

export interface ProgramIR {
  readonly file: string;
  readonly name: string;
  readonly data: DataIR;
  readonly noise: readonly NoiseIR[];
  readonly states: readonly { readonly name: string; readonly init: number; readonly line: number }[];
  readonly nets: readonly NetIR[];
  readonly nodes: readonly ExprNode[];
  readonly values: Readonly<Record<string, number>>;
  readonly losses: readonly { readonly name: string; readonly node: number; readonly line: number }[];
  readonly steps: readonly StepIR[];
  readonly train: TrainIR;
}
