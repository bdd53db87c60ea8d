import * as tf from "@tensorflow/tfjs";
import type { Arena } from "./engine.ts";

/*
 * Registered kernels called directly on the tensors' buffers, below tfjs's engine: what the fused ops of
 * small nets (dense-chain.ts) and the fused losses use so that a kernel costs its arithmetic and no engine
 * bookkeeping (tensor objects, scopes, tape entries). The kernels, their inputs and attributes are the
 * ones the engine would run, so the values are the same bit for bit.
 */

export interface Info {
  dataId: object;
  shape: number[];
  dtype: tf.DataType;
}

interface BackendRefs {
  incRef(dataId: object): void;
  disposeData(dataId: object, force?: boolean): boolean;
}

interface EngineInternals {
  makeTensorFromDataId(dataId: object, shape: number[], dtype: tf.DataType): tf.Tensor;
}

/** Backends whose Reshape only relabels a buffer and whose kernels read shapes from the TensorInfo. */
export const BACKENDS = new Set(["wasm", "cpu"]);

/** GANC_DENSE_CHAIN=off runs dense chains and fused losses through the engine, as before (to compare the two: bench/README.md). */
export let OFF = /^(off|0|false|no)$/i.test((globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env?.GANC_DENSE_CHAIN ?? "");

/** Turns the below-engine paths (dense chains, fused losses) on or off from now on (tests compare the two). */
export function setBelowEngine(on: boolean): void {
  OFF = !on;
}

/** Registered kernels on TensorInfos, outside the engine; every buffer made is released once by `release`. */
export class Below {
  readonly backend: tf.KernelBackend & BackendRefs;
  private readonly name: string;
  private made: Info[] = [];

  constructor() {
    this.backend = tf.backend() as tf.KernelBackend & BackendRefs;
    this.name = tf.getBackend();
  }

  run(kernelName: string, inputs: Record<string, Info | null | undefined>, attrs: Record<string, unknown> = {}): Info {
    const config = tf.getKernel(kernelName, this.name);
    if (config === undefined) throw new Error(`kernel ${kernelName} is not registered for backend '${this.name}'`);
    const ins: Record<string, Info> = {};
    for (const [k, v] of Object.entries(inputs)) if (v != null) ins[k] = v;
    const out = config.kernelFunc({ inputs: ins as unknown as tf.NamedTensorInfoMap, backend: this.backend, attrs: attrs as tf.NamedAttrMap }) as unknown as Info;
    this.made.push(out);
    return out;
  }

  /** The buffer seen with another shape (no reference taken: the backends relabel on Reshape). */
  view(x: Info, shape: number[]): Info {
    return { dataId: x.dataId, shape, dtype: x.dtype };
  }

  /** An engine tensor on `x`'s buffer with a reference of its own. */
  expose(x: Info): tf.Tensor {
    this.backend.incRef(x.dataId);
    return (tf.engine() as unknown as EngineInternals).makeTensorFromDataId(x.dataId, x.shape, x.dtype);
  }

  /** Hands the buffers made so far to `arena` (released when it is disposed) and starts afresh. */
  handTo(arena: Arena): void {
    const held = this.made;
    this.made = [];
    if (held.length > 0) arena.onDispose(() => this.releaseAll(held));
  }

  /** Hands `x` (made here) to `arena`, released when it is disposed; the other buffers stay here. */
  hold(x: Info, arena: Arena): void {
    const i = this.made.indexOf(x);
    if (i < 0) throw new Error("Below.hold: not a buffer made here");
    this.made.splice(i, 1);
    arena.onDispose(() => this.backend.disposeData(x.dataId));
  }

  release(): void {
    const held = this.made;
    this.made = [];
    this.releaseAll(held);
  }

  private releaseAll(infos: Info[]): void {
    for (const x of infos) this.backend.disposeData(x.dataId);
  }
}


/** A Below on the current backend, or null where the engine path must run (other backends, or turned off). */
export function below(): Below | null {
  if (OFF || !BACKENDS.has(tf.getBackend())) return null;
  const backend = tf.backend() as unknown as Partial<BackendRefs>;
  return typeof backend.incRef === "function" ? new Below() : null;
}
