import type { DataInfo } from "../data/index.ts";
import type * as tf from "@tensorflow/tfjs";

/** What a generated trainer tells the runtime about its spec (all defaults resolved by the compiler). */
export interface SpecInfo {
  name: string;
  source: string;
  hash: string;
  data: DataInfo;
  noise: { name: string; dist: "uniform" | "normal" | "categorical"; a: number; b: number; shape: number[]; classes: number }[];
  train: { epochs: number | null; steps: number | null; seed: number; sampleEvery: number; sampleCount: number; checkpointEvery: number | "epoch"; keepCheckpoints: number; logEvery: number; histogramEvery: number; evalEvery: number; evalCount: number };
  /** Value range of the sampled images: [0, 1] after sigmoid, [-1, 1] after tanh. */
  sampleRange: [number, number];
  /** The resolved spec, printed in reports and TensorBoard. */
  resolved: string;
}

export type Init =
  | { kind: "normal"; mean: number; std: number }
  | { kind: "truncated_normal"; mean: number; std: number }
  | { kind: "uniform"; low: number; high: number }
  | { kind: "glorot" | "glorot_normal" | "he_normal" | "he_uniform" | "orthogonal" }
  | { kind: "zeros" }
  | { kind: "ones" };

/** The tensors of one draw: the data batch under its name, its one-hot labels as `<name>_label`, each noise. */
export type Batch = Record<string, tf.Tensor>;

export class TrainingError extends Error {
  override name = "TrainingError";
}

export function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}
