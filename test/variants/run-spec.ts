/**
 * Compiles a spec text in this process and runs one training iteration of its trainer on the cpu backend,
 * with the runtime's session swapped for FixedRun (fixed-run.ts): random small weights, a random batch of
 * the spec's shapes. Used by the checker-vs-runtime property test and scripts/fuzz-check-train.ts: a spec
 * that checks clean must run; anything the trainer throws here is what `ganc train` reports as an internal
 * error (exit 70).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import * as tf from "@tensorflow/tfjs";
import { NO_PASSES, ALL_PASSES } from "../../src/codegen/opt.ts";
import { compileText } from "../../src/compile.ts";
import type { ProgramIR } from "../../src/ir/types.ts";
import type { Diagnostic } from "../../src/parser/diagnostics.ts";
import { harness, type FixedTensor } from "./fixed-run.ts";

const HERE = path.dirname(fileURLToPath(import.meta.url));
let work: string | null = null;
let counter = 0;

/** Removes the folder the trainers of checkAndRun were written to (each case's own goes when it is done). */
export function removeWork(): void {
  if (work !== null) fs.rmSync(work, { recursive: true, force: true });
  work = null;
}

export type RunOutcome =
  | { kind: "diagnostic"; diagnostics: Diagnostic[] }
  | { kind: "trained"; values: Record<string, number> }
  | { kind: "crashed"; error: string; code: string };

/** A deterministic generator, so that a failing case repeats. */
function rng(seed: number) {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return ((s >>> 0) / 2 ** 32);
  };
}

function batchFor(p: ProgramIR, n: number, r: () => number): Record<string, FixedTensor> {
  const t = (shape: number[], f: (i: number) => number): FixedTensor => {
    const size = shape.reduce((a, b) => a * b, 1);
    return { data: Float32Array.from({ length: size }, (_, i) => f(i)), shape };
  };
  const out: Record<string, FixedTensor> = {};
  out[p.data.name] = t([n, ...p.data.shape], () => r());
  const k = p.data.numClasses;
  const cls = Array.from({ length: n }, () => Math.floor(r() * k));
  out[`${p.data.name}_label`] = t([n, k], (i) => (cls[Math.floor(i / k)] === i % k ? 1 : 0));
  for (const z of p.noise) {
    if (z.dist === "categorical") {
      const c = Array.from({ length: n }, () => Math.floor(r() * z.classes));
      out[z.name] = t([n, z.classes], (i) => (c[Math.floor(i / z.classes)] === i % z.classes ? 1 : 0));
    } else out[z.name] = t([n, ...z.shape], () => (z.dist === "uniform" ? z.a + (z.b - z.a) * r() : z.a + z.b * (r() * 2 - 1)));
  }
  return out;
}

/** Checks and compiles `text`; when it is clean, runs one iteration at batch `batch` on the cpu backend. */
export async function checkAndRun(text: string, file: string, opts: { batch?: number; seed?: number; optimized?: boolean } = {}): Promise<RunOutcome> {
  const c = compileText(text, file);
  if (!c.program || !c.code) return { kind: "diagnostic", diagnostics: c.diagnostics };
  if (tf.getBackend() !== "cpu") await tf.setBackend("cpu");
  // under the repository, so that the trainer resolves @tensorflow/tfjs and the runtime as it does there
  fs.mkdirSync(path.join(HERE, "../../.cache"), { recursive: true });
  work ??= fs.mkdtempSync(path.join(HERE, "../../.cache", "check-train-"));
  const dir = path.join(work, `case-${++counter}`);
  fs.mkdirSync(dir, { recursive: true });
  const runtime = path.relative(dir, path.join(HERE, "fixed-run.ts")).split(path.sep).join("/");
  const r = compileText(text, file, { runtimeImport: runtime, passes: opts.optimized === false ? NO_PASSES : ALL_PASSES });
  const code = r.code!.replace(/\nrt\.runIfMain\(import\.meta\.url, main\);\n$/, "\n");
  const trainer = path.join(dir, "trainer.ts");
  fs.writeFileSync(trainer, code);
  const rand = rng(opts.seed ?? 1);
  const batch = opts.batch ?? 2;
  harness.setup = {
    batchSize: batch,
    batches: [batchFor(r.program!, batch, rand)],
    variable: (_name, shape, _init, trainable) => {
      const size = shape.reduce((a, b) => a * b, 1);
      return Float32Array.from({ length: size }, () => (trainable ? (rand() * 2 - 1) * 0.05 : 1));
    },
  };
  const before = tf.memory().numTensors;
  try {
    const mod = (await import(pathToFileURL(trainer).href)) as { main: (argv: string[]) => Promise<number> };
    const rc = await mod.main([]);
    if (rc !== 0) return { kind: "crashed", error: `main returned ${rc}`, code };
    const values = Object.assign({}, ...harness.last!.records.map((x) => x.values)) as Record<string, number>;
    return { kind: "trained", values };
  } catch (e) {
    return { kind: "crashed", error: String((e as Error)?.message ?? e), code };
  } finally {
    harness.last?.dispose();
    void before;
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
