/**
 * Helper threads for ganc's element-wise wasm kernels on tfjs-backend-wasm's shared heap (its
 * threaded build, src/runtime/wasm-threads.ts). Each helper is a worker_thread with its own instance
 * of ganc's module on the same memory; a kernel over n elements is cut into equal ranges (multiples
 * of 4 elements), the calling thread runs the first, the helpers the others, and the caller waits
 * until all are done (Atomics.wait: allowed on Node's main thread). Element-wise kernels compute
 * each element alone, so the result does not depend on how the range is cut.
 *
 * Where there is no shared heap, no worker_threads (browsers) or one thread, `pool` is undefined and
 * the kernels run on the calling thread as before.
 */

/** Control words (Int32, in their own SharedArrayBuffer): generation, jobs done, then per helper its job. */
const GEN = 0;
const DONE = 1;
/** Per job: function id, then up to 16 arguments as float64. */
const ARGS = 17;

/**
 * The kernels helpers run, by index (FN_* below): each computes its elements, or its rows, independently of the
 * others, so the result does not depend on how the work is cut.
 */
export const POOLED = ["adam", "relu_grad", "greater_scalar", "select", "batch_norm", "upsample_nearest", "bn_grad_dx", "expf"] as const;

const WORKER_SOURCE = `
const { workerData } = require("node:worker_threads");
const { module, memory, control, args, index } = workerData;
const k = new WebAssembly.Instance(module, { env: { memory } }).exports;
const ctl = new Int32Array(control);
const a = new Float64Array(args);
const fns = ${JSON.stringify(POOLED)}.map((name) => k[name]);
let seen = 0;
for (;;) {
  Atomics.wait(ctl, 0, seen);
  seen = Atomics.load(ctl, 0);
  const base = index * ${ARGS};
  try {
    const fn = fns[a[base]];
    if (fn !== undefined) fn.apply(null, Array.from(a.subarray(base + 1, base + ${ARGS})));
  } finally {
    Atomics.add(ctl, 1, 1);
    Atomics.notify(ctl, 1);
  }
}
`;

/** The index of a pooled kernel in POOLED. */
export const fnIndex = (name: (typeof POOLED)[number]): number => POOLED.indexOf(name);

export interface Pool {
  /** Helper threads (the caller is one more). */
  helpers: number;
  /**
   * Runs `fn` over [0, n) elements cut into helpers + 1 ranges: `call(lo, hi)` gives the arguments for
   * [lo, hi) (lo and hi multiples of 4 but the last hi); the caller's own range runs through `local`.
   */
  run(fn: number, n: number, call: (lo: number, hi: number) => number[], local: (args: number[]) => void): void;
}

const pools = new WeakMap<WebAssembly.Memory, Pool | null>();

/** Below this many elements a kernel runs on the calling thread alone (waking helpers costs more). */
export const MIN_PARALLEL = 1 << 16;

/** The pool for `memory` (created on first use), or undefined where helpers cannot run. */
export function poolFor(memory: WebAssembly.Memory, module: WebAssembly.Module, threads: number): Pool | undefined {
  if (pools.has(memory)) return pools.get(memory) ?? undefined;
  let pool: Pool | null = null;
  try {
    pool = threads > 1 && memory.buffer instanceof SharedArrayBuffer ? makePool(memory, module, threads - 1) : null;
  } catch {
    pool = null;
  }
  pools.set(memory, pool);
  return pool ?? undefined;
}

function makePool(memory: WebAssembly.Memory, module: WebAssembly.Module, helpers: number): Pool | null {
  const req = (globalThis as { process?: { getBuiltinModule?: (m: string) => unknown } }).process?.getBuiltinModule;
  const wt = (typeof req === "function" ? req("node:worker_threads") : undefined) as typeof import("node:worker_threads") | undefined;
  if (wt === undefined) return null;
  const control = new SharedArrayBuffer(4 * 2);
  const args = new SharedArrayBuffer(8 * ARGS * helpers);
  const ctl = new Int32Array(control);
  const a = new Float64Array(args);
  for (let index = 0; index < helpers; index++) {
    const w = new wt.Worker(WORKER_SOURCE, { eval: true, workerData: { module, memory, control, args, index } });
    w.unref();
  }
  return {
    helpers,
    run(fn, n, call, local) {
      const parts = helpers + 1;
      const step = Math.ceil(n / parts / 4) * 4;
      const bounds = (i: number): [number, number] => [Math.min(n, i * step), Math.min(n, (i + 1) * step)];
      for (let i = 0; i < helpers; i++) {
        const [lo, hi] = bounds(i + 1);
        const base = i * ARGS;
        a[base] = fn;
        const list = call(lo, hi);
        for (let j = 0; j < list.length; j++) a[base + 1 + j] = list[j]!;
      }
      Atomics.store(ctl, DONE, 0);
      Atomics.add(ctl, GEN, 1);
      Atomics.notify(ctl, GEN);
      const [lo, hi] = bounds(0);
      local(call(lo, hi));
      for (;;) {
        const done = Atomics.load(ctl, DONE);
        if (done >= helpers) break;
        Atomics.wait(ctl, DONE, done);
      }
    },
  };
}
