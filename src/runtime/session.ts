import * as fs from "node:fs";
import * as path from "node:path";
import * as tf from "@tensorflow/tfjs";
import { selectBackend, type BackendInfo } from "./backend.ts";
import { BatchIterator, dataSummary, oneHot, type Dataset } from "./data.ts";
import { writeFileAtomic } from "./fsutil.ts";
import { acquireRunLock, releaseRunLock } from "./lock.ts";
import { readSettings, SETTINGS_FILE, type RunSettings } from "./settings.ts";
import { keyState, Rng } from "./rng.ts";
import { traceDir, traceKinks, traceWrite } from "./trace.ts";
import { FusedAdam } from "./fused/adam.ts";
import { applyStoredSettings, effectiveSettings, parseRunOptions, type RunOptions } from "./run-flags.ts";
import { RunCheckpoints, type VarEntry } from "./run-checkpoints.ts";
import { loadData } from "./run-data.ts";
import { initValues } from "./run-init.ts";
import { RunLog } from "./run-metrics.ts";
import { IterationProfile } from "./run-profile.ts";
import { drawNoise, Sampler, WeightAverage } from "./run-sampling.ts";
import { round, TrainingError, type Batch, type Init, type SpecInfo } from "./run-spec.ts";
import type { Mode } from "./ops.ts";

// The session's parts, each in its own module; what trainers and tools import stays importable from here.
export { TrainingError, type Batch, type Init, type SpecInfo } from "./run-spec.ts";
export { trainerCommand, type RunOptions } from "./run-flags.ts";
export { loadData, specRelativePath } from "./run-data.ts";
export { initValues } from "./run-init.ts";
export type { Mode };

/**
 * One training run: backend, data, seeded randomness, variables, optimizers, and the loop's cadence
 * (read-backs, samples, evaluations, checkpoints). What it writes lives in its parts: run-flags.ts (the
 * command line and the settings a run keeps), run-checkpoints.ts, run-metrics.ts (logs, metrics,
 * TensorBoard), run-sampling.ts (sample grids, averaged weights, evaluation), run-profile.ts (--stats).
 * A generated trainer declares its variables and optimizers here, then drives the loop:
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
  /** The settings that shape this run (flags, else the spec's), as `--resume` restores them. */
  private readonly cfg: RunSettings;
  private rng: Rng;
  private readonly initRng: Rng;
  private dropoutSeed = 1;
  /** Each batch drawn this iteration and its number in it (augmentation keys). */
  private batchNumbers = new WeakMap<Batch, number>();
  private batchesDrawn = 0;
  /** GANC_TRACE_FIRST_ITERATION's folder (trace.ts), and how much of the first iteration it holds. */
  private readonly trace = traceDir();
  private tracedBatch = false;
  private traced = 0;
  private readonly tracedSteps = new Map<string, number>();
  private tracedStep: string | null = null;
  private live: tf.Tensor[] = [];
  private interrupted = false;
  private readonly log: RunLog;
  private readonly checkpoints: RunCheckpoints;
  private readonly sampler: Sampler;
  private fixedBatch: Batch | null = null;
  private evalValues: Record<string, number> | null = null;
  private profiling: IterationProfile | null = null;
  private profilingDone = false;
  private lock: string | null = null;
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
    this.cfg = effectiveSettings(spec, opts, this.batchSize, this.iterator.stepsPerEpoch);
    if (!opts.sampleTo) fs.mkdirSync(path.join(opts.out, "samples"), { recursive: true });
    this.log = new RunLog(opts.out, opts.quiet, { totalSteps: this.totalSteps, histogramEvery: this.cfg.histogramEvery });
    this.checkpoints = new RunCheckpoints(opts.out, spec.train.keepCheckpoints);
    this.sampler = new Sampler(spec, seed);
  }

  /** Parses the trainer's flags, takes the run folder's lock, selects the backend, loads the data. */
  static async start(spec: SpecInfo, argv: string[]): Promise<Run> {
    const opts = parseRunOptions(spec, argv);
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
    const stored = opts.resume ? readSettings(opts.out) : null;
    if (stored) for (const c of applyStoredSettings(opts, stored)) say(`--override: ${c}`);
    if (opts.fresh) for (const sub of ["checkpoints", "samples", "tb", "metrics.jsonl", "run.json", SETTINGS_FILE]) fs.rmSync(path.join(opts.out, sub), { recursive: true, force: true });
    const backend = await selectBackend(opts.backend ?? "auto", { log: say });
    const dataset = await loadData(spec, opts, { log: say, progress: !opts.quiet && process.stderr.isTTY === true });
    const run = new Run(spec, opts, backend, dataset);
    run.lock = lock;
    // The first iteration's ReLUs near their kink, for the oracle's float64 evaluation (trace.ts); a trainer
    // compiled with --no-opt evaluates each ReLU as its own kernel, which is what the oracle runs.
    if (run.trace) traceKinks(run.trace, () => run.step === 0 && run.tracedBatch);
    run.say(`data: ${dataset.name}, ${dataset.count} samples of [${dataset.shape.join(", ")}], batch ${run.batchSize}, ${run.iterator.stepsPerEpoch} iterations per epoch`);
    return run;
  }

  private say(line: string): void {
    this.log.say(line);
  }

  // ---- declarations ------------------------------------------------------------------------------

  variable(name: string, shape: number[], init: Init, trainable = true): tf.Variable {
    // A run that restores a checkpoint (--resume, and sampling: `ganc sample`, eval, export) assigns every
    // variable from it in begin() before anything reads one, or fails (RunCheckpoints.restore), and the
    // init generator draws nothing else: its initial values are not drawn (the seed GAN's 6.6M took a
    // third of a second of `ganc sample`).
    const restoring = !!this.opts.sampleTo || this.opts.resume;
    const v = tf.variable(restoring ? tf.zeros(shape) : tf.tensor(initValues(this.initRng, shape, init), shape), trainable, `${this.spec.name}/${name}`);
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

  /**
   * An exponential moving average of `vars` (the generator's weights) with `decay`, updated after every
   * iteration; sample grids, evaluations and `ganc sample` use the averaged weights, training never does.
   * The averages are checkpointed as variables `<name>/ema`.
   */
  ema(vars: tf.Variable[], decay: number): void {
    const avg = new WeightAverage(vars, decay);
    this.sampler.average = avg;
    vars.forEach((v, i) => this.vars.set(`${v.name.slice(this.spec.name.length + 1)}/ema`, { v: avg.shadow[i]!, init: { kind: "zeros" } }));
  }

  /** How to draw the sampled images from a batch of fixed noise (networks in inference mode). */
  samples(fn: (b: Batch) => tf.Tensor): void {
    this.sampler.fn = fn;
  }

  /**
   * psi of the truncation trick (truncate() in the samples expression): --truncation when sampling, else 1,
   * which leaves w as it is. Reading it marks that the samples use it (a --truncation they ignore is an error).
   */
  get truncation(): number {
    this.truncationRead = true;
    return this.opts.truncation ?? 1;
  }
  private truncationRead = false;

  /** A fresh seed for each dropout call, drawn from the run's generator so runs repeat. */
  seed(): number {
    return this.dropoutSeed++;
  }

  /**
   * The generator state for the random draws of one call of a function that draws (diffaug): a hash of
   * the run's seed, the iteration, which batch of the iteration `b` is (a schedule's `5*d` draws five),
   * and the call site (the step or pass, and the node). The same run repeats it; a resumed run, which starts
   * at an iteration, computes the same keys without any saved state; a step that recomputes a node inside
   * grad() gets the draws it used outside; step d and step g draw afresh. Batches not drawn by `batch()`
   * (the fixed sampling batch) count as batch -1.
   */
  augmentKey(b: Batch, site: string): number[] {
    return keyState(`diffaug/${this.cfg.seed}/${this.step}/${this.batchNumbers.get(b) ?? -1}/${site}`);
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
      this.fixedBatch = this.sampler.fixedBatch(this.opts.sampleCount ?? this.spec.train.sampleCount);
      this.interrupted = true; // no iterations
      return;
    }
    if (this.opts.resume) await this.restore();
    else if (fs.existsSync(this.checkpoints.dir) && fs.readdirSync(this.checkpoints.dir).some((f) => f.endsWith(".ganckpt"))) {
      throw new TrainingError(`${this.opts.out} already holds checkpoints: pass --resume to continue that run, or choose another --out`);
    }
    writeFileAtomic(path.join(this.opts.out, SETTINGS_FILE), JSON.stringify(this.settings(), null, 2) + "\n");
    // run.json while training says so, with what a live view needs (iterations planned, backend, data);
    // finish() rewrites it with the outcome.
    this.writeRunJson("running", { totalSteps: this.totalSteps, startStep: this.step });
    this.log.open(this.spec, this.backend.detail, this.step, this.opts.resume);
    this.fixedBatch = this.sampler.fixedBatch();
    process.on("SIGINT", this.onSigint);
    const evaluating = this.cfg.evalEvery > 0 ? `, evaluating every ${this.cfg.evalEvery} on ${this.spec.train.evalCount ?? 1000} samples` : "";
    this.say(`training ${this.spec.name}: ${this.totalSteps} iterations${this.step ? `, resuming at ${this.step}` : ""}${evaluating}; run folder ${this.opts.out}`);
  }

  /** The settings that shape this run, as `--resume` restores them. */
  settings(): RunSettings {
    return { ...this.cfg };
  }

  /** True on iterations whose values are read back and logged. */
  logging(): boolean {
    return (this.step + 1) % this.cfg.logEvery === 0 || this.step + 1 === this.totalSteps;
  }

  /** True on iterations k, 2k, ... (counted from 1): when a lazy step `every(k, step)` runs. */
  every(k: number): boolean {
    return (this.step + 1) % k === 0;
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
    for (const n of this.spec.noise) b[n.name] = drawNoise(n, this.batchSize, this.rng, false);
    this.live.push(...Object.values(b));
    this.batchNumbers.set(b, this.batchesDrawn++);
    if (this.trace && this.step === 0 && !this.tracedBatch) {
      // The first iteration's record (trace.ts): the initial variables and the first batch.
      this.tracedBatch = true;
      for (const [name, { v }] of this.vars) traceWrite(this.trace, "init", name, v.dataSync() as Float32Array, v.shape);
      for (const [name, t] of Object.entries(b)) traceWrite(this.trace, "batch", name, t.dataSync() as Float32Array, t.shape);
    }
    if (this.opts.stats && this.profiling === null && this.step === Math.min((this.opts.statsIteration ?? 2) - 1, this.totalSteps - 1)) this.profiling = new IterationProfile();
    return b;
  }

  /** A step's gradients, kept for TensorBoard histograms on histogram iterations only. */
  gradients(step: string, grads: tf.NamedTensorMap): void {
    if (this.trace && this.step === 0) {
      // A step the schedule repeats is traced once per run of it: d, d.2, d.3, ...
      const seen = (this.tracedSteps.get(step) ?? 0) + 1;
      this.tracedSteps.set(step, seen);
      if (seen > 1) step = `${step}.${seen}`;
      for (const [name, g] of Object.entries(grads)) traceWrite(this.trace, `grad/${step}`, name.slice(this.spec.name.length + 1), g.dataSync() as Float32Array, g.shape);
      this.tracedStep = step; // its variables are written once the step is done (record), after its `after` actions
    }
    if (this.log.histogramStep(this.step + 1)) this.log.gradients(this.step + 1, step, grads, `${this.spec.name}/`);
  }

  /** Keeps a step's scalars until the next read-back; nothing is read from the device on other steps. */
  record(values: Record<string, tf.Scalar>): void {
    if (this.trace && this.step === 0) {
      for (const [name, v] of Object.entries(values)) traceWrite(this.trace, "value", `${this.traced++}-${name}`, v.dataSync() as Float32Array, []);
      // The variables after the step (its update, its clip_weights, its batch-norm statistics), where a replaying trainer resumes.
      if (this.tracedStep !== null) for (const [name, { v }] of this.vars) traceWrite(this.trace, `after/${this.tracedStep}`, name, v.dataSync() as Float32Array, v.shape);
      this.tracedStep = null;
    }
    this.log.record(this.step, values);
  }

  async endIteration(): Promise<void> {
    if (this.profiling && !this.profilingDone) {
      this.profilingDone = true;
      await this.profiling.finish(this.opts.stats!, { spec: this.spec.name, backend: this.backend.name, batch: this.batchSize, iteration: this.step + 1 });
    }
    for (const t of this.live) t.dispose();
    this.live = [];
    this.batchesDrawn = 0;
    // Let the event loop run once per iteration: otherwise a loop whose awaits all resolve at once would
    // never deliver SIGINT (or any other event) until training ends.
    await new Promise<void>((resolve) => setImmediate(resolve));
    this.sampler.average?.update();
    this.step++;
    const { logEvery, sampleEvery, checkpointEvery, evalEvery } = this.cfg;
    const last = this.step === this.totalSteps || this.interrupted;
    if (evalEvery > 0 && (this.step % evalEvery === 0 || last)) this.evalValues = (await this.sampler.evaluate(this.dataset)) ?? this.evalValues;
    // Histograms first: they release the gradients kept for them before the tensor count is read.
    if (this.log.histogramStep(this.step)) await this.log.writeHistograms([...this.vars].map(([name, e]) => [name, e.v]), this.step);
    if (this.step % logEvery === 0 || last || this.step % checkpointEvery === 0 || this.evalValues) await this.readBack();
    if (this.step % sampleEvery === 0 || last) await this.writeSamples();
    if (this.step % checkpointEvery === 0 || last) await this.checkpoint();
  }

  /** Reads the pending scalars, stops on NaN/Inf, writes metrics and progress. */
  private async readBack(): Promise<void> {
    const evaluated = this.evalValues ?? {};
    this.evalValues = null;
    const epoch = Math.floor(this.step / this.iterator.stepsPerEpoch);
    await this.log.readBack({ step: this.step, epoch, states: this.states, evaluated, lastCheckpoint: this.checkpoints.last });
  }

  /** Loss scalars recorded and not yet read back. */
  pendingScalars(): number {
    return this.log.pendingScalars;
  }

  /** Writes the fixed-noise sample grid: samples/step-NNNNNNN.png and samples/latest.png (or `to`). */
  async writeSamples(to?: string): Promise<string | null> {
    if (!this.sampler.fn || !this.fixedBatch) return null;
    const { file, png } = await this.sampler.write(this.fixedBatch, { out: this.opts.out, step: this.step, to });
    if (png) this.log.image("samples", png, this.step);
    return file;
  }

  // ---- checkpoints ------------------------------------------------------------------------------------

  async checkpoint(): Promise<string> {
    if (this.log.pendingScalars) await this.readBack(); // never checkpoint weights that produced NaN
    const position = { step: this.step, iterator: this.iterator.state(), rng: this.rng.getState(), dropoutSeed: this.dropoutSeed };
    return this.checkpoints.save(this, position, { spec: this.spec.name, specHash: this.spec.hash, backend: this.backend.name, batch: this.batchSize, seed: this.cfg.seed });
  }

  private async restore(): Promise<void> {
    const pos = await this.checkpoints.restore(
      this,
      { specHash: this.spec.hash, batch: this.batchSize, stepsPerEpoch: this.iterator.stepsPerEpoch, batchChange: !!this.opts.override && this.opts.batch !== undefined, sampling: !!this.opts.sampleTo },
      (l) => this.say(l),
    );
    this.step = pos.step;
    this.iterator.restore(pos.iterator);
    this.rng = Rng.fromState(pos.rng);
    this.dropoutSeed = pos.dropoutSeed;
    this.say(`resumed from ${this.checkpoints.last} at iteration ${this.step}`);
    if (pos.backend !== this.backend.name) this.say(`note: the checkpoint was written on ${pos.backend}; continuing on ${this.backend.name}, whose results differ in the last bits`);
  }

  /** Ends the run: returns the process exit code (130 after Ctrl-C). */
  async finish(): Promise<number> {
    if (this.opts.sampleTo) {
      const file = await this.writeSamples(this.opts.sampleTo);
      if (this.opts.truncation !== undefined && !this.truncationRead) {
        if (file) fs.rmSync(file, { force: true });
        throw new TrainingError(`--truncation ${this.opts.truncation}: this spec's samples do not use truncate(), so psi would change nothing; write train { samples = G(styles(truncate(M(z)), n)) } with M ending in track_avg`);
      }
      this.say(`wrote ${file} from the checkpoint at iteration ${this.step}`);
      return 0;
    }
    process.off("SIGINT", this.onSigint);
    this.log.close();
    const exit = this.interrupted ? 130 : 0;
    const secs = (Date.now() - this.log.started) / 1000;
    this.say(`${this.interrupted ? "stopped" : "done"} at iteration ${this.step} in ${secs.toFixed(1)} s; samples in ${path.join(this.opts.out, "samples")}, checkpoint ${this.checkpoints.last ?? "none"}`);
    this.writeRunJson(this.interrupted ? "stopped" : "finished", { totalSteps: this.totalSteps, steps: this.step, seconds: round(secs), tensorCounts: this.log.tensorCounts });
    if (this.lock) releaseRunLock(this.lock);
    return exit;
  }

  /** `<out>/run.json`: the run's status ("running", "finished", "stopped") and what it ran on. */
  private writeRunJson(status: "running" | "finished" | "stopped", extra: Record<string, unknown>): void {
    const body = { spec: this.spec.name, source: this.spec.source, status, data: dataSummary(this.dataset), backend: this.backend.detail, ...extra };
    writeFileAtomic(path.join(this.opts.out, "run.json"), JSON.stringify(body, null, 2) + "\n");
  }
}
