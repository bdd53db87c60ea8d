import * as tf from "@tensorflow/tfjs";
import type { Batch, Init, SpecInfo } from "../../src/runtime/index.ts";
import { keyState } from "../../src/runtime/rng.ts";

/*
 * A stand-in for the runtime that generated trainers import (`import * as rt from ...`): everything is the
 * real runtime (src/runtime/index.ts: ops, loss terms, fused nets and losses) except `Run`, the session,
 * which is replaced by FixedRun. A test compiles a spec with `runtimeImport` pointing here, imports the
 * trainer and calls its main(); the trainer's own code (networks, loss expressions, steps, after-step
 * actions, logged values) runs unchanged, on values the test chose:
 *
 * - every variable starts from the values the test gives for its name;
 * - every iteration's batch (data, labels, each noise) is the test's;
 * - optimizers do nothing, so the weights stay what the test gave (clip_weights and state updates still run);
 * - every value a step or measure() returns is read back and kept, in call order;
 * - diffaug's draws come from a key of the call site alone (fixedAugmentKey), so a test can recompute them.
 */
export * from "../../src/runtime/index.ts";

export interface FixedTensor {
  data: Float32Array;
  shape: number[];
}

export interface FixedSetup {
  batchSize: number;
  /** The initial values of a variable, by the name the trainer declares it with ("D/dense1/kernel"). */
  variable: (name: string, shape: readonly number[], init: Init, trainable: boolean) => Float32Array;
  /** Each iteration's batch: the data under its name, `<data>_label`, each noise under its name. */
  batches: Record<string, FixedTensor>[];
  /** Initial values of state variables (default: the spec's). */
  states?: Record<string, number>;
}

export interface Recorded {
  /** 0-based iteration. */
  iteration: number;
  values: Record<string, number>;
}

let counter = 0;

/** The generator state FixedRun gives diffaug's draws at a call site ("d:11"). */
export const fixedAugmentKey = (site: string): number[] => keyState(`fixed/${site}`);

export class FixedRun {
  readonly batchSize: number;
  readonly vars = new Map<string, tf.Variable>();
  readonly states = new Map<string, tf.Variable>();
  readonly records: Recorded[] = [];
  /** Optimizer steps applied (and ignored), by step name. */
  readonly applied: Record<string, number> = {};
  step = 0;
  private live: tf.Tensor[] = [];

  constructor(readonly spec: SpecInfo, private readonly setup: FixedSetup) {
    this.batchSize = setup.batchSize;
  }

  variable(name: string, shape: number[], init: Init, trainable = true): tf.Variable {
    const values = this.setup.variable(name, shape, init, trainable);
    if (values.length !== shape.reduce((a, b) => a * b, 1)) throw new Error(`${name}: ${values.length} values for shape [${shape}]`);
    const v = tf.variable(tf.tensor(values, shape), trainable, `fixed${++counter}/${name}`);
    this.vars.set(name, v);
    return v;
  }

  state(name: string, init: number): tf.Variable {
    const v = tf.variable(tf.scalar(this.setup.states?.[name] ?? init), false, `fixed${++counter}/state/${name}`);
    this.states.set(name, v);
    return v;
  }

  optimizer(step: string): { applyGradients: (grads: tf.NamedTensorMap) => void } {
    return { applyGradients: () => void (this.applied[step] = (this.applied[step] ?? 0) + 1) };
  }

  /** The average of G's weights only feeds samples, which FixedRun does not draw: nothing to keep. */
  ema(): void {}

  samples(_fn: (b: Batch) => tf.Tensor): void {}
  gradients(_step: string, _grads: tf.NamedTensorMap): void {}
  learningRate(): void {}
  seed(): number {
    return 1;
  }

  /** Lazy steps (`every(k, step)`) on iterations k, 2k, ... counted from 1, as the runtime's session. */
  every(k: number): boolean {
    return (this.step + 1) % k === 0;
  }

  /** Draws of diffaug keyed by the call site alone (the step or pass and the node): `fixedAugmentKey`. */
  augmentKey(_b: Batch, site: string): number[] {
    return fixedAugmentKey(site);
  }

  async begin(): Promise<void> {}

  next(): boolean {
    return this.step < this.setup.batches.length;
  }

  batch(): Batch {
    const b: Batch = {};
    for (const [name, t] of Object.entries(this.setup.batches[this.step]!)) b[name] = tf.tensor(t.data, t.shape);
    this.live.push(...Object.values(b));
    return b;
  }

  record(values: Record<string, tf.Scalar>): void {
    const out: Record<string, number> = {};
    for (const [name, t] of Object.entries(values)) {
      if (t.size !== 1) throw new Error(`${name} is not a scalar: [${t.shape}]`);
      out[name] = t.dataSync()[0]!;
    }
    // one tensor may be recorded under two names (a loss defined as another loss): dispose it once
    for (const t of new Set(Object.values(values))) t.dispose();
    this.records.push({ iteration: this.step, values: out });
  }

  logging(): boolean {
    return true;
  }

  async endIteration(): Promise<void> {
    for (const t of this.live) t.dispose();
    this.live = [];
    this.step++;
  }

  async finish(): Promise<number> {
    return 0;
  }

  /** Current values of a variable or state (by name), as float32. */
  read(name: string): Float32Array {
    const v = this.vars.get(name) ?? this.states.get(name);
    if (!v) throw new Error(`no variable or state ${name}`);
    return v.dataSync() as Float32Array;
  }

  dispose(): void {
    for (const v of [...this.vars.values(), ...this.states.values()]) v.dispose();
  }
}

/** What the next main() runs with, and the FixedRun it ran (set by start). */
export const harness: { setup: FixedSetup | null; last: FixedRun | null } = { setup: null, last: null };

/** Shadows the runtime's Run: `rt.Run.start(SPEC, argv)` in a trainer gives a FixedRun on harness.setup. */
export const Run = {
  async start(spec: SpecInfo, _argv: string[]): Promise<FixedRun> {
    if (!harness.setup) throw new Error("harness.setup is not set");
    harness.last = new FixedRun(spec, harness.setup);
    return harness.last;
  },
};
