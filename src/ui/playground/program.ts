import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-wasm";
import { setWasmPaths } from "@tensorflow/tfjs-backend-wasm";
import "@tensorflow/tfjs-backend-webgpu";
import { compileText } from "../../compile.ts";
import { loadDataset } from "../../data/index.ts";
import { limited } from "../../data/limit.ts";
import { fetchDigits } from "./digits.ts";
import type { Dataset } from "../../runtime/data.ts";
import { registerTrainingKernels } from "../../runtime/kernels/index.ts";
import type { SpecInfo } from "../../runtime/run-spec.ts";
import { loadTrainer, PlaygroundError } from "./trainer-module.ts";

export { PlaygroundError };

/**
 * From spec text to a trainer running in the page: the compiler (src/compile.ts, what `ganc compile` runs)
 * writes the TypeScript trainer, sucrase strips its types, and it runs with the page's `ganc/runtime`
 * (runtime.ts) in place of the Node one.
 */

export interface Trainer {
  SPEC: SpecInfo;
  main(argv: string[]): Promise<number>;
  /** The generated TypeScript, as `ganc compile` writes it. */
  code: string;
}

export function compileTrainer(text: string, file: string): Trainer {
  const r = compileText(text, file, { source: file });
  if (r.code === null) {
    const first = r.diagnostics.find((d) => d.severity === "error");
    throw new PlaygroundError(first ? `the spec has errors (${first.code}: ${first.message})` : "the spec did not compile");
  }
  return { ...loadTrainer(r.code), code: r.code };
}

/** Data the page can load: the toy 2-D sources, and the embedded MNIST digits (files are the command line's). */
export const PAGE_SOURCES = ["ring8", "grid25", "mnist"];

export async function pageDataset(spec: SpecInfo, seed: number): Promise<Dataset> {
  const d = spec.data;
  if (!PAGE_SOURCES.includes(d.source) || (d.source === "mnist" && d.path !== null)) {
    const what = d.path !== null ? `data source ${d.source} with path "${d.path}"` : `data source ${d.source}`;
    throw new PlaygroundError(`${what} reads files, which the page cannot: train it with ganc train, or use ring8, grid25 or mnist (the embedded digits) here`);
  }
  // As src/data/mnist.ts without a path: the embedded digits, limited as the spec says.
  if (d.source === "mnist") return limited(await fetchDigits(), d.args.limit);
  // The same door as the command line (src/runtime/run-data.ts): the source's own loader, the run's seed.
  return loadDataset(d, { specFile: spec.source, seed });
}

export type PageBackend = "webgpu" | "webgl" | "wasm" | "cpu";
export const PAGE_BACKENDS: readonly PageBackend[] = ["webgpu", "webgl", "wasm", "cpu"];

let wasmPathsSet = false;

/**
 * Makes `choice` (or, for "auto", the first that works of WebGPU, WebGL, wasm, cpu) the active tfjs backend,
 * with ganc's training kernels on wasm and cpu as `ganc train` registers them. Returns what it chose and why
 * it skipped the others.
 */
export async function usePageBackend(choice: PageBackend | "auto"): Promise<{ name: PageBackend; detail: string; skipped: string[] }> {
  const order = choice === "auto" ? PAGE_BACKENDS : [choice];
  const skipped: string[] = [];
  for (const name of order) {
    try {
      if (name === "webgpu") {
        // Asked first, so that a browser with WebGPU but no adapter (headless, blocklisted GPUs) skips it quietly.
        const gpu = (navigator as { gpu?: { requestAdapter(): Promise<unknown> } }).gpu;
        if (!gpu) throw new Error("this browser has no WebGPU");
        if (!(await gpu.requestAdapter().catch(() => null))) throw new Error("WebGPU has no adapter here");
      }
      if (name === "wasm" && !wasmPathsSet) {
        // The binaries lie beside app.js (scripts/build-playground.mjs copies them).
        setWasmPaths(new URL("./", document.baseURI).href);
        wasmPathsSet = true;
      }
      if (name === "wasm" || name === "cpu" || name === "webgpu") registerTrainingKernels(name);
      if (!(await tf.setBackend(name))) throw new Error("failed to initialise");
      await tf.ready();
      const detail = name === "wasm" ? `wasm (${(await tf.env().getAsync("WASM_HAS_SIMD_SUPPORT")) ? "SIMD" : "no SIMD"}, ganc training kernels)` : name === "cpu" ? "cpu (plain JavaScript, ganc training kernels)" : name === "webgpu" ? "webgpu (ganc training kernels)" : name;
      return { name, detail, skipped };
    } catch (err) {
      const why = `${name}: ${(err as Error).message.split("\n")[0]}`;
      if (choice !== "auto") throw new PlaygroundError(`backend ${why}`);
      skipped.push(why);
    }
  }
  throw new PlaygroundError(`no usable backend (${skipped.join("; ")})`);
}
