import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, renameSync, writeFileSync, existsSync } from "node:fs";
import { createRequire } from "node:module";
import os from "node:os";
import path from "node:path";
import * as tf from "@tensorflow/tfjs";

/**
 * Multi-threaded tfjs-backend-wasm under Node.
 *
 * tfjs-backend-wasm ships a threaded SIMD build (XNNPACK with a pthreadpool on Web Workers) but
 * turns it off under Node for two reasons that are both about loading, not about running:
 *
 *  1. its pthread worker script is handed to `new Worker()` as a blob: URL, which Node's
 *     worker_threads cannot load, and the worker then loads the main script from a Blob, likewise;
 *  2. XNNPACK's thread count is capped at half of the logical cores the module sees
 *     (`emscripten_num_logical_cores() / 2`, i.e. `os.cpus().length / 2`), so on a 2-core machine
 *     the pool has one thread.
 *
 * Here both scripts are written to files (the worker script is the one tfjs embeds, with its
 * Blob import replaced by the file; the main script is the threaded module factory cut from the
 * same bundle), the blob: URL is answered with the worker file, and the core count the module
 * reads at start-up is doubled so that the pool gets the thread count asked for. All three
 * patches are in place only while the backend initialises.
 *
 * The threads speed up what tfjs runs through XNNPACK with its thread pool: matrix products and
 * convolutions (and XNNPACK's element-wise operators). XNNPACK splits a product by output tiles, each
 * computed in full by one thread in the same order, so results do not depend on the thread count
 * (test/runtime/wasm-threads.test.ts checks a seed GAN's training bit for bit against one thread).
 *
 * GANC_WASM_THREADS=<n> sets the count (default: the machine's available parallelism, at most 8,
 * tfjs's worker pool; with a native BLAS the backend only starts this build when the variable is set);
 * GANC_WASM_THREADS=1 or off keeps the single-threaded SIMD build.
 *
 * Only kernels large enough to pay for the hand-off use the pool (poolPerKernel below);
 * GANC_WASM_POOL=all gives it to every kernel, as tfjs does, for comparisons.
 */

const FACTORY_START = "    var WasmBackendModuleThreadedSimd = (function () {";
const FACTORY_END = "    module.exports = WasmBackendModuleThreadedSimd;";
const WORKER_LINE = "var wasmWorkerContents = ";
const WORKER_BLOB_IMPORT =
  'if(typeof e.data.urlOrBlob=="string"){importScripts(e.data.urlOrBlob)}else{var objectUrl=URL.createObjectURL(e.data.urlOrBlob);importScripts(objectUrl);URL.revokeObjectURL(objectUrl)}';
/** tfjs creates this many pthread workers; XNNPACK's pool can use at most as many. */
const MAX_THREADS = 8;

export type ThreadsPlan = { threads: number; reason?: undefined } | { threads: 1; reason: string };

/** The thread count GANC_WASM_THREADS asks for (1 where it says off). */
export function wantedThreads(env: NodeJS.ProcessEnv = process.env): ThreadsPlan {
  const setting = (env.GANC_WASM_THREADS ?? "").trim();
  if (/^(off|0|false|no|none)$/i.test(setting)) return { threads: 1, reason: "turned off by GANC_WASM_THREADS" };
  const n = Number.parseInt(setting, 10);
  const available = typeof os.availableParallelism === "function" ? os.availableParallelism() : os.cpus().length;
  const threads = Math.min(MAX_THREADS, Number.isInteger(n) && n > 0 ? n : available);
  if (threads <= 1) return { threads: 1, reason: setting !== "" ? "GANC_WASM_THREADS=1" : "one CPU core" };
  if (typeof SharedArrayBuffer === "undefined") return { threads: 1, reason: "no SharedArrayBuffer" };
  return { threads };
}

/** The two scripts the threaded build needs on disk, written once per tfjs-backend-wasm bundle. */
function writeScripts(): { worker: string; main: string } {
  const require = createRequire(import.meta.url);
  const bundleFile = require.resolve("@tensorflow/tfjs-backend-wasm");
  const bundle = readFileSync(bundleFile, "utf8");
  const start = bundle.indexOf(FACTORY_START);
  const end = bundle.indexOf(FACTORY_END, start);
  if (start < 0 || end < 0) throw new Error(`the threaded module factory was not found in ${bundleFile}`);
  const workerLine = bundle.split("\n").find((l) => l.startsWith(WORKER_LINE));
  if (workerLine === undefined) throw new Error(`the pthread worker script was not found in ${bundleFile}`);
  const workerSource = JSON.parse(workerLine.slice(WORKER_LINE.length).replace(/;\s*$/, "")) as string;
  if (!workerSource.includes(WORKER_BLOB_IMPORT)) throw new Error(`the pthread worker script of ${bundleFile} is not the expected one`);

  const hash = createHash("sha256").update(bundle).digest("hex").slice(0, 16);
  const dir = path.join(os.tmpdir(), `ganc-wasm-threads-${hash}`);
  const main = path.join(dir, "main.js");
  const worker = path.join(dir, "worker.js");
  // The factory as tfjs's bundle defines it, with the bundler's names for the Node modules it uses.
  const mainText =
    'var require$$0 = require("fs"), require$$1 = require("path"), require$$3 = require("perf_hooks"), ' +
    'require$$4 = require("os"), commonjsGlobal = globalThis;\n' +
    bundle.slice(start, end) +
    "\n";
  // "\n" inside its string literals is a real newline in the embedded text; tfjs escapes it again too.
  const workerText = workerSource.replace(WORKER_BLOB_IMPORT, `importScripts(${JSON.stringify(main)});`).replace(/\n/g, "\\n");
  mkdirSync(dir, { recursive: true });
  for (const [file, text] of [
    [main, mainText],
    [worker, workerText],
  ] as const) {
    if (existsSync(file) && readFileSync(file, "utf8") === text) continue;
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, text);
    renameSync(tmp, file); // atomic: another process may be reading it
  }
  return { worker, main };
}

interface WasmPackage {
  setThreadsCount?: (n: number) => void;
  getThreadsCount?: () => number;
}

/**
 * Prepares tfjs-backend-wasm to start its threaded build with `threads` threads and runs `activate`
 * (tf.setBackend("wasm")) with the loading patches in place. Throws when the scripts cannot be
 * prepared (the caller then activates the single-threaded build).
 */
export async function activateThreaded(pkg: WasmPackage, threads: number, activate: () => Promise<void>): Promise<void> {
  const { worker } = writeScripts();
  if (typeof pkg.setThreadsCount !== "function") throw new Error("tfjs-backend-wasm has no setThreadsCount");
  pkg.setThreadsCount(threads);
  tf.env().set("WASM_HAS_MULTITHREAD_SUPPORT", true);
  const createObjectURL = URL.createObjectURL;
  const cpus = os.cpus;
  URL.createObjectURL = ((obj: Blob) => (obj instanceof Blob ? worker : createObjectURL(obj))) as typeof URL.createObjectURL;
  os.cpus = () => {
    const real = cpus();
    const want = Math.max(real.length, threads) * 2;
    return Array.from({ length: want }, (_, i) => real[i % real.length]!);
  };
  try {
    await activate();
  } finally {
    URL.createObjectURL = createObjectURL;
    os.cpus = cpus;
  }
  const pthread = (tf.backend() as unknown as { wasm?: { PThread?: { unusedWorkers: PthreadWorker[]; runningWorkers: PthreadWorker[] } } }).wasm
    ?.PThread;
  // tfjs's module starts 8 workers up front; XNNPACK's pool holds the ones it uses from the start, so
  // the idle rest (each a Node isolate of about 13 MB) are stopped (emscripten starts a new one if a
  // thread is ever created later).
  if (pthread !== undefined) {
    for (const w of pthread.unusedWorkers.splice(0)) void w.terminate?.();
  }
  // The pool's workers must not keep the process alive once the program is done.
  for (const w of pthread?.runningWorkers ?? []) w.unref?.();
  if (!/^(all|always)$/i.test((process.env.GANC_WASM_POOL ?? "").trim())) poolPerKernel();
}

interface PthreadWorker {
  unref?: () => void;
  terminate?: () => unknown;
}

/**
 * Per-kernel thread counts on the threaded build.
 *
 * XNNPACK hands every operator it runs to tfjs's thread pool, whatever its size. For a small net the
 * hand-off (waking a worker through Atomics and waiting for it) costs more than the operator:
 * ring8 (128x128x128 products, 128x128 element-wise ops) took 19.5 ms per iteration on 2 threads
 * against 4.2 on one. tfjs runs every XNNPACK operator with the pool that a global of its module
 * points to, and XNNPACK runs an operator on the calling thread alone when that pool is null. So
 * between kernels the global is null, and each registered kernel whose work is at least
 * POOL_MIN_WORK (multiply-adds for products and convolutions, elements otherwise) puts the pool
 * back for its duration. An operator split over threads computes each output tile the same way as
 * one thread does (see above), so the values do not depend on which kernels get the pool.
 */

/** Multiply-adds (products, convolutions) or elements (the rest) from which a kernel gets the pool. */
export const POOL_MIN_WORK = { products: 1 << 23, elements: 1 << 18 } as const;

let minWork: { products: number; elements: number } = { ...POOL_MIN_WORK };
/** Kernels run with the pool and without it since poolPerKernel started (tests read them). */
export const poolCounts = { pooled: 0, alone: 0 };

/** Changes the thresholds (tests: Infinity runs everything on one thread, 0 everything on the pool). */
export function setPoolMinWork(work: { products: number; elements: number }): void {
  minWork = { ...work };
}

const size = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

/** A kernel's work by its inputs: multiply-adds for products and convolutions, elements for the rest. */
export function kernelWork(kernelName: string, inputs: Record<string, { shape: number[] } | null | undefined>, attrs: Record<string, unknown> | undefined): { products: number } | { elements: number } {
  const a = attrs ?? {};
  switch (kernelName) {
    case "BatchMatMul":
    case "_FusedMatMul": {
      const x = inputs.a?.shape;
      const y = inputs.b?.shape;
      if (x === undefined || y === undefined || x.length < 2 || y.length < 2) break;
      const m = a.transposeA ? x[x.length - 1]! : x[x.length - 2]!;
      const k = a.transposeA ? x[x.length - 2]! : x[x.length - 1]!;
      const n = a.transposeB ? y[y.length - 2]! : y[y.length - 1]!;
      const batch = Math.max(size(x.slice(0, -2)), size(y.slice(0, -2)));
      return { products: batch * m * n * k };
    }
    case "Conv2D":
    case "FusedConv2D":
    case "DepthwiseConv2dNative":
    case "FusedDepthwiseConv2D": {
      const x = inputs.x?.shape;
      const f = inputs.filter?.shape;
      if (x === undefined || f === undefined || f.length !== 4) break;
      const strides = (typeof a.strides === "number" ? [a.strides, a.strides] : (a.strides as number[] | undefined)) ?? [1, 1];
      // output positions x window x output channels (per input channel for the depthwise kernels)
      return { products: (size(x) / (strides[0]! * strides[1]!)) * f[0]! * f[1]! * f[3]! };
    }
    case "Conv2DBackpropInput":
    case "Conv2DBackpropFilter": {
      const dy = inputs.dy?.shape;
      const f = kernelName === "Conv2DBackpropInput" ? inputs.filter?.shape : (a.filterShape as number[] | undefined);
      if (dy === undefined || f === undefined || f.length !== 4) break;
      return { products: size(dy) * f[0]! * f[1]! * f[2]! };
    }
  }
  let elements = 0;
  for (const t of Object.values(inputs)) if (t != null) elements = Math.max(elements, size(t.shape));
  return { elements };
}

/** Whether a kernel with this work gets the thread pool. */
export function poolPays(work: { products: number } | { elements: number }): boolean {
  return "products" in work ? work.products >= minWork.products : work.elements >= minWork.elements;
}

interface WasmModule {
  asm?: { memory?: WebAssembly.Memory };
  wasmMemory?: WebAssembly.Memory;
  _get_threads_count?: () => number;
  tfjs?: { getThreadsCount?: () => number };
}

/**
 * The linear-memory address of tfjs's thread-pool global, read from the module's exported
 * `get_threads_count`, whose body starts by loading it: `i32.const ADDR; i32.load`. Undefined when
 * the binary is not laid out that way.
 */
export function poolGlobalAddress(wasm: Uint8Array): number | undefined {
  let p = 8;
  const leb = (): number => {
    let r = 0;
    let shift = 0;
    let byte: number;
    do {
      byte = wasm[p++]!;
      r += (byte & 0x7f) * 2 ** shift;
      shift += 7;
    } while (byte & 0x80);
    return r;
  };
  const name = (): string => {
    const n = leb();
    const s = Buffer.from(wasm.subarray(p, p + n)).toString("utf8");
    p += n;
    return s;
  };
  let imported = 0;
  let fn: number | undefined;
  let code = -1;
  while (p < wasm.length) {
    const id = wasm[p++]!;
    const len = leb();
    const end = p + len;
    if (id === 2) {
      for (let i = leb(); i > 0; i--) {
        name();
        name();
        const kind = wasm[p++]!;
        if (kind === 0) {
          leb();
          imported++;
        } else if (kind === 1) {
          p++;
          if (leb() & 1) leb();
          leb();
        } else if (kind === 2) {
          if (leb() & 1) leb();
          leb();
        } else if (kind === 3) p += 2;
        else return undefined;
      }
    } else if (id === 7) {
      for (let i = leb(); i > 0; i--) {
        const n = name();
        const kind = wasm[p++]!;
        const index = leb();
        if (kind === 0 && n === "get_threads_count") fn = index;
      }
    } else if (id === 10) code = p;
    p = end;
  }
  if (fn === undefined || code < 0 || fn < imported) return undefined;
  p = code;
  leb();
  for (let i = fn - imported; i > 0; i--) {
    const bodySize = leb();
    p += bodySize;
  }
  leb(); // body size
  for (let groups = leb(); groups > 0; groups--) {
    leb();
    p++;
  }
  if (wasm[p++] !== 0x41) return undefined; // i32.const
  // signed LEB128; an address is positive and below 2^31
  let addr = 0;
  let shift = 0;
  let byte: number;
  do {
    byte = wasm[p++]!;
    addr += (byte & 0x7f) * 2 ** shift;
    shift += 7;
  } while (byte & 0x80);
  if (byte & 0x40) return undefined;
  if (wasm[p] !== 0x28) return undefined; // i32.load
  return addr;
}

/**
 * Makes the thread pool of the threaded build the exception: null between kernels, in place while a
 * kernel whose work pays for it runs (see POOL_MIN_WORK). Returns false (and changes nothing) where
 * the module is not the one expected: the pool then stays in place for every kernel, as before.
 */
export function poolPerKernel(backendName = "wasm"): boolean {
  const wasm = (tf.backend() as unknown as { wasm?: WasmModule }).wasm;
  const memory = wasm?.asm?.memory ?? wasm?.wasmMemory;
  if (wasm === undefined || !(memory instanceof WebAssembly.Memory) || typeof wasm._get_threads_count !== "function") return false;
  let addr: number | undefined;
  try {
    const require = createRequire(import.meta.url);
    const dir = path.dirname(require.resolve("@tensorflow/tfjs-backend-wasm"));
    addr = poolGlobalAddress(readFileSync(path.join(dir, "tfjs-backend-wasm-threaded-simd.wasm")));
  } catch {
    return false;
  }
  if (addr === undefined || addr % 4 !== 0 || addr + 4 > memory.buffer.byteLength) return false;
  const threads = wasm._get_threads_count();
  let view = new Int32Array(memory.buffer);
  const pool = view[addr / 4]!;
  if (pool === 0 || threads <= 1) return false;
  // the check that the address is the pool's: without it the module reports no pool (-1)
  view[addr / 4] = 0;
  const without = wasm._get_threads_count();
  view[addr / 4] = pool;
  if (without !== -1 || wasm._get_threads_count() !== threads) return false;

  let on = true;
  const set = (want: boolean) => {
    if (want === on) return;
    if (view.buffer !== memory.buffer) view = new Int32Array(memory.buffer);
    view[addr / 4] = want ? pool : 0;
    on = want;
  };
  // ganc's own helper threads (kernels/wasm/pool.ts) size themselves by the module's count, which
  // reads -1 while the pool is out: they are told the real one.
  if (wasm.tfjs !== undefined) wasm.tfjs.getThreadsCount = () => threads;
  for (const config of tf.getKernelsForBackend(backendName)) {
    const inner = config.kernelFunc;
    if ((inner as { poolPerKernel?: true }).poolPerKernel) continue;
    const wrapped = ((args: { inputs: Record<string, { shape: number[] }>; attrs?: Record<string, unknown> }) => {
      const before = on;
      const pays = poolPays(kernelWork(config.kernelName, args.inputs, args.attrs));
      if (pays) poolCounts.pooled++;
      else poolCounts.alone++;
      set(pays);
      try {
        return inner(args as never);
      } finally {
        set(before);
      }
    }) as unknown as tf.KernelFunc & { poolPerKernel?: true };
    wrapped.poolPerKernel = true;
    config.kernelFunc = wrapped;
  }
  set(false);
  return true;
}
