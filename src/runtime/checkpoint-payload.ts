import * as tf from "@tensorflow/tfjs";
import type { IteratorState } from "./data.ts";
import { TrainingError, type Init } from "./run-spec.ts";

/*
 * What a checkpoint holds and how a run's tensors become one. No Node modules here: checkpoint.ts writes
 * the payload to disk, and the playground's page encodes the same payload into a download.
 */

export interface SavedTensor {
  name: string;
  shape: number[];
  dtype: "float32" | "int32";
  data: Float32Array | Int32Array;
}

/** `meta` is stored as JSON (JSON.stringify semantics): step, epoch, iterator and rng state, spec hash, ... */
export interface CheckpointPayload {
  meta: Record<string, unknown>;
  tensors: SavedTensor[];
}

/** What a checkpoint holds of a run's tensors. */
export interface RunWeights {
  vars: Map<string, { v: tf.Variable; init: Init }>;
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

/**
 * A run's variables (`var:`), states (`state:`) and optimizer weights (`opt:<step>:<i>`, and `optx:` for
 * Adam's running products) with its position as meta. Refuses weights holding NaN or Inf; `last` names the
 * last good checkpoint in that message.
 */
export async function checkpointPayload(w: RunWeights, pos: RunPosition, id: RunIdentity, last: string | null): Promise<CheckpointPayload> {
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
          (last ? `The last good checkpoint is ${last}.` : "No checkpoint was written yet."),
      );
    }
  }
  const meta = { spec: id.spec, specHash: id.specHash, step: pos.step, iterator: pos.iterator, rng: pos.rng, dropoutSeed: pos.dropoutSeed, optimizers: optMeta, backend: id.backend, batch: id.batch, seed: id.seed };
  return { meta, tensors };
}

/** Reads the tensors' values (in sorted name order) into SavedTensors for saveCheckpoint. */
export async function tensorsToSaved(named: Record<string, tf.Tensor>): Promise<SavedTensor[]> {
  const out: SavedTensor[] = [];
  for (const name of Object.keys(named).sort()) {
    const t = named[name];
    if (t.dtype !== "float32" && t.dtype !== "int32") {
      throw new TypeError(`tensorsToSaved: tensor ${JSON.stringify(name)} has dtype ${t.dtype}; only float32 and int32 can be saved`);
    }
    const values = await t.data();
    // Copy, so later changes to a backend buffer cannot alter what gets saved: the cpu backend hands
    // out its own buffer. The wasm backend's read is already a fresh copy of its heap (slice), and
    // a second one would add the model's size again to the peak memory of every checkpoint.
    const fresh = tf.getBackend() === "wasm";
    const data =
      t.dtype === "float32"
        ? fresh ? (values as Float32Array) : new Float32Array(values as Float32Array)
        : fresh ? (values as Int32Array) : new Int32Array(values as Int32Array);
    out.push({ name, shape: [...t.shape], dtype: t.dtype, data });
  }
  return out;
}

/**
 * Optimizer state that getWeights() leaves out. Adam keeps beta1^t and beta2^t as running products; its
 * setWeights() recomputes them with pow(), which differs in the last bit, so a resumed run would drift
 * from an uninterrupted one. Saving the products themselves keeps resume exact.
 */
export function hiddenState(opt: tf.Optimizer): Record<string, tf.Variable> {
  const o = opt as unknown as { accBeta1?: tf.Variable; accBeta2?: tf.Variable };
  return o.accBeta1 instanceof tf.Variable && o.accBeta2 instanceof tf.Variable ? { accBeta1: o.accBeta1, accBeta2: o.accBeta2 } : {};
}
