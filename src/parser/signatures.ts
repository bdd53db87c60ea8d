import { LAYER_NAME_ALIASES, LAYER_SIGNATURES } from "../layers/index.ts";

/**
 * Parameter lists of everything a spec can call by name in a declaration: layers, data sources, noise
 * distributions, optimizers. Both front ends bind positional arguments with these tables, so
 * `dense 1024` and `{dense: {units: 1024}}` give the same AST. A trailing `...` marks a variadic parameter
 * whose positional arguments are collected into one list.
 */
import { SOURCES } from "../data/index.ts";

export interface Signature {
  readonly params: readonly string[];
  /** Short spellings accepted for parameter names (`k` for `kernel`). */
  readonly aliases?: Readonly<Record<string, string>>;
  readonly doc: string;
}

/** Layer kinds and their other names: each kind is defined by its module in src/layers/. */
export const LAYERS: Readonly<Record<string, Signature>> = LAYER_SIGNATURES;
export const LAYER_ALIASES: Readonly<Record<string, string>> = LAYER_NAME_ALIASES;

/** Derived from the data sources' own modules (src/data/): each states its parameters and their docs there. */
export const DATA_SOURCES: Readonly<Record<string, Signature>> = Object.fromEntries(
  Object.entries(SOURCES).map(([name, src]) => [name, { params: Object.keys(src.params), doc: src.doc }]),
);

export const NOISE_DISTS: Readonly<Record<string, Signature>> = {
  uniform: { params: ["low", "high", "shape"], doc: "independent U(low, high) per element" },
  normal: { params: ["mean", "std", "shape"], doc: "independent N(mean, std^2) per element" },
  categorical: { params: ["classes"], doc: "a one-hot code drawn uniformly from `classes` categories" },
};

export const OPTIMIZERS: Readonly<Record<string, Signature>> = {
  adam: { params: ["lr", "beta1", "beta2", "epsilon", "clipnorm", "clipvalue", "decay", "decay_every", "decay_rate"], doc: "Adam" },
  rmsprop: { params: ["lr", "rho", "momentum", "epsilon", "clipnorm", "clipvalue", "decay", "decay_every", "decay_rate"], doc: "RMSProp" },
  sgd: { params: ["lr", "clipnorm", "clipvalue", "decay", "decay_every", "decay_rate"], doc: "plain gradient descent" },
  momentum: { params: ["lr", "momentum", "nesterov", "clipnorm", "clipvalue", "decay", "decay_every", "decay_rate"], doc: "gradient descent with momentum" },
};

export const TRAIN_SETTINGS: Readonly<Record<string, string>> = {
  epochs: "number of passes over the data (default 25 unless steps is given)",
  steps: "number of iterations (one pass through the schedule each); overrides epochs",
  schedule: "the steps of one iteration in order, e.g. [5*d, g]",
  seed: "seed for weights, noise and data order (default 0)",
  sample_every: "write a sample grid every N iterations (default 300)",
  sample_count: "images in a sample grid (default 64; 100 for conditional specs)",
  samples: "the value whose images are sampled (default: the generator's output value)",
  checkpoint_every: "write a checkpoint every N iterations, or `epoch` (default epoch)",
  keep_checkpoints: "checkpoints kept on disk (default 3)",
  log: "values logged besides every loss, e.g. [k, M]",
  log_every: "iterations between metric log lines and loss read-backs (default 10)",
  eval_every: "iterations between quality metrics in the metrics log: classifier FID, classifier score and class coverage for MNIST, mode coverage for toy data, sliced Wasserstein distance (x 1e3, per pyramid level and mean) for other images (default 0: off)",
  eval_count: "samples drawn for each of those evaluations (default 1000)",
  histogram_every: "iterations between TensorBoard histograms of every variable and its gradient (default: sample_every; 0 turns them off)",
  ema: "exponential moving average decay of G's weights for sampling, e.g. 0.999 (default off)",
  ema_net: "the net whose weights are averaged (default G)",
};

export function canonicalLayer(op: string): string {
  return LAYER_ALIASES[op] ?? op;
}
