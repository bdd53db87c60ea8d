import * as tf from "@tensorflow/tfjs";
import { BatchIterator, oneHot, type Dataset } from "../../runtime/data.ts";
import { FusedAdam } from "../../runtime/fused/adam.ts";
import { keyState, Rng } from "../../runtime/rng.ts";
import { initValues } from "../../runtime/run-init.ts";
import { drawNoise, fixedNoiseBatch, WeightAverage } from "../../runtime/run-noise.ts";
import { TrainingError, type Batch, type Init, type SpecInfo } from "../../runtime/run-spec.ts";
import { checkpointPayload, type CheckpointPayload } from "../../runtime/checkpoint-payload.ts";

/**
 * The run loop of a generated trainer in the page: the same calls as src/runtime/session.ts's Run
 * (a trainer does not know which it got), with the same seeded pieces — the data set and its batch order
 * (BatchIterator), the noise (drawNoise on an Rng seeded like the Node run's), the initial weights
 * (initValues on the same init generator, variables declared in the same order), the optimizers (FusedAdam
 * included) and the backend's kernels — so that a run in the page and `ganc train` on the same backend
 * compute the same losses. What differs is where things go: every iteration's values to the page
 * (host.iteration) instead of metrics.jsonl, checkpoints to a download, and the loop can pause, step and
 * stop between iterations.
 */

export interface RunHost {
  readonly dataset: Dataset;
  /** The run's seed (the spec's unless the page sets one). */
  readonly seed: number;
  /** Iterations to train. */
  readonly steps: number;
  /** tfjs backend name, written into checkpoints. */
  readonly backend: string;
  /** Called once the trainer has declared its variables and optimizers, before the first iteration. */
  ready(run: PageRun): void | Promise<void>;
  /** After every iteration, with the values the steps recorded (read back); may wait (pause) or ask to stop. */
  iteration(run: PageRun, step: number, values: Record<string, number>): Promise<"go" | "stop">;
}

export class PageRun {
  /** Set by the playground before it calls a trainer's main(). */
  static host: RunHost | null = null;

  readonly vars = new Map<string, { v: tf.Variable; init: Init }>();
  readonly optimizers = new Map<string, tf.Optimizer>();
  readonly states = new Map<string, tf.Variable>();
  readonly dataset: Dataset;
  readonly iterator: BatchIterator;
  readonly batchSize: number;
  readonly totalSteps: number;
  readonly seedValue: number;
  step = 0;
  /** How to draw samples from fixed noise (the spec's `samples`), set by the trainer. */
  sampleFn: ((b: Batch) => tf.Tensor) | null = null;
  average: WeightAverage | null = null;
  /** Learning rates set in the page, by optimizer: they replace the spec's (and its schedule's). */
  readonly lrOverride = new Map<tf.Optimizer, number>();
  private rng: Rng;
  private readonly initRng: Rng;
  private dropoutSeed = 1;
  private batchNumbers = new WeakMap<Batch, number>();
  private batchesDrawn = 0;
  private live: tf.Tensor[] = [];
  private pending: Record<string, tf.Scalar> = {};
  private stopped = false;

  private constructor(
    readonly spec: SpecInfo,
    readonly host: RunHost,
  ) {
    this.dataset = host.dataset;
    this.batchSize = spec.data.batch;
    this.seedValue = host.seed;
    this.iterator = new BatchIterator(this.dataset, this.batchSize, host.seed);
    this.rng = new Rng(host.seed);
    this.initRng = new Rng((host.seed ^ 0x9e3779b9) >>> 0);
    this.totalSteps = host.steps;
  }

  static async start(spec: SpecInfo, _argv: string[]): Promise<PageRun> {
    if (!PageRun.host) throw new Error("PageRun.start: no host set");
    return new PageRun(spec, PageRun.host);
  }

  // ---- declarations (as session.ts) ----------------------------------------------------------------

  variable(name: string, shape: number[], init: Init, trainable = true): tf.Variable {
    const values = initValues(this.initRng, shape, init);
    const v = tf.variable(tf.tensor(values, shape), trainable, `${this.spec.name}/${name}`);
    this.vars.set(name, { v, init });
    return v;
  }

  optimizer(step: string, cfg: { kind: "adam" | "rmsprop" | "sgd" | "momentum"; lr: number; beta1: number; beta2: number; epsilon: number; rho: number; momentum: number; nesterov: boolean; fused?: boolean }): tf.Optimizer {
    const opt =
      cfg.kind === "adam" && cfg.fused ? new FusedAdam(cfg.lr, cfg.beta1, cfg.beta2, cfg.epsilon)
      : cfg.kind === "adam" ? tf.train.adam(cfg.lr, cfg.beta1, cfg.beta2, cfg.epsilon)
      : cfg.kind === "rmsprop" ? tf.train.rmsprop(cfg.lr, cfg.rho, cfg.momentum, cfg.epsilon)
      : cfg.kind === "momentum" ? tf.train.momentum(cfg.lr, cfg.momentum, cfg.nesterov)
      : tf.train.sgd(cfg.lr);
    this.optimizers.set(step, opt);
    return opt;
  }

  state(name: string, init: number): tf.Variable {
    const v = tf.variable(tf.scalar(init), false, `${this.spec.name}/state/${name}`);
    this.states.set(name, v);
    return v;
  }

  ema(vars: tf.Variable[], decay: number): void {
    const avg = new WeightAverage(vars, decay);
    this.average = avg;
    vars.forEach((v, i) => this.vars.set(`${v.name.slice(this.spec.name.length + 1)}/ema`, { v: avg.shadow[i]!, init: { kind: "zeros" } }));
  }

  samples(fn: (b: Batch) => tf.Tensor): void {
    this.sampleFn = fn;
  }

  seed(): number {
    return this.dropoutSeed++;
  }

  augmentKey(b: Batch, site: string): number[] {
    return keyState(`diffaug/${this.seedValue}/${this.step}/${this.batchNumbers.get(b) ?? -1}/${site}`);
  }

  learningRate(opt: tf.Optimizer, base: number, decay: "none" | "linear" | "staircase", every: number, rate: number): void {
    if (this.lrOverride.has(opt) || decay === "none") return;
    const lr = decay === "linear" ? base * Math.max(0, 1 - this.step / this.totalSteps) : base * rate ** Math.floor(this.step / every);
    (opt as unknown as { learningRate: number }).learningRate = lr;
  }

  /** An optimizer's learning rate now. */
  static lr(opt: tf.Optimizer): number {
    return (opt as unknown as { learningRate: number }).learningRate;
  }

  /** Sets a step's learning rate from now on (the page's control; a schedule in the spec no longer applies to it). */
  setLearningRate(step: string, lr: number): void {
    const opt = this.optimizers.get(step);
    if (!opt) throw new Error(`no step ${step}`);
    this.lrOverride.set(opt, lr);
    (opt as unknown as { learningRate: number }).learningRate = lr;
  }

  // ---- the loop ------------------------------------------------------------------------------------

  async begin(): Promise<void> {
    await this.host.ready(this);
  }

  logging(): boolean {
    return true;
  }

  every(k: number): boolean {
    return (this.step + 1) % k === 0;
  }

  next(): boolean {
    return !this.stopped && this.step < this.totalSteps;
  }

  batch(): Batch {
    const d = this.spec.data;
    const { x, labels } = this.iterator.next();
    const b: Batch = { [d.name]: tf.tensor(x, [this.batchSize, ...d.shape]) };
    if (labels) b[`${d.name}_label`] = tf.tensor(oneHot(labels, d.numClasses), [this.batchSize, d.numClasses]);
    for (const n of this.spec.noise) b[n.name] = drawNoise(n, this.batchSize, this.rng, false);
    this.live.push(...Object.values(b));
    this.batchNumbers.set(b, this.batchesDrawn++);
    return b;
  }

  gradients(_step: string, _grads: tf.NamedTensorMap): void {}

  /** As run-metrics.ts: a value two steps both compute keeps the later one. */
  record(values: Record<string, tf.Scalar>): void {
    for (const [name, t] of Object.entries(values)) {
      if (this.pending[name] !== t) this.pending[name]?.dispose();
      this.pending[name] = t;
    }
  }

  pendingScalars(): number {
    return Object.keys(this.pending).length;
  }

  async endIteration(): Promise<void> {
    for (const t of this.live) t.dispose();
    this.live = [];
    this.batchesDrawn = 0;
    this.average?.update();
    this.step++;
    const pending = this.pending;
    this.pending = {};
    const values: Record<string, number> = {};
    try {
      for (const [name, t] of Object.entries(pending)) values[name] = (await t.data())[0]!;
    } finally {
      for (const t of Object.values(pending)) t.dispose();
    }
    for (const [n, v] of Object.entries(values)) {
      if (!Number.isFinite(v)) {
        throw new TrainingError(`loss '${n}' is ${v} at iteration ${this.step}: training stopped. Lower the learning rate or check the loss for log(0) or division by zero.`);
      }
    }
    for (const [name, st] of this.states) values[name] = (await st.data())[0]!;
    if ((await this.host.iteration(this, this.step, values)) === "stop") this.stopped = true;
  }

  /** Samples from `n` rows of fixed noise (the averaged weights swapped in, as `ganc sample` does). */
  async generate(n: number): Promise<{ data: Float32Array; shape: number[] } | null> {
    if (!this.sampleFn) return null;
    const fn = this.sampleFn;
    const draw = async () => {
      const b = fixedNoiseBatch(this.spec, this.seedValue, n);
      try {
        const out = tf.tidy(() => fn(b));
        try {
          return { data: (await out.data()) as Float32Array, shape: out.shape };
        } finally {
          out.dispose();
        }
      } finally {
        for (const t of Object.values(b)) t.dispose();
      }
    };
    return this.average ? this.average.swappedIn(draw) : draw();
  }

  /** What `ganc train` would write as a checkpoint at this iteration (checkpoint-payload.ts, as run-checkpoints.ts). */
  checkpointPayload(): Promise<CheckpointPayload> {
    const position = { step: this.step, iterator: this.iterator.state(), rng: this.rng.getState(), dropoutSeed: this.dropoutSeed };
    return checkpointPayload(this, position, { spec: this.spec.name, specHash: this.spec.hash, backend: this.host.backend, batch: this.batchSize, seed: this.seedValue }, null);
  }

  async finish(): Promise<number> {
    return this.stopped && this.step < this.totalSteps ? 130 : 0;
  }

  /** Frees every tensor the run holds (variables, optimizer state): before the next run in the page. */
  dispose(): void {
    for (const t of this.live) t.dispose();
    for (const t of Object.values(this.pending)) t.dispose();
    for (const opt of this.optimizers.values()) opt.dispose();
    for (const { v } of this.vars.values()) v.dispose();
    for (const v of this.states.values()) v.dispose();
  }
}
