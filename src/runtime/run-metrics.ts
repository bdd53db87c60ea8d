import * as fs from "node:fs";
import * as path from "node:path";
import * as tf from "@tensorflow/tfjs";
import cliProgress from "cli-progress";
import { SummaryWriter } from "./tensorboard.ts";
import { round, TrainingError, type SpecInfo } from "./run-spec.ts";

interface Pending {
  step: number;
  values: Record<string, tf.Scalar>;
}

/**
 * What a run tells the user and its folder: log lines and the progress bar (stderr), the losses of
 * each read-back (metrics.jsonl, TensorBoard scalars), histograms of weights and gradients, sample
 * images in TensorBoard. Loss scalars stay on the device until a read-back: nothing is read on other
 * iterations.
 */
export class RunLog {
  readonly started = Date.now();
  /** Live tensors at each read-back (run.json), to show the count stays flat. */
  readonly tensorCounts: number[] = [];
  readonly metricsFile: string;
  private bar: cliProgress.SingleBar | null = null;
  private tb: SummaryWriter | null = null;
  private pending: Pending[] = [];
  private pendingGrads: { step: number; name: string; tensor: tf.Tensor }[] = [];
  private lastLogTime = Date.now();
  private lastLogStep = 0;

  constructor(
    private readonly out: string,
    private readonly quiet: boolean,
    private readonly cadence: { totalSteps: number; histogramEvery: number },
  ) {
    this.metricsFile = path.join(out, "metrics.jsonl");
  }

  say(line: string): void {
    if (this.quiet) return;
    if (this.bar) this.bar.stop();
    console.error(line);
    this.bar = null;
  }

  /** Opens the logs at `step`: a new run (step 0, not resumed) starts metrics.jsonl afresh. */
  open(spec: SpecInfo, backendDetail: string, step: number, resumed: boolean): void {
    if (!resumed && fs.existsSync(this.metricsFile)) fs.rmSync(this.metricsFile);
    this.lastLogStep = step;
    this.tb = new SummaryWriter(path.join(this.out, "tb"));
    if (step === 0) this.tb.text("spec", "```\n" + spec.resolved + "\n```", 0);
    this.tb.text("backend", backendDetail, step);
  }

  close(): void {
    if (this.bar) this.bar.stop();
    this.tb?.close();
  }

  /** Keeps a step's scalars until the next read-back. */
  record(step: number, values: Record<string, tf.Scalar>): void {
    const p = this.pending[this.pending.length - 1];
    if (p && p.step === step) {
      // A value two steps both compute (WGAN's d_fake, BEGAN's g) keeps the later one; the earlier
      // one is released here, or it would leak one tensor per iteration.
      for (const [name, t] of Object.entries(values)) {
        if (p.values[name] !== t) p.values[name]?.dispose();
        p.values[name] = t;
      }
    } else this.pending.push({ step, values });
  }

  /** Loss scalars recorded and not yet read back. */
  get pendingScalars(): number {
    return this.pending.reduce((n, p) => n + Object.keys(p.values).length, 0);
  }

  /** True on iterations (1-based `step`) that write TensorBoard histograms. */
  histogramStep(step: number): boolean {
    const every = this.cadence.histogramEvery;
    return every > 0 && (step % every === 0 || step === this.cadence.totalSteps);
  }

  /** A step's gradients at 1-based iteration `step`, kept for its histograms. */
  gradients(step: number, stepName: string, grads: tf.NamedTensorMap, prefix: string): void {
    for (const [name, g] of Object.entries(grads)) {
      this.pendingGrads.push({ step, name: `grad/${stepName}/${name.startsWith(prefix) ? name.slice(prefix.length) : name}`, tensor: tf.keep(g.clone()) });
    }
  }

  async writeHistograms(vars: Iterable<[string, tf.Variable]>, step: number): Promise<void> {
    for (const [name, v] of vars) this.tb!.histogram(`weights/${name}`, (await v.data()) as Float32Array, step);
    const grads = this.pendingGrads;
    this.pendingGrads = [];
    for (const g of grads) {
      this.tb!.histogram(g.name, (await g.tensor.data()) as Float32Array, g.step);
      g.tensor.dispose();
    }
  }

  image(tag: string, png: Buffer, step: number): void {
    this.tb?.image(tag, png, png.readUInt32BE(16), png.readUInt32BE(20), 3, step); // width, height from IHDR
  }

  /**
   * Reads the pending scalars, stops on NaN/Inf, writes a metrics row (with `evaluated` and the
   * states' values), TensorBoard scalars and progress.
   */
  async readBack(at: { step: number; epoch: number; states: Map<string, tf.Variable>; evaluated: Record<string, number>; lastCheckpoint: string | null }): Promise<void> {
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
                (at.lastCheckpoint ? `The last good checkpoint is ${at.lastCheckpoint}.` : "No checkpoint was written yet.") +
                " Lower the learning rate or check the loss for log(0) or division by zero.",
            );
          }
        }
        lastValues = vals;
      }
    } finally {
      for (const p of pending) for (const t of Object.values(p.values)) t.dispose();
    }
    for (const [name, st] of at.states) lastValues[name] = (await st.data())[0]!;
    const { step, epoch, evaluated } = at;
    const now = Date.now();
    const itPerSec = ((step - this.lastLogStep) * 1000) / Math.max(1, now - this.lastLogTime);
    this.lastLogTime = now;
    this.lastLogStep = step;
    const tensors = tf.memory().numTensors;
    this.tensorCounts.push(tensors);
    const mem = process.memoryUsage();
    const rssMB = Math.round(mem.rss / 1048576);
    const heapMB = Math.round(mem.heapUsed / 1048576);
    for (const [k, v] of Object.entries(evaluated)) this.tb!.scalar(`eval/${k}`, v, step);
    const row = { step, epoch, ...lastValues, ...evaluated, itPerSec: round(itPerSec), tensors, rssMB, heapMB, elapsedSec: round((now - this.started) / 1000) };
    fs.appendFileSync(this.metricsFile, JSON.stringify(row) + "\n");
    for (const [k, v] of Object.entries(lastValues)) this.tb!.scalar(`loss/${k}`, v, step);
    this.tb!.scalar("perf/iterations_per_sec", itPerSec, step);
    this.tb!.flush();
    this.progress(step, lastValues, itPerSec, epoch);
  }

  private progress(step: number, values: Record<string, number>, itPerSec: number, epoch: number): void {
    if (this.quiet) return;
    const total = this.cadence.totalSteps;
    const losses = Object.entries(values).map(([k, v]) => `${k}=${v.toFixed(4)}`).join(" ");
    if (process.stderr.isTTY) {
      if (!this.bar) {
        this.bar = new cliProgress.SingleBar(
          { format: "{bar} {value}/{total} | epoch {epoch} | {losses} | {speed} it/s | eta {eta_formatted}", hideCursor: true, stream: process.stderr },
          cliProgress.Presets.shades_classic,
        );
        this.bar.start(total, step, { epoch, losses, speed: itPerSec.toFixed(2) });
      }
      this.bar.update(step, { epoch, losses, speed: itPerSec.toFixed(2) });
    } else {
      console.error(`step ${step}/${total} epoch ${epoch} ${losses} ${itPerSec.toFixed(2)} it/s`);
    }
  }
}
