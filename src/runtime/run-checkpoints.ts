import * as path from "node:path";
import * as tf from "@tensorflow/tfjs";
import { CheckpointError, loadLatestCheckpoint, saveCheckpoint, tensorsToSaved, type SavedTensor } from "./checkpoint.ts";
import type { IteratorState } from "./data.ts";
import { TrainingError, type Init } from "./run-spec.ts";

/** A declared variable and how it was initialised. */
export interface VarEntry {
  v: tf.Variable;
  init: Init;
}

/** What a checkpoint holds of a run's tensors. */
export interface RunWeights {
  vars: Map<string, VarEntry>;
  states: Map<string, tf.Variable>;
  optimizers: Map<string, tf.Optimizer>;
}

/** Where a run stood: enough to continue it as if it had not stopped. */
export interface RunPosition {
  step: number;
  iterator: IteratorState;
  rng: number[];
  dropoutSeed: number;
}

/** The run a checkpoint belongs to, written beside its position. */
export interface RunIdentity {
  spec: string;
  specHash: string;
  backend: string;
  batch: number;
  seed: number;
}

/** `<run>/checkpoints/`: writes a run's weights and position, and restores the newest good one. */
export class RunCheckpoints {
  /** The newest checkpoint written or restored, for messages. */
  last: string | null = null;
  readonly dir: string;

  constructor(
    runDir: string,
    private readonly keep: number,
  ) {
    this.dir = path.join(runDir, "checkpoints");
  }

  async save(w: RunWeights, pos: RunPosition, id: RunIdentity): Promise<string> {
    const named: Record<string, tf.Tensor> = {};
    for (const [name, e] of w.vars) named[`var:${name}`] = e.v;
    for (const [name, s] of w.states) named[`state:${name}`] = s;
    const optMeta: Record<string, string[]> = {};
    const temporary: tf.Tensor[] = [];
    for (const [step, opt] of w.optimizers) {
      const ws = await opt.getWeights();
      optMeta[step] = ws.map((x) => x.name);
      ws.forEach((x, i) => (named[`opt:${step}:${i}`] = x.tensor));
      // getWeights() makes a fresh tensor for the iteration count; the moments are the live variables.
      for (const x of ws) if (!(x.tensor instanceof tf.Variable)) temporary.push(x.tensor);
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
          `variable ${t.name.slice(4)} holds ${t.data[bad]} at iteration ${pos.step} (a NaN or Inf gradient reached it): training stopped. ` +
            (this.last ? `The last good checkpoint is ${this.last}.` : "No checkpoint was written yet."),
        );
      }
    }
    const meta = { spec: id.spec, specHash: id.specHash, step: pos.step, iterator: pos.iterator, rng: pos.rng, dropoutSeed: pos.dropoutSeed, optimizers: optMeta, backend: id.backend, batch: id.batch, seed: id.seed };
    const file = saveCheckpoint(this.dir, pos.step, { meta, tensors }, { keep: this.keep });
    this.last = file;
    return file;
  }

  /**
   * Loads the newest good checkpoint into `w` and returns where the run stood. `batchChange`: the
   * run's batch was changed on purpose (--override), so the data position is carried over in samples.
   */
  async restore(
    w: RunWeights,
    run: { specHash: string; batch: number; stepsPerEpoch: number; batchChange: boolean; sampling: boolean },
    say: (line: string) => void,
  ): Promise<RunPosition & { backend: string }> {
    const found = loadLatestCheckpoint(this.dir, (file, reason) => say(`skipping checkpoint ${file}: ${reason}`));
    if (!found) throw new TrainingError(run.sampling ? `no checkpoint in ${this.dir}: train first` : `--resume: no checkpoint in ${this.dir}`);
    const { meta, tensors } = found.payload;
    if (meta.specHash !== run.specHash) {
      throw new TrainingError(`--resume: ${found.file} was written by a different spec (or a different version of it); start a new run folder`);
    }
    let iterator = meta.iterator as IteratorState;
    if (meta.batch !== run.batch) {
      if (!run.batchChange) throw new TrainingError(`--resume: the checkpoint was trained with batch ${String(meta.batch)}, not ${run.batch}`);
      // The epoch's order does not depend on the batch: continue at the same sample, in batches of the new size.
      iterator = { epoch: iterator.epoch, cursor: Math.min(run.stepsPerEpoch, Math.floor((iterator.cursor * (meta.batch as number)) / run.batch)) };
    }
    const byName = new Map(tensors.map((t) => [t.name, t]));
    const take = (name: string): SavedTensor => {
      const t = byName.get(name);
      if (!t) throw new CheckpointError(found.file, `missing tensor ${name}`);
      return t;
    };
    for (const [name, e] of w.vars) {
      const t = take(`var:${name}`);
      if (t.shape.join(",") !== e.v.shape.join(",")) throw new CheckpointError(found.file, `${name} has shape [${t.shape}], expected [${e.v.shape}]`);
      tf.tidy(() => e.v.assign(tf.tensor(t.data, t.shape, t.dtype)));
    }
    for (const [name, s] of w.states) tf.tidy(() => s.assign(tf.tensor(take(`state:${name}`).data, [])));
    const optMeta = meta.optimizers as Record<string, string[]>;
    for (const [step, opt] of w.optimizers) {
      const names = optMeta[step] ?? [];
      const weights = names.map((n, i) => {
        const t = take(`opt:${step}:${i}`);
        return { name: n, tensor: tf.tensor(t.data, t.shape, t.dtype) };
      });
      await opt.setWeights(weights);
      for (const x of weights) x.tensor.dispose(); // setWeights copied them into its own variables
      for (const [k, v] of Object.entries(hiddenState(opt))) {
        const t = byName.get(`optx:${step}:${k}`);
        if (t) tf.tidy(() => v.assign(tf.tensor(t.data, t.shape, t.dtype)));
      }
    }
    this.last = found.file;
    return { step: meta.step as number, iterator, rng: meta.rng as number[], dropoutSeed: meta.dropoutSeed as number, backend: String(meta.backend) };
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
