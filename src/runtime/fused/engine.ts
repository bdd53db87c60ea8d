import * as tf from "@tensorflow/tfjs";
import { GANC_KERNELS, type GancKernelKind } from "../kernels/names.ts";

/*
 * The few engine facilities the fused ops need beyond tfjs's public ops. Each is what a tfjs op does
 * internally, minus the bookkeeping that makes a training step cost ~4x more engine calls than it has
 * arithmetic kernels (Identity copies of every saved tensor, Reshapes, Casts to the same dtype).
 */

interface KernelFuncParams {
  forwardFunc: (backend: tf.KernelBackend, save: (tensors: tf.Tensor[]) => void) => tf.Tensor | tf.Tensor[];
  backwardsFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => Record<string, () => tf.Tensor>;
  inputs: Record<string, tf.Tensor>;
}

interface EngineInternals {
  runKernelFunc(p: KernelFuncParams): tf.Tensor | tf.Tensor[];
  makeTensorFromDataId(dataId: object, shape: number[], dtype: tf.DataType): tf.Tensor;
  backend: tf.KernelBackend & { incRef?: (dataId: object) => void };
  backendName: string;
}

const engine = () => tf.engine() as unknown as EngineInternals;

export { below, type Below, type Info } from "./below.ts";

/** Backends whose Reshape kernel only relabels the buffer (no copy, no program): a view is exactly that. */
const RELABEL_BACKENDS = new Set(["cpu", "wasm", "webgpu"]);

/**
 * `x` seen with another shape, sharing its buffer. On cpu, wasm and webgpu this is what their Reshape
 * kernel does (increment the buffer's reference count, new shape), done without an engine call; on other
 * backends it is tf.reshape. Never recorded on a gradient tape: use it only on values no tfjs gradient
 * flows through (inside a fused op, or on gradients and optimizer state).
 */
export function view<T extends tf.Tensor = tf.Tensor>(x: tf.Tensor, shape: readonly number[]): T {
  const full = inferShape(x.size, shape);
  const e = engine();
  if (!RELABEL_BACKENDS.has(tf.getBackend()) || typeof e.backend.incRef !== "function") return tf.reshape(x, full) as T;
  e.backend.incRef(x.dataId);
  return e.makeTensorFromDataId(x.dataId, full, x.dtype) as T;
}

function inferShape(size: number, shape: readonly number[]): number[] {
  const out = [...shape];
  const unknown = out.indexOf(-1);
  if (unknown >= 0) out[unknown] = size / out.reduce((a, d, i) => (i === unknown ? a : a * d), 1);
  if (out.reduce((a, d) => a * d, 1) !== size) throw new Error(`view: cannot see ${size} elements as [${shape.join(", ")}]`);
  return out;
}

/**
 * Whether a gradient tape records the ops run now: inside the function tf.grads (or tf.grad, tf.customGrad's
 * caller...) differentiates, outside any kernel (tfjs's own test, isTapeOn). A backward pass run by an outer
 * tf.grads's backpropagation is not recorded; one run inside another tf.grads's function is (a second derivative).
 */
export function tapeRecording(): boolean {
  const state = (tf.engine() as unknown as { state: { gradientDepth: number; kernelDepth: number } }).state;
  return state.gradientDepth > 0 && state.kernelDepth === 0;
}

/** One registered kernel through the engine (counted by tf.profile, recorded on a tape only if one is on). */
export function kernel(name: string, inputs: Record<string, tf.Tensor | null | undefined>, attrs: Record<string, unknown> = {}): tf.Tensor {
  return runKernel(name, inputs, attrs) as tf.Tensor;
}

/** One registered kernel with several outputs, through the engine as `kernel`. */
export function kernels(name: string, inputs: Record<string, tf.Tensor | null | undefined>, attrs: Record<string, unknown> = {}): tf.Tensor[] {
  return runKernel(name, inputs, attrs) as tf.Tensor[];
}

/** tfjs's runKernel with the absent (null or undefined) inputs left out. */
function runKernel(name: string, inputs: Record<string, tf.Tensor | null | undefined>, attrs: Record<string, unknown>): tf.Tensor | tf.Tensor[] {
  const ins: Record<string, tf.Tensor> = {};
  for (const [k, v] of Object.entries(inputs)) if (v != null) ins[k] = v;
  return tf.engine().runKernel(name, ins as tf.NamedTensorMap, attrs as tf.NamedAttrMap);
}

/** The name of one of ganc's own kernels where the current backend has it registered, else null (it is on some backends only). */
export function gancKernel(kind: GancKernelKind): string | null {
  const name = GANC_KERNELS[kind];
  return tf.getKernel(name, tf.getBackend()) !== undefined ? name : null;
}

/**
 * An op with several outputs and a hand-written backward, recorded as one node on the gradient tape.
 * This is tf.customGrad (which allows one output only) at the engine level: `forward` runs with the tape
 * off, and `backward` gets one gradient per output (zeros for outputs no loss reads) and returns one per
 * input, in the order of `inputs`.
 */
export function customOp(
  name: string,
  inputs: readonly tf.Tensor[],
  forward: () => tf.Tensor[],
  backward: (dys: tf.Tensor[]) => tf.Tensor[],
): tf.Tensor[] {
  const map: Record<string, tf.Tensor> = {};
  inputs.forEach((t, i) => (map[i] = t));
  let count = 0;
  const out = tf.tidy(name, () => {
    const r = engine().runKernelFunc({
      inputs: map,
      forwardFunc: () => {
        const outs = forward();
        count = outs.length;
        return outs;
      },
      backwardsFunc: (dy) => {
        const dys = Array.isArray(dy) ? dy : [dy];
        if (dys.length !== count) throw new Error(`${name}: expected ${count} output gradients, got ${dys.length}`);
        const grads = backward(dys);
        if (grads.length !== inputs.length) throw new Error(`${name}: backward returned ${grads.length} gradients for ${inputs.length} inputs`);
        const m: Record<string, () => tf.Tensor> = {};
        grads.forEach((g, i) => (m[i] = () => g));
        return m;
      },
    });
    return Array.isArray(r) ? r : [r];
  });
  return out;
}

/**
 * Tensors a fused op keeps from its forward pass for its backward pass. tf.tidy would free them when the
 * forward returns, so they are kept, and freed here: after the backward pass that used them, or when the
 * step (or, for a forward pass reused by a later step, the iteration) ends.
 */
export class Arena {
  private readonly held: tf.Tensor[] = [];
  private readonly finalizers: (() => void)[] = [];

  keep<T extends tf.Tensor>(t: T): T {
    this.held.push(tf.keep(t));
    return t;
  }

  /** Runs `release` when the arena is disposed (buffers held outside the engine: see dense-chain.ts). */
  onDispose(release: () => void): void {
    this.finalizers.push(release);
  }

  dispose(): void {
    for (const t of this.held) if (!t.isDisposed) t.dispose();
    this.held.length = 0;
    for (const f of this.finalizers.splice(0)) f();
  }
}

const scalars = new Map<string, tf.Scalar>();

/**
 * A float32 scalar created once and kept for the life of the process (hoisted constants). tfjs turns a
 * number operand into a fresh scalar tensor on every call; this is the same value without the upload.
 */
export function constant(value: number): tf.Scalar {
  const key = `${tf.getBackend()}:${Object.is(value, -0) ? "-0" : value}`;
  let s = scalars.get(key);
  if (!s || s.isDisposed) {
    s = tf.tidy(() => tf.keep(tf.scalar(value, "float32")));
    scalars.set(key, s);
  }
  return s;
}

const filled = new Map<string, tf.Tensor>();

/**
 * A tensor of zeros (or ones) of a shape, allocated once; each call returns a view of it, so the caller
 * (or the gradient tape, which disposes gradients it has added up) may dispose what it gets.
 */
export function filledView(value: 0 | 1, shape: readonly number[]): tf.Tensor {
  const key = `${tf.getBackend()}:${value}:${shape.join(",")}`;
  let t = filled.get(key);
  if (!t || t.isDisposed) {
    t = tf.tidy(() => tf.keep(value === 0 ? tf.zeros(shape as number[]) : tf.ones(shape as number[])));
    filled.set(key, t);
  }
  return RELABEL_BACKENDS.has(tf.getBackend()) ? view(t, shape) : t.clone();
}

/**
 * The gradients of `f` at `xs` for the output gradient `dy` (tf.grads), callable inside a fused op's backward
 * pass, that is, while tfjs's engine is running another gradient computation. A gradient computation
 * started there replaces the engine's tape with its own and clears it when done, and the outer computation
 * then finds no tape to clean up; so the outer tape is put back afterwards (its nodes were already read).
 */
export function vjp(f: (...xs: tf.Tensor[]) => tf.Tensor, xs: readonly tf.Tensor[], dy: tf.Tensor): tf.Tensor[] {
  const state = (engine() as unknown as { state: { activeTape: unknown } }).state;
  const outer = state.activeTape;
  try {
    return tf.grads(f)([...xs], dy);
  } finally {
    state.activeTape = outer;
  }
}
