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
}

interface PthreadWorker {
  unref?: () => void;
  terminate?: () => unknown;
}
