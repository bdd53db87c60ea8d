import * as tf from "@tensorflow/tfjs";
import { loadBlas, loadDnnl, registerTrainingKernels } from "./kernels/index.ts";
import { recordsOnDataIds } from "./data-storage.ts";

export class BackendError extends Error {
  override name = "BackendError";
}

export type BackendChoice = "auto" | "tensorflow-gpu" | "tensorflow" | "wasm" | "cpu" | "webgpu";

export interface BackendInfo {
  /** tfjs backend name now active: "tensorflow", "wasm", "cpu" or "webgpu". */
  name: string;
  /** Human-readable, e.g. "wasm (SIMD, 1 thread, ganc training kernels)". */
  detail: string;
  /** For "auto": why each better backend was not used, e.g. "tensorflow: @tensorflow/tfjs-node is not installed: ...". */
  fallbacks: string[];
}

const TFJS_NODE_GPU = "@tensorflow/tfjs-node-gpu";
const TFJS_NODE = "@tensorflow/tfjs-node";
const TFJS_WEBGPU = "@tensorflow/tfjs-backend-webgpu";
const DAWN = "webgpu";

/** A backend that could not be used, and why (one line). */
class Unavailable extends Error {}

type Attempt = () => Promise<Omit<BackendInfo, "fallbacks">>;

const attempts: Record<Exclude<BackendChoice, "auto">, Attempt> = {
  "tensorflow-gpu": () => useTensorflow(true),
  tensorflow: () => useTensorflow(false),
  wasm: useWasm,
  cpu: useCpu,
  webgpu: useWebgpu,
};

const AUTO_ORDER = ["tensorflow-gpu", "tensorflow", "wasm", "cpu"] as const;

/**
 * Makes the best available backend (or the one forced by `choice`) the active tfjs backend and
 * registers ganc's training kernels where the stock ones are missing or slow.
 * "auto" tries tfjs-node-gpu (only if it really sees a GPU), tfjs-node, wasm, then cpu.
 * A forced choice that cannot be used throws BackendError saying why.
 */
export async function selectBackend(
  choice: BackendChoice = "auto",
  opts: { log?: (line: string) => void } = {},
): Promise<BackendInfo> {
  const log = opts.log ?? ((line: string) => console.error(line));
  const order = choice === "auto" ? AUTO_ORDER : [choice];
  const fallbacks: string[] = [];
  for (const candidate of order) {
    const attempt = attempts[candidate];
    if (attempt === undefined) throw new BackendError(`unknown backend '${candidate}'`);
    try {
      const info = { ...(await attempt()), fallbacks };
      const skipped = fallbacks.length > 0 ? `; skipped ${fallbacks.join("; ")}` : "";
      log(`backend: ${info.detail}${skipped}`);
      return info;
    } catch (err) {
      const reason = err instanceof Unavailable ? err.message : `failed: ${errorMessage(err)}`;
      if (choice !== "auto") throw new BackendError(`backend '${candidate}' is unavailable: ${reason}`);
      fallbacks.push(`${candidate} (${reason})`);
    }
  }
  throw new BackendError(`no usable backend: ${fallbacks.join("; ")}`);
}

/**
 * Imports an optional package by a computed specifier (so neither TypeScript nor a bundler insists
 * on it being installed), telling "not installed" apart from "installed but broken".
 */
async function importOptional(pkg: string): Promise<unknown> {
  const specifier: string = pkg;
  try {
    return await import(/* @vite-ignore */ specifier);
  } catch (err) {
    if (isMissingPackage(err, pkg)) throw new Unavailable(`${pkg} is not installed: npm install ${pkg}`);
    throw new Unavailable(`${pkg} is installed but failed to load: ${errorMessage(err)}`);
  }
}

function isMissingPackage(err: unknown, pkg: string): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  const message = errorMessage(err);
  const notFound =
    code === "ERR_MODULE_NOT_FOUND" || code === "MODULE_NOT_FOUND" || /cannot find (package|module)/i.test(message);
  // Only when the package itself is missing: a dependency missing inside it is a broken install.
  return notFound && (message.includes(`'${pkg}'`) || message.includes(`"${pkg}"`));
}

function errorMessage(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text.split("\n")[0]!.trim();
}

async function activate(name: string): Promise<void> {
  let ok: boolean;
  try {
    ok = await tf.setBackend(name);
  } catch (err) {
    throw new Unavailable(`the ${name} backend failed to initialise: ${errorMessage(err)}`);
  }
  if (!ok) throw new Unavailable(`the ${name} backend failed to initialise`);
}

async function useTensorflow(gpu: boolean): Promise<Omit<BackendInfo, "fallbacks">> {
  const pkg = gpu ? TFJS_NODE_GPU : TFJS_NODE;
  // tfjs-node and tfjs-node-gpu both register "tensorflow"; if the GPU package already did (and
  // found no GPU) its native CPU path is as good as tfjs-node's, so it is reused.
  if (tf.findBackendFactory("tensorflow") === null) {
    await importOptional(pkg);
    if (tf.findBackendFactory("tensorflow") === null) {
      throw new Unavailable(
        `${pkg} loaded but registered no 'tensorflow' backend with this copy of @tensorflow/tfjs (mismatched versions?)`,
      );
    }
  }
  await activate("tensorflow");
  const native = tf.backend() as { isUsingGpuDevice?: boolean; isGPUPackage?: boolean };
  const loadedFrom = native.isGPUPackage ? "tfjs-node-gpu" : "tfjs-node";
  if (gpu) {
    if (!native.isGPUPackage) throw new Unavailable(`the loaded 'tensorflow' backend is tfjs-node (CPU only)`);
    if (!native.isUsingGpuDevice) {
      throw new Unavailable(`${pkg} loaded but TensorFlow sees no GPU (CUDA/cuDNN libraries missing or no device)`);
    }
    return { name: "tensorflow", detail: `tensorflow (${loadedFrom}, GPU)` };
  }
  return { name: "tensorflow", detail: `tensorflow (${loadedFrom}, native CPU)` };
}

async function useWasm(): Promise<Omit<BackendInfo, "fallbacks">> {
  let wasm: { getThreadsCount?: () => number; setThreadsCount?: (n: number) => void };
  try {
    wasm = await import("@tensorflow/tfjs-backend-wasm");
  } catch (err) {
    throw new Unavailable(`@tensorflow/tfjs-backend-wasm failed to load: ${errorMessage(err)}`);
  }
  // Products and convolutions on a native BLAS where one is installed (GANC_BLAS=off: never).
  const blas = loadBlas();
  // With a BLAS, the convolutions on oneDNN where it is installed (GANC_DNNL=off: never).
  const dnnl = blas.ok ? loadDnnl() : null;
  // Registered before activation so that the stock setup of wrapped kernels still runs at init.
  registerTrainingKernels("wasm", { blas: blas.ok ? blas.blas : false, dnnl: dnnl?.ok ? dnnl.dnnl : false });
  // tfjs-backend-wasm's threaded build where Node can run it (src/runtime/wasm-threads.ts).
  // Without it (GANC_WASM_THREADS=off, one core, or its scripts cannot be prepared), the
  // single-threaded SIMD build, as tfjs-backend-wasm itself chooses under Node.
  const threaded = await prepareThreads(blas.ok);
  let started = false;
  const start = () => {
    started = true;
    return activate("wasm");
  };
  if (threaded.ok) {
    try {
      await threaded.activate(wasm, start);
    } catch (err) {
      if (started) throw err;
      tf.env().set("WASM_HAS_MULTITHREAD_SUPPORT", false);
      await start();
    }
  } else await start();
  if (!/^(off|0|false|no)$/i.test(process.env.GANC_FAST_STORAGE ?? "")) recordsOnDataIds(tf.backend(), tf.engine());
  const simd = await tf.env().getAsync("WASM_HAS_SIMD_SUPPORT");
  const threads = wasm.getThreadsCount?.() ?? 1;
  const plural = (n: number) => `${n} thread${n === 1 ? "" : "s"}`;
  const products = blas.ok
    ? `matmul/conv on ${blas.blas.name}${blas.blas.threads !== undefined ? `, ${plural(blas.blas.threads)}` : ""}` +
      (dnnl?.ok ? `; convolutions on ${dnnl.dnnl.name}` : `; convolutions by im2col and sgemm (oneDNN: ${dnnl?.reason ?? "not loaded"})`)
    : `no native BLAS: ${blas.reason}`;
  return {
    name: "wasm",
    detail: `wasm (${simd ? "SIMD" : "no SIMD"}, ${plural(threads)}, ganc training kernels; ${products})`,
  };
}

type ThreadsPrep =
  | { ok: true; activate: (pkg: { setThreadsCount?: (n: number) => void }, go: () => Promise<void>) => Promise<void> }
  | { ok: false; reason: string };

/** Whether to start tfjs-backend-wasm's threaded build, and how (only once per process: tfjs keeps its first module). */
async function prepareThreads(withBlas: boolean): Promise<ThreadsPrep> {
  if (typeof process === "undefined" || process.versions?.node === undefined) return { ok: false, reason: "not Node" };
  // With a native BLAS the products already use every core; the threaded build there cost 70-80 MB of
  // peak RSS without a gain shown yet (bench/README.md), so it runs only when GANC_WASM_THREADS asks.
  if (withBlas && (process.env.GANC_WASM_THREADS ?? "").trim() === "") return { ok: false, reason: "a native BLAS runs the products" };
  // (tf.findBackend would start initialising it: the engine's registry is read instead)
  const engine = tf.engine() as unknown as { registry?: Record<string, unknown>; pendingBackendInit?: unknown };
  if (engine.registry?.wasm !== undefined || engine.pendingBackendInit != null) {
    return { ok: false, reason: "the wasm backend was already initialised" };
  }
  try {
    const mod = await import("./wasm-threads.ts");
    const plan = mod.wantedThreads();
    if (plan.reason !== undefined) return { ok: false, reason: plan.reason };
    return { ok: true, activate: (pkg, go) => mod.activateThreaded(pkg, plan.threads, go) };
  } catch (err) {
    return { ok: false, reason: errorMessage(err) };
  }
}

async function useCpu(): Promise<Omit<BackendInfo, "fallbacks">> {
  registerTrainingKernels("cpu");
  await activate("cpu");
  return { name: "cpu", detail: "cpu (plain JavaScript, ganc training kernels)" };
}

async function useWebgpu(): Promise<Omit<BackendInfo, "fallbacks">> {
  // In Node, WebGPU needs both the tfjs backend and a native implementation (Dawn, the `webgpu` package) that
  // provides navigator.gpu. The tfjs backend registers itself when its module is evaluated, and only where
  // navigator.gpu exists then: so Dawn first, navigator.gpu, and only then the backend's module.
  // (A program bundled with the backend and Dawn registers it before this runs: nothing to import then.)
  const g = globalThis as { navigator?: { gpu?: GpuLike } };
  if (tf.findBackendFactory("webgpu") === null) {
    if (g.navigator?.gpu === undefined) {
      const dawn = (await importOptional(DAWN)) as { create?: (flags: string[]) => GpuLike; globals?: object };
      if (typeof dawn.create !== "function") throw new Unavailable(`${DAWN} does not export create()`);
      Object.assign(globalThis, dawn.globals ?? {});
      Object.defineProperty(globalThis, "navigator", {
        value: { ...(g.navigator ?? {}), gpu: dawn.create([]) },
        configurable: true,
        writable: true,
      });
    }
    await importOptional(TFJS_WEBGPU);
    if (tf.findBackendFactory("webgpu") === null) {
      throw new Unavailable(`${TFJS_WEBGPU} loaded before navigator.gpu existed and registered no 'webgpu' backend`);
    }
  }
  // tfjs would fail on a missing adapter with a TypeError; say what is missing instead.
  const adapter = await g.navigator!.gpu!.requestAdapter();
  if (adapter === null) throw new Unavailable("no WebGPU adapter (Dawn found no usable Vulkan, Metal or D3D12 device)");
  await activate("webgpu");
  registerTrainingKernels("webgpu");
  const info = adapter.info ?? {};
  const device = [info.vendor, info.architecture, info.description || info.device].filter((p) => p).join(" ");
  return { name: "webgpu", detail: `webgpu (Dawn${device ? `, ${device}` : ""}, ganc training kernels)` };
}

interface GpuLike {
  requestAdapter(): Promise<{ info?: { vendor?: string; architecture?: string; device?: string; description?: string } } | null>;
}
