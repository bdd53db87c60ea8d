import * as fs from "node:fs";
import * as path from "node:path";
import * as tf from "@tensorflow/tfjs";
import { Command, InvalidArgumentError, Option } from "commander";
import cliProgress from "cli-progress";
import { selectBackend, type BackendChoice, type BackendInfo } from "./backend.ts";
import { CheckpointError, loadLatestCheckpoint, saveCheckpoint, tensorsToSaved, type SavedTensor } from "./checkpoint.ts";
import { BatchIterator, loadEmbeddedMnist, loadIdxDir, oneHot, toyDataset, toyModes, type Dataset } from "./data.ts";
import { writeFileAtomic } from "./fsutil.ts";
import { acquireRunLock, releaseRunLock } from "./lock.ts";
import { mergeSettings, readSettings, SETTINGS_FILE, type RunSettings } from "./settings.ts";
import { encodeImageGrid, encodeScatter, writePng } from "./png.ts";
import { Rng } from "./rng.ts";
import { drawInit } from "../layers/weights.ts";
import { SummaryWriter } from "./tensorboard.ts";
import { FusedAdam } from "./fused/adam.ts";
import type { Mode } from "./ops.ts";

/** What a generated trainer tells the runtime about its spec (all defaults resolved by the compiler). */
export interface SpecInfo {
  name: string;
  source: string;
  hash: string;
  data: { name: string; source: "mnist" | "fashion_mnist" | "ring8" | "grid25"; batch: number; shape: number[]; numClasses: number; path: string | null; limit: number | null; count: number | null };
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

export interface RunOptions {
  out: string;
  epochs?: number;
  steps?: number;
  batch?: number;
  backend: BackendChoice;
  seed?: number;
  data?: string;
  resume: boolean;
  /** On --resume: let flags change settings stored in the run folder (seed, data, batch, cadences). */
  override?: boolean;
  quiet: boolean;
  logEvery?: number;
  sampleEvery?: number;
  histogramEvery?: number;
  checkpointEvery?: number;
  evalEvery?: number;
  /** Start over in an existing run folder: its checkpoints, samples and logs are removed first. */
  fresh?: boolean;
  /** Sample-only mode: restore the newest checkpoint, write a grid of `sampleCount` images here, no training. */
  sampleTo?: string;
  sampleCount?: number;
  /** Profile one iteration (the second when there are two or more) with tf.profile; write its kernel counts here as JSON. */
  stats?: string;
}

const positiveInt = (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError("must be a positive whole number");
  return n;
};
const seedInt = (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n >= 2 ** 32) throw new InvalidArgumentError("must be a whole number in [0, 2^32)");
  return n;
};

/** The trainer's command line; `ganc train` passes the same flags through. */
export function trainerCommand(name: string): Command {
  return new Command(name)
    .description("train the GAN described by the spec")
    .option("-o, --out <dir>", "run folder for samples, checkpoints and logs")
    .option("--epochs <n>", "passes over the data", positiveInt)
    .option("--steps <n>", "iterations (overrides epochs)", positiveInt)
    .option("--batch <n>", "batch size", positiveInt)
    .addOption(new Option("--backend <name>", "tfjs backend").choices(["auto", "tensorflow-gpu", "tensorflow", "wasm", "cpu", "webgpu"]).default("auto"))
    .option("--seed <n>", "seed for weights, noise and data order", seedInt)
    .option("--data <dir>", "folder of MNIST / Fashion-MNIST IDX files (raw or .gz)")
    .option("--resume", "continue from the newest good checkpoint in the run folder, with the run's stored settings", false)
    .option("--override", "with --resume: let flags change the run's stored settings (seed, data, batch, ...)", false)
    .option("--fresh", "start over: remove the run folder's checkpoints, samples and logs first", false)
    .option("-q, --quiet", "no progress output", false)
    .option("--log-every <n>", "iterations between loss read-backs and log lines", positiveInt)
    .option("--sample-every <n>", "iterations between sample grids", positiveInt)
    .option("--eval-every <n>", "iterations between quality metrics (FID, classifier score, coverage) in the log (0: none)", (v) => (v === "0" ? 0 : positiveInt(v)))
    .option("--checkpoint-every <n>", "iterations between checkpoints (default: the spec's)", positiveInt)
    .option("--histogram-every <n>", "iterations between TensorBoard histograms (0: none)", (v) => (v === "0" ? 0 : positiveInt(v)))
    .option("--sample-to <file>", "only write a sample grid from the newest checkpoint to this PNG file")
    .option("--sample-count <n>", "images in that grid", positiveInt)
    .option("--stats <file>", "profile one iteration with tf.profile and write its kernel counts to this JSON file")
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });
}

interface VarEntry {
  v: tf.Variable;
  init: Init;
}

interface Pending {
  step: number;
  values: Record<string, tf.Scalar>;
}

/**
 * One training run: backend, data, seeded randomness, variables, optimizers, checkpoints, samples and
 * logs. A generated trainer declares its variables and optimizers here, then drives the loop:
 *
 *   await run.begin();
 *   while (run.next()) { const b = run.batch(); run.record(stepD(b)); ...; await run.endIteration(); }
 *   return run.finish();
 */
export class Run {
  readonly vars = new Map<string, VarEntry>();
  readonly optimizers = new Map<string, tf.Optimizer>();
  readonly states = new Map<string, tf.Variable>();
  readonly dataset: Dataset;
  readonly iterator: BatchIterator;
  readonly batchSize: number;
  readonly totalSteps: number;
  step = 0;
  private rng: Rng;
  private readonly initRng: Rng;
  private dropoutSeed = 1;
  private live: tf.Tensor[] = [];
  private pending: Pending[] = [];
  private interrupted = false;
  private lastCheckpoint: string | null = null;
  private readonly started = Date.now();
  private lastLogTime = Date.now();
  private lastLogStep = 0;
  private bar: cliProgress.SingleBar | null = null;
  private tb: SummaryWriter | null = null;
  private readonly metricsFile: string;
  private samplesFn: ((b: Batch) => tf.Tensor) | null = null;
  private fixedBatch: Batch | null = null;
  private readonly tensorCounts: number[] = [];
  private pendingGrads: { step: number; name: string; tensor: tf.Tensor }[] = [];
  private profilingDone = false;
  private lock: string | null = null;
  private profiling: { done: () => void; profile: ReturnType<typeof tf.profile>; started: number } | null = null;
  private onSigint = () => {
    if (this.interrupted) process.exit(130);
    this.interrupted = true;
    this.say("interrupted: finishing this iteration and writing a checkpoint (Ctrl-C again to quit now)");
  };

  private constructor(
    readonly spec: SpecInfo,
    readonly opts: RunOptions,
    readonly backend: BackendInfo,
    dataset: Dataset,
  ) {
    this.dataset = dataset;
    this.batchSize = opts.batch ?? spec.data.batch;
    const seed = opts.seed ?? spec.train.seed;
    this.iterator = new BatchIterator(dataset, this.batchSize, seed);
    this.rng = new Rng(seed);
    this.initRng = new Rng((seed ^ 0x9e3779b9) >>> 0);
    const epochs = opts.epochs ?? spec.train.epochs;
    const steps = opts.steps ?? (opts.epochs !== undefined ? null : spec.train.steps);
    this.totalSteps = steps ?? (epochs ?? 25) * this.iterator.stepsPerEpoch;
    if (!opts.sampleTo) fs.mkdirSync(path.join(opts.out, "samples"), { recursive: true });
    this.metricsFile = path.join(opts.out, "metrics.jsonl");
  }

  /** Parses the trainer's flags, selects the backend, loads the data. */
  static async start(spec: SpecInfo, argv: string[]): Promise<Run> {
    const cmd = trainerCommand(`trainer (${spec.name})`);
    cmd.parse(argv, { from: "user" });
    const o = cmd.opts();
    const opts: RunOptions = {
      out: o.out ?? path.join("runs", spec.name),
      epochs: o.epochs,
      steps: o.steps,
      batch: o.batch,
      backend: o.backend,
      seed: o.seed,
      data: o.data,
      resume: o.resume,
      override: o.override,
      quiet: o.quiet,
      logEvery: o.logEvery,
      sampleEvery: o.sampleEvery,
      histogramEvery: o.histogramEvery,
      checkpointEvery: o.checkpointEvery,
      evalEvery: o.evalEvery,
      fresh: o.fresh,
      sampleTo: o.sampleTo,
      sampleCount: o.sampleCount,
      stats: o.stats,
    };
    if (opts.sampleTo) opts.resume = true;
    if (opts.fresh && opts.resume) throw new TrainingError("--fresh and --resume contradict each other: choose one");
    if (opts.override && !opts.resume) throw new TrainingError("--override only applies with --resume (a new run takes its flags as they are)");
    const say = (l: string) => (opts.quiet ? undefined : console.error(l));
    // One writer per run folder; sampling only reads it.
    // Taking over a stale lock is worth a line even under --quiet.
    const lock = opts.sampleTo ? null : acquireRunLock(opts.out, (l) => console.error(l));
    try {
      return await Run.startLocked(spec, opts, lock, say);
    } catch (err) {
      if (lock) releaseRunLock(lock);
      throw err;
    }
  }

  private static async startLocked(spec: SpecInfo, opts: RunOptions, lock: string | null, say: (l: string) => void): Promise<Run> {
    if (opts.resume) {
      const stored = readSettings(opts.out);
      if (stored) {
        const given = {
          seed: opts.seed, data: opts.data === undefined ? undefined : path.resolve(opts.data), batch: opts.batch, steps: opts.steps, epochs: opts.epochs,
          logEvery: opts.logEvery, sampleEvery: opts.sampleEvery, checkpointEvery: opts.checkpointEvery, evalEvery: opts.evalEvery, histogramEvery: opts.histogramEvery,
        };
        const { settings: m, conflicts } = mergeSettings(stored, given, !!opts.override);
        for (const c of conflicts) say(`--override: ${c}`);
        Object.assign(opts, {
          seed: m.seed, data: m.data ?? undefined, batch: m.batch, steps: m.steps ?? undefined, epochs: m.epochs ?? undefined,
          logEvery: m.logEvery, sampleEvery: m.sampleEvery, checkpointEvery: m.checkpointEvery, evalEvery: m.evalEvery, histogramEvery: m.histogramEvery,
        });
      }
    }
    if (opts.fresh) for (const sub of ["checkpoints", "samples", "tb", "metrics.jsonl", "run.json", SETTINGS_FILE]) fs.rmSync(path.join(opts.out, sub), { recursive: true, force: true });
    const backend = await selectBackend(opts.backend, { log: say });
    const dataset = loadData(spec, opts);
    const run = new Run(spec, opts, backend, dataset);
    run.lock = lock;
    run.say(`data: ${dataset.name}, ${dataset.count} samples of [${dataset.shape.join(", ")}], batch ${run.batchSize}, ${run.iterator.stepsPerEpoch} iterations per epoch`);
    return run;
  }

  private say(line: string): void {
    if (this.opts.quiet) return;
    if (this.bar) this.bar.stop();
    console.error(line);
    this.bar = null;
  }

  // ---- declarations ------------------------------------------------------------------------------

  variable(name: string, shape: number[], init: Init, trainable = true): tf.Variable {
    const values = initValues(this.initRng, shape, init);
    const v = tf.variable(tf.tensor(values, shape), trainable, `${this.spec.name}/${name}`);
    this.vars.set(name, { v, init });
    return v;
  }

  /** A step's optimizer; `fused` (pass fused-adam): Adam over the step's variables as one flat buffer, bit for bit tf.train.adam. */
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

  private emaState: { vars: tf.Variable[]; shadow: tf.Variable[]; decay: number } | null = null;

  /**
   * An exponential moving average of `vars` (the generator's weights) with `decay`, updated after every
   * iteration; sample grids, evaluations and `ganc sample` use the averaged weights, training never does.
   */
  ema(vars: tf.Variable[], decay: number): void {
    const shadow = vars.map((v) => tf.variable(v.clone(), false, `${v.name}/ema`));
    this.emaState = { vars, shadow, decay };
    vars.forEach((v, i) => this.vars.set(`${v.name.slice(this.spec.name.length + 1)}/ema`, { v: shadow[i]!, init: { kind: "zeros" } }));
  }

  private updateEma(): void {
    const e = this.emaState;
    if (!e) return;
    tf.tidy(() => e.shadow.forEach((s, i) => s.assign(tf.add(tf.mul(s, e.decay), tf.mul(e.vars[i]!, 1 - e.decay)))));
  }

  /** How to draw the sampled images from a batch of fixed noise (networks in inference mode). */
  samples(fn: (b: Batch) => tf.Tensor): void {
    this.samplesFn = fn;
  }

  /** A fresh seed for each dropout call, drawn from the run's generator so runs repeat. */
  seed(): number {
    return this.dropoutSeed++;
  }

  /** Sets a step's learning rate for this iteration (learning-rate schedules). */
  learningRate(opt: tf.Optimizer, base: number, decay: "none" | "linear" | "staircase", every: number, rate: number): void {
    if (decay === "none") return;
    const lr = decay === "linear" ? base * Math.max(0, 1 - this.step / this.totalSteps) : base * rate ** Math.floor(this.step / every);
    (opt as unknown as { learningRate: number }).learningRate = lr;
  }

  // ---- the loop --------------------------------------------------------------------------------------

  /** Restores the newest good checkpoint when resuming, and opens the logs. */
  async begin(): Promise<void> {
    if (this.opts.sampleTo) {
      await this.restore();
      this.fixedBatch = this.makeFixedBatch(this.opts.sampleCount ?? this.spec.train.sampleCount);
      this.interrupted = true; // no iterations
      return;
    }
    if (this.opts.resume) await this.restore();
    else if (fs.existsSync(path.join(this.opts.out, "checkpoints")) && fs.readdirSync(path.join(this.opts.out, "checkpoints")).some((f) => f.endsWith(".ganckpt"))) {
      throw new TrainingError(`${this.opts.out} already holds checkpoints: pass --resume to continue that run, or choose another --out`);
    }
    if (!this.opts.resume && fs.existsSync(this.metricsFile)) fs.rmSync(this.metricsFile);
    writeFileAtomic(path.join(this.opts.out, SETTINGS_FILE), JSON.stringify(this.settings(), null, 2) + "\n");
    this.tb = new SummaryWriter(path.join(this.opts.out, "tb"));
    if (this.step === 0) this.tb.text("spec", "```\n" + this.spec.resolved + "\n```", 0);
    this.tb.text("backend", this.backend.detail, this.step);
    this.fixedBatch = this.makeFixedBatch();
    process.on("SIGINT", this.onSigint);
    const evalEvery = this.opts.evalEvery ?? this.spec.train.evalEvery ?? 0;
    const evaluating = evalEvery > 0 ? `, evaluating every ${evalEvery} on ${this.spec.train.evalCount ?? 1000} samples` : "";
    this.say(`training ${this.spec.name}: ${this.totalSteps} iterations${this.step ? `, resuming at ${this.step}` : ""}${evaluating}; run folder ${this.opts.out}`);
  }

  /** The settings that shape this run, as `--resume` restores them. */
  settings(): RunSettings {
    const t = this.spec.train;
    return {
      seed: this.opts.seed ?? t.seed,
      data: this.opts.data === undefined ? null : path.resolve(this.opts.data),
      batch: this.batchSize,
      steps: this.opts.steps ?? null,
      epochs: this.opts.epochs ?? null,
      logEvery: this.opts.logEvery ?? t.logEvery,
      sampleEvery: this.opts.sampleEvery ?? t.sampleEvery,
      checkpointEvery: this.opts.checkpointEvery ?? (t.checkpointEvery === "epoch" ? this.iterator.stepsPerEpoch : t.checkpointEvery),
      evalEvery: this.opts.evalEvery ?? t.evalEvery ?? 0,
      histogramEvery: this.opts.histogramEvery ?? t.histogramEvery,
    };
  }

  /** True on iterations whose values are read back and logged. */
  logging(): boolean {
    const every = this.opts.logEvery ?? this.spec.train.logEvery;
    return (this.step + 1) % every === 0 || this.step + 1 === this.totalSteps;
  }

  next(): boolean {
    return !this.interrupted && this.step < this.totalSteps;
  }

  /** Draws the next data batch and fresh noise. The tensors live until the end of the iteration. */
  batch(): Batch {
    const d = this.spec.data;
    const { x, labels } = this.iterator.next();
    const b: Batch = { [d.name]: tf.tensor(x, [this.batchSize, ...d.shape]) };
    if (labels) b[`${d.name}_label`] = tf.tensor(oneHot(labels, d.numClasses), [this.batchSize, d.numClasses]);
    for (const n of this.spec.noise) b[n.name] = this.noise(n, this.batchSize, this.rng, null);
    this.live.push(...Object.values(b));
    if (this.opts.stats && this.profiling === null && this.step === Math.min(1, this.totalSteps - 1)) this.startProfile();
    return b;
  }

  /**
   * tf.profile records every kernel the engine runs while its query is pending: the query here is a
   * promise that endIteration() resolves, so the profile covers exactly this iteration's steps (not the
   * read-back, samples or checkpoints that follow).
   */
  private startProfile(): void {
    let done = () => {};
    const pending = new Promise<void>((resolve) => (done = resolve));
    const profile = tf.profile(() => pending);
    this.profiling = { done, profile, started: performance.now() };
  }

  private async finishProfile(): Promise<void> {
    const p = this.profiling!;
    const ms = performance.now() - p.started;
    p.done();
    const info = await p.profile;
    const byKernel: Record<string, { count: number; ms: number }> = {};
    for (const k of info.kernels) {
      const e = (byKernel[k.name] ??= { count: 0, ms: 0 });
      e.count++;
      if (typeof k.kernelTimeMs === "number") e.ms += k.kernelTimeMs;
    }
    const sorted = Object.fromEntries(Object.entries(byKernel).sort((a, b) => b[1].count - a[1].count || a[0].localeCompare(b[0])).map(([k, v]) => [k, { count: v.count, ms: round(v.ms) }]));
    // In order, each as "name [input shapes] -> [output shapes] ms": where the kernels of an iteration go.
    const sequence = info.kernels.map((k) => `${k.name} ${JSON.stringify(k.inputShapes)} -> ${JSON.stringify(k.outputShapes)}${typeof k.kernelTimeMs === "number" ? ` ${k.kernelTimeMs.toFixed(2)}` : ""}`);
    const report = { spec: this.spec.name, backend: this.backend.name, batch: this.batchSize, iteration: this.step + 1, kernels: info.kernels.length, wallMs: round(ms), byKernel: sorted, sequence };
    writeFileAtomic(this.opts.stats!, JSON.stringify(report, null, 2) + "\n");
  }

  private noise(n: SpecInfo["noise"][number], count: number, rng: Rng, cycle: boolean | null): tf.Tensor {
    if (n.dist === "categorical") {
      const idx = new Int32Array(count);
      for (let i = 0; i < count; i++) idx[i] = cycle ? i % n.classes : Math.floor(rng.uniform() * n.classes);
      return tf.tensor(oneHot(idx, n.classes), [count, n.classes]);
    }
    const size = n.shape.reduce((a, b) => a * b, 1);
    const buf = new Float32Array(count * size);
    if (n.dist === "uniform") rng.fillUniform(buf, n.a, n.b);
    else rng.fillNormal(buf, n.a, n.b);
    return tf.tensor(buf, [count, ...n.shape]);
  }

  /** Fixed noise (and cycling labels and codes) for sample grids, the same at every sample step. */
  private makeFixedBatch(n = this.spec.train.sampleCount, salt = 0x5a4d1e): Batch {
    const rng = new Rng(((this.opts.seed ?? this.spec.train.seed) ^ salt) >>> 0);
    const d = this.spec.data;
    const labels = new Int32Array(n).map((_, i) => i % d.numClasses);
    const b: Batch = { [`${d.name}_label`]: tf.tensor(oneHot(labels, d.numClasses), [n, d.numClasses]) };
    for (const nz of this.spec.noise) b[nz.name] = this.noise(nz, n, rng, true);
    return b;
  }

  private evalValues: Record<string, number> | null = null;
  private evalBatch: Batch | null = null;

  /**
   * Quality metrics of `evalCount` samples from fixed noise: for MNIST-shaped data the classifier's FID
   * against the training digits, its score and class coverage; for toy data mode coverage and the share
   * of high-quality samples. Logged with the next read-back.
   */
  private async evaluate(): Promise<void> {
    if (!this.samplesFn) return;
    const n = this.spec.train.evalCount ?? 1000;
    this.evalBatch ??= this.makeFixedBatch(n, 0x3e7a1);
    const { data } = await this.generate(this.evalBatch, n);
    const src = this.spec.data.source;
    const { imageMetrics, toUnitRange, toyMetrics } = await import("./eval/metrics.ts");
    if (src === "ring8" || src === "grid25") {
      const modes = toyModes(src);
      const m = toyMetrics(data, modes.centers, modes.std);
      this.evalValues = { modesCovered: m.modesCovered, highQuality: round(m.highQuality) };
    } else if (src === "mnist") {
      const ds = this.dataset;
      const m = imageMetrics(toUnitRange(data, this.spec.sampleRange), n, { x: ds.x, count: ds.count, key: `${ds.name}:${ds.count}` });
      this.evalValues = { fid: round(m.fid), classifierScore: round(m.classifierScore), classesCovered: m.classCoverage.covered };
    }
  }

  /** True on iterations that write TensorBoard histograms. */
  private histogramStep(step = this.step + 1): boolean {
    const every = this.opts.histogramEvery ?? this.spec.train.histogramEvery;
    return every > 0 && (step % every === 0 || step === this.totalSteps);
  }

  /** A step's gradients, kept for TensorBoard histograms on histogram iterations only. */
  gradients(step: string, grads: tf.NamedTensorMap): void {
    if (!this.histogramStep()) return;
    const prefix = `${this.spec.name}/`;
    for (const [name, g] of Object.entries(grads)) {
      this.pendingGrads.push({ step: this.step + 1, name: `grad/${step}/${name.startsWith(prefix) ? name.slice(prefix.length) : name}`, tensor: tf.keep(g.clone()) });
    }
  }

  private async writeHistograms(): Promise<void> {
    for (const [name, e] of this.vars) this.tb!.histogram(`weights/${name}`, (await e.v.data()) as Float32Array, this.step);
    const grads = this.pendingGrads;
    this.pendingGrads = [];
    for (const g of grads) {
      this.tb!.histogram(g.name, (await g.tensor.data()) as Float32Array, g.step);
      g.tensor.dispose();
    }
  }

  /** Keeps a step's scalars until the next read-back; nothing is read from the device on other steps. */
  record(values: Record<string, tf.Scalar>): void {
    const p = this.pending[this.pending.length - 1];
    if (p && p.step === this.step) {
      // A value two steps both compute (WGAN's d_fake, BEGAN's g) keeps the later one; the earlier
      // one is released here, or it would leak one tensor per iteration.
      for (const [name, t] of Object.entries(values)) {
        if (p.values[name] !== t) p.values[name]?.dispose();
        p.values[name] = t;
      }
    } else this.pending.push({ step: this.step, values });
  }

  async endIteration(): Promise<void> {
    if (this.profiling && !this.profilingDone) {
      this.profilingDone = true;
      await this.finishProfile();
    }
    for (const t of this.live) t.dispose();
    this.live = [];
    // Let the event loop run once per iteration: otherwise a loop whose awaits all resolve at once would
    // never deliver SIGINT (or any other event) until training ends.
    await new Promise<void>((resolve) => setImmediate(resolve));
    this.updateEma();
    this.step++;
    const t = this.spec.train;
    const logEvery = this.opts.logEvery ?? t.logEvery;
    const sampleEvery = this.opts.sampleEvery ?? t.sampleEvery;
    const ckptEvery = this.opts.checkpointEvery ?? (t.checkpointEvery === "epoch" ? this.iterator.stepsPerEpoch : t.checkpointEvery);
    const last = this.step === this.totalSteps || this.interrupted;
    const evalEvery = this.opts.evalEvery ?? t.evalEvery ?? 0;
    if (evalEvery > 0 && (this.step % evalEvery === 0 || last)) await this.evaluate();
    // Histograms first: they release the gradients kept for them before the tensor count is read.
    if (this.histogramStep(this.step)) await this.writeHistograms();
    if (this.step % logEvery === 0 || last || this.step % ckptEvery === 0 || this.evalValues) await this.readBack();
    if (this.step % sampleEvery === 0 || last) await this.writeSamples();
    if (this.step % ckptEvery === 0 || last) await this.checkpoint();
  }

  /** Reads the pending scalars, stops on NaN/Inf, writes metrics and progress. */
  private async readBack(): Promise<void> {
    const pending = this.pending;
    this.pending = [];
    let lastValues: Record<string, number> = {};
    try {
      for (const p of pending) {
        const names = Object.keys(p.values);
        const data = await Promise.all(names.map((n) => p.values[n]!.data()));
        const vals: Record<string, number> = {};
        names.forEach((n, i) => (vals[n] = data[i]![0]!));
        for (const [n, v] of Object.entries(vals)) {
          if (!Number.isFinite(v)) {
            throw new TrainingError(
              `loss '${n}' is ${v} at iteration ${p.step + 1}: training stopped. ` +
                (this.lastCheckpoint ? `The last good checkpoint is ${this.lastCheckpoint}.` : "No checkpoint was written yet.") +
                " Lower the learning rate or check the loss for log(0) or division by zero.",
            );
          }
        }
        lastValues = vals;
      }
    } finally {
      for (const p of pending) for (const t of Object.values(p.values)) t.dispose();
    }
    for (const [name, st] of this.states) lastValues[name] = (await st.data())[0]!;
    const evaluated = this.evalValues ?? {};
    this.evalValues = null;
    const now = Date.now();
    const itPerSec = ((this.step - this.lastLogStep) * 1000) / Math.max(1, now - this.lastLogTime);
    this.lastLogTime = now;
    this.lastLogStep = this.step;
    const tensors = tf.memory().numTensors;
    this.tensorCounts.push(tensors);
    const epoch = Math.floor(this.step / this.iterator.stepsPerEpoch);
    const mem = process.memoryUsage();
    const rssMB = Math.round(mem.rss / 1048576);
    const heapMB = Math.round(mem.heapUsed / 1048576);
    for (const [k, v] of Object.entries(evaluated)) this.tb!.scalar(`eval/${k}`, v, this.step);
    const row = { step: this.step, epoch, ...lastValues, ...evaluated, itPerSec: round(itPerSec), tensors, rssMB, heapMB, elapsedSec: round((now - this.started) / 1000) };
    fs.appendFileSync(this.metricsFile, JSON.stringify(row) + "\n");
    for (const [k, v] of Object.entries(lastValues)) this.tb!.scalar(`loss/${k}`, v, this.step);
    this.tb!.scalar("perf/iterations_per_sec", itPerSec, this.step);
    this.tb!.flush();
    this.progress(lastValues, itPerSec, epoch);
  }

  private progress(values: Record<string, number>, itPerSec: number, epoch: number): void {
    if (this.opts.quiet) return;
    const losses = Object.entries(values).map(([k, v]) => `${k}=${v.toFixed(4)}`).join(" ");
    if (process.stderr.isTTY) {
      if (!this.bar) {
        this.bar = new cliProgress.SingleBar(
          { format: "{bar} {value}/{total} | epoch {epoch} | {losses} | {speed} it/s | eta {eta_formatted}", hideCursor: true, stream: process.stderr },
          cliProgress.Presets.shades_classic,
        );
        this.bar.start(this.totalSteps, this.step, { epoch, losses, speed: itPerSec.toFixed(2) });
      }
      this.bar.update(this.step, { epoch, losses, speed: itPerSec.toFixed(2) });
    } else {
      console.error(`step ${this.step}/${this.totalSteps} epoch ${epoch} ${losses} ${itPerSec.toFixed(2)} it/s`);
    }
  }

  /**
   * The sampled images for the `n` rows of `batch`, made `sampleChunk()` rows at a time (averaged
   * weights swapped in once), each chunk's output copied into one preallocated array and disposed:
   * memory stays that of one chunk whatever `n` is (`ganc sample -n 5000` on a DCGAN needed 12 GB at once).
   * The networks run in inference mode, so every row's values are those of one call on all `n`.
   */
  private async generate(batch: Batch, n: number): Promise<{ data: Float32Array; shape: number[] }> {
    const chunk = sampleChunk();
    let data: Float32Array | null = null;
    let shape: number[] = [];
    const e = this.emaState;
    const saved = e ? e.vars.map((v) => v.clone()) : [];
    if (e) e.vars.forEach((v, i) => v.assign(e.shadow[i]!));
    try {
      for (let start = 0; start < n; start += chunk) {
        const k = Math.min(chunk, n - start);
        const out = tf.tidy(() => {
          const part: Batch = {};
          for (const [name, t] of Object.entries(batch)) part[name] = k === n ? t : tf.slice(t, start, k);
          return this.samplesFn!(part);
        });
        try {
          const values = (await out.data()) as Float32Array;
          if (!data) {
            shape = [n, ...out.shape.slice(1)];
            data = new Float32Array((values.length / k) * n);
          }
          data.set(values, (values.length / k) * start);
        } finally {
          out.dispose();
        }
      }
    } finally {
      if (e) e.vars.forEach((v, i) => v.assign(saved[i]!));
      saved.forEach((t) => t.dispose());
    }
    return { data: data ?? new Float32Array(0), shape };
  }

  /** Writes the fixed-noise sample grid: samples/step-NNNNNNN.png and samples/latest.png. */
  async writeSamples(to?: string): Promise<string | null> {
    if (!this.samplesFn || !this.fixedBatch) return null;
    const n = this.fixedBatch[`${this.spec.data.name}_label`]!.shape[0]!;
    const { data, shape } = await this.generate(this.fixedBatch, n);
    if (to && to.endsWith(".json")) {
      // Raw values for tools (evaluation, tests): {shape, data}.
      writeFileAtomic(to, JSON.stringify({ shape, range: this.spec.sampleRange, data: Array.from(data, (v) => Math.round(v * 1e6) / 1e6) }));
      return to;
    }
    const png = this.spec.data.shape.length === 1
      ? encodeScatter(data, { reference: toyModes(this.spec.data.source as "ring8" | "grid25").centers, size: 400 })
      : encodeImageGrid(data, shape[0]!, shape[1]!, shape[2]!, shape[3]!, { range: this.spec.sampleRange, scale: 2 });
    if (to) {
      writePng(to, png);
      return to;
    }
    const file = path.join(this.opts.out, "samples", `step-${String(this.step).padStart(7, "0")}.png`);
    writePng(file, png);
    writePng(path.join(this.opts.out, "samples", "latest.png"), png);
    if (this.tb) this.tb.image("samples", png, ...pngSize(png), 3, this.step);
    return file;
  }

  // ---- checkpoints ------------------------------------------------------------------------------------

  async checkpoint(): Promise<string> {
    if (this.pending.length) await this.readBack(); // never checkpoint weights that produced NaN
    const named: Record<string, tf.Tensor> = {};
    for (const [name, e] of this.vars) named[`var:${name}`] = e.v;
    for (const [name, s] of this.states) named[`state:${name}`] = s;
    const optMeta: Record<string, string[]> = {};
    const temporary: tf.Tensor[] = [];
    for (const [step, opt] of this.optimizers) {
      const ws = await opt.getWeights();
      optMeta[step] = ws.map((w) => w.name);
      ws.forEach((w, i) => (named[`opt:${step}:${i}`] = w.tensor));
      // getWeights() makes a fresh tensor for the iteration count; the moments are the live variables.
      for (const w of ws) if (!(w.tensor instanceof tf.Variable)) temporary.push(w.tensor);
      for (const [k, v] of Object.entries(hiddenState(opt))) named[`optx:${step}:${k}`] = v;
    }
    const tensors = await tensorsToSaved(named);
    for (const t of temporary) t.dispose();
    // A NaN or Inf gradient poisons weights before any loss shows it: never write such weights.
    for (const t of tensors) {
      if (!t.name.startsWith("var:")) continue;
      const bad = t.data.findIndex((v) => !Number.isFinite(v));
      if (bad >= 0) {
        throw new TrainingError(
          `variable ${t.name.slice(4)} holds ${t.data[bad]} at iteration ${this.step} (a NaN or Inf gradient reached it): training stopped. ` +
            (this.lastCheckpoint ? `The last good checkpoint is ${this.lastCheckpoint}.` : "No checkpoint was written yet."),
        );
      }
    }
    const meta = {
      spec: this.spec.name,
      specHash: this.spec.hash,
      step: this.step,
      iterator: this.iterator.state(),
      rng: this.rng.getState(),
      dropoutSeed: this.dropoutSeed,
      optimizers: optMeta,
      backend: this.backend.name,
      batch: this.batchSize,
      seed: this.opts.seed ?? this.spec.train.seed,
    };
    const file = saveCheckpoint(path.join(this.opts.out, "checkpoints"), this.step, { meta, tensors }, { keep: this.spec.train.keepCheckpoints });
    this.lastCheckpoint = file;
    return file;
  }

  private async restore(): Promise<void> {
    const dir = path.join(this.opts.out, "checkpoints");
    const found = loadLatestCheckpoint(dir, (file, reason) => this.say(`skipping checkpoint ${file}: ${reason}`));
    if (!found) throw new TrainingError(this.opts.sampleTo ? `no checkpoint in ${dir}: train first` : `--resume: no checkpoint in ${dir}`);
    const { meta, tensors } = found.payload;
    if (meta.specHash !== this.spec.hash) {
      throw new TrainingError(`--resume: ${found.file} was written by a different spec (or a different version of it); start a new run folder`);
    }
    if (meta.batch !== this.batchSize) throw new TrainingError(`--resume: the checkpoint was trained with batch ${String(meta.batch)}, not ${this.batchSize}`);
    const byName = new Map(tensors.map((t) => [t.name, t]));
    const take = (name: string): SavedTensor => {
      const t = byName.get(name);
      if (!t) throw new CheckpointError(found.file, `missing tensor ${name}`);
      return t;
    };
    for (const [name, e] of this.vars) {
      const t = take(`var:${name}`);
      if (t.shape.join(",") !== e.v.shape.join(",")) throw new CheckpointError(found.file, `${name} has shape [${t.shape}], expected [${e.v.shape}]`);
      tf.tidy(() => e.v.assign(tf.tensor(t.data, t.shape, t.dtype)));
    }
    for (const [name, s] of this.states) tf.tidy(() => s.assign(tf.tensor(take(`state:${name}`).data, [])));
    const optMeta = meta.optimizers as Record<string, string[]>;
    for (const [step, opt] of this.optimizers) {
      const names = optMeta[step] ?? [];
      const weights = names.map((n, i) => {
        const t = take(`opt:${step}:${i}`);
        return { name: n, tensor: tf.tensor(t.data, t.shape, t.dtype) };
      });
      await opt.setWeights(weights);
      for (const w of weights) w.tensor.dispose(); // setWeights copied them into its own variables
      for (const [k, v] of Object.entries(hiddenState(opt))) {
        const t = byName.get(`optx:${step}:${k}`);
        if (t) tf.tidy(() => v.assign(tf.tensor(t.data, t.shape, t.dtype)));
      }
    }
    this.step = meta.step as number;
    this.iterator.restore(meta.iterator as { epoch: number; cursor: number });
    this.rng = Rng.fromState(meta.rng as number[]);
    this.dropoutSeed = meta.dropoutSeed as number;
    this.lastCheckpoint = found.file;
    this.lastLogStep = this.step;
    this.say(`resumed from ${found.file} at iteration ${this.step}`);
  }

  /** Ends the run: returns the process exit code (130 after Ctrl-C). */
  async finish(): Promise<number> {
    if (this.opts.sampleTo) {
      const file = await this.writeSamples(this.opts.sampleTo);
      this.say(`wrote ${file} from the checkpoint at iteration ${this.step}`);
      return 0;
    }
    process.off("SIGINT", this.onSigint);
    if (this.bar) this.bar.stop();
    this.tb?.close();
    const exit = this.interrupted ? 130 : 0;
    const secs = (Date.now() - this.started) / 1000;
    this.say(`${this.interrupted ? "stopped" : "done"} at iteration ${this.step} in ${secs.toFixed(1)} s; samples in ${path.join(this.opts.out, "samples")}, checkpoint ${this.lastCheckpoint ?? "none"}`);
    writeFileAtomic(path.join(this.opts.out, "run.json"), JSON.stringify({ spec: this.spec.name, source: this.spec.source, backend: this.backend.detail, steps: this.step, seconds: round(secs), tensorCounts: this.tensorCounts }, null, 2) + "\n");
    if (this.lock) releaseRunLock(this.lock);
    return exit;
  }
}

/**
 * Optimizer state that getWeights() leaves out. Adam keeps beta1^t and beta2^t as running products; its
 * setWeights() recomputes them with pow(), which differs in the last bit, so a resumed run would drift
 * from an uninterrupted one. Saving the products themselves keeps resume exact.
 */
function hiddenState(opt: tf.Optimizer): Record<string, tf.Variable> {
  const o = opt as unknown as { accBeta1?: tf.Variable; accBeta2?: tf.Variable };
  return o.accBeta1 instanceof tf.Variable && o.accBeta2 instanceof tf.Variable ? { accBeta1: o.accBeta1, accBeta2: o.accBeta2 } : {};
}

/** Width and height from a PNG's IHDR chunk. */
function pngSize(png: Buffer): [number, number] {
  return [png.readUInt32BE(16), png.readUInt32BE(20)];
}

/** Rows generated at once when sampling and evaluating; GANC_SAMPLE_CHUNK changes it (tests compare chunk sizes). */
function sampleChunk(): number {
  const v = Number(process.env.GANC_SAMPLE_CHUNK);
  return Number.isInteger(v) && v > 0 ? v : 256;
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}

/**
 * A path written inside a spec is data, not a licence to read anywhere: it is resolved against the spec's
 * folder and must stay inside that folder or the working folder. Paths given on the command line
 * (--data) are the user's own choice and are not restricted.
 */
export function specRelativePath(specFile: string, p: string): string {
  const specDir = path.resolve(path.dirname(specFile));
  const full = path.resolve(specDir, p);
  const inside = (root: string) => full === root || full.startsWith(root + path.sep);
  if (!inside(specDir) && !inside(process.cwd())) {
    throw new TrainingError(`data path "${p}" in ${specFile} resolves to ${full}, outside the spec's folder and the working folder; pass it with --data if you mean it`);
  }
  return full;
}

export function loadData(spec: SpecInfo, opts: { data?: string; seed?: number }): Dataset {
  const d = spec.data;
  // The run's seed (--seed, else the spec's) draws the toy points too: `--seed 5` is the run `seed=5` makes.
  if (d.source === "ring8" || d.source === "grid25") return toyDataset(d.source, d.count ?? 10000, opts.seed ?? spec.train.seed);
  const dir = opts.data ?? (d.path ? specRelativePath(spec.source, d.path) : null);
  let ds: Dataset;
  if (dir) ds = loadIdxDir(dir, { name: d.source === "fashion_mnist" ? "fashion-mnist" : "mnist" });
  else if (d.source === "fashion_mnist") throw new TrainingError("fashion_mnist needs its IDX files: pass --data DIR (train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz])");
  else ds = loadEmbeddedMnist();
  if (d.limit && d.limit < ds.count) {
    const per = ds.shape.reduce((a, b) => a * b, 1);
    ds = { ...ds, count: d.limit, x: ds.x.subarray(0, d.limit * per), labels: ds.labels ? ds.labels.subarray(0, d.limit) : null };
  }
  return ds;
}

/** Initial values of a variable, drawn from the run's seeded generator (src/layers/weights.ts). */
export function initValues(rng: Rng, shape: number[], init: Init): Float32Array {
  return drawInit(rng, shape, init);
}

export type { Mode };
