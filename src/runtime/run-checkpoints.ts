import * as path from "node:path";
import * as tf from "@tensorflow/tfjs";
import { CheckpointError, loadLatestCheckpoint, saveCheckpoint, type SavedTensor } from "./checkpoint.ts";
import { checkpointPayload, hiddenState, type RunIdentity, type RunPosition, type RunWeights } from "./checkpoint-payload.ts";
import type { IteratorState } from "./data.ts";
import { TrainingError, type Init } from "./run-spec.ts";

/** A declared variable and how it was initialised. */
export interface VarEntry {
  v: tf.Variable;
  init: Init;
}

export type { RunIdentity, RunPosition, RunWeights };

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
    const { meta, tensors } = await checkpointPayload(w, pos, id, this.last);
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
    // Sampling draws no batch: a run folder without the settings `ganc train` keeps (one the PyTorch trainer
    // made on its own) samples whatever batch it trained with.
    if (meta.batch !== run.batch && !run.sampling) {
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
    // Sampling takes no step: the optimizers' moments (for Adam twice the weights they train) are left out.
    for (const [step, opt] of run.sampling ? [] : w.optimizers) {
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
