/**
 * The optimization passes, measured: kernels per training iteration (tf.profile, counted as
 * `ganc compile --stats` counts them) for every spec, and ms per iteration of the seed GAN's optimized
 * trainer against its layer-by-layer reference (`ganc compile --no-opt`), both compiled from the same
 * spec and timed on the same machine in the same run, alternately, by bench/worker.ts.
 *
 *   node bin/run-ts.mjs bench/opt.ts [--specs all|specs/gan.gan,...] [--models seed,ring8] [--rounds 3]
 *                                    [--iters 8] [--warmup 2] [--backend wasm] [--no-write]
 *
 * Prints markdown tables; writes bench/results/opt-<YYYY-MM-DD>.json and bench/results/opt-latest.json.
 * Wall time on a shared machine includes waiting for the CPU; CPU time per iteration (all threads of the
 * process) is the steadier number, so both are reported, with the load average at the start.
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { compileText } from "../src/compile.ts";
import { ALL_PASSES, NO_PASSES, type OptSet } from "../src/codegen/opt.ts";
import { modelById, RESULT_MARKER } from "./models.ts";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const RUNTIME_URL = new URL("../src/runtime/index.ts", import.meta.url).href;

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : dflt;
}
const specsArg = arg("specs", "all");
const specs = specsArg === "all" ? fs.readdirSync(path.join(ROOT, "specs")).filter((f) => f.endsWith(".gan")).sort().map((f) => `specs/${f}`) : specsArg.split(",");
const models = arg("models", "seed").split(",").filter(Boolean);
const rounds = Number(arg("rounds", "3"));
const iters = arg("iters", "8");
const warmup = arg("warmup", "2");
const backend = arg("backend", "wasm");
const write = !process.argv.includes("--no-write");

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const node = (args: string[]) => spawnSync(process.execPath, args, { cwd: ROOT, encoding: "utf8", maxBuffer: 64 << 20 });

/** Kernels per iteration, from `ganc compile --stats`. */
function kernels(spec: string, noOpt: boolean): number {
  const out = path.join(os.tmpdir(), `ganc-opt-bench-${process.pid}.ts`);
  const r = node(["bin/ganc.mjs", "compile", spec, "--stats", "--backend", backend, "-o", out, ...(noOpt ? ["--no-opt"] : [])]);
  fs.rmSync(out, { force: true });
  const m = /kernels per iteration: (\d+)/.exec(r.stderr);
  if (!m) throw new Error(`ganc compile --stats ${spec} failed:\n${r.stderr}`);
  return Number(m[1]);
}

function execTrainer(spec: string, passes: OptSet, file: string): void {
  const r = compileText(fs.readFileSync(path.join(ROOT, spec), "utf8"), spec, { source: spec, runtimeImport: RUNTIME_URL, passes });
  const tfjs = import.meta.resolve("@tensorflow/tfjs");
  fs.writeFileSync(file, r.code!.replace(`from "@tensorflow/tfjs";`, `from ${JSON.stringify(tfjs)};`).replace(/\nrt\.runIfMain\(import\.meta\.url, main\);\n$/, "\n"));
}

interface Timing {
  iterMs: number[];
  iterCpuMs: number[];
  backend: string;
  peakRssMB: number;
}

function time(model: string, trainer: string): Timing {
  const r = node(["bin/run-ts.mjs", "bench/worker.ts", "compiled", model, "--trainer", trainer, "--iters", iters, "--warmup", warmup, "--backend", backend]);
  const line = r.stdout.split("\n").find((l) => l.startsWith(RESULT_MARKER));
  if (!line) throw new Error(`bench/worker.ts ${model} failed:\n${r.stderr}`);
  return JSON.parse(line.slice(RESULT_MARKER.length)) as Timing;
}

const load = os.loadavg().map((x) => x.toFixed(2)).join(", ");
process.stderr.write(`load average ${load} on ${os.cpus().length} CPUs\n`);

const kernelRows = specs.map((spec) => {
  process.stderr.write(`kernels: ${spec}\n`);
  const reference = kernels(spec, true);
  const optimized = kernels(spec, false);
  return { spec, reference, optimized, ratio: optimized / reference };
});

const tmp = fs.mkdtempSync(path.join(ROOT, ".cache", "opt-bench-"));
const timeRows = [];
try {
  for (const id of models) {
    const m = modelById(id);
    const files = { reference: path.join(tmp, `${id}-ref.mts`), optimized: path.join(tmp, `${id}-opt.mts`) };
    execTrainer(m.spec, NO_PASSES, files.reference);
    execTrainer(m.spec, ALL_PASSES, files.optimized);
    const runs: Record<"reference" | "optimized", Timing[]> = { reference: [], optimized: [] };
    for (let r = 0; r < rounds; r++) {
      for (const k of ["reference", "optimized"] as const) {
        process.stderr.write(`time: ${id} ${k}, round ${r + 1}/${rounds}\n`);
        runs[k].push(time(id, files[k]));
      }
    }
    const summary = (ts: Timing[]) => ({
      msPerIterMedian: median(ts.flatMap((t) => t.iterMs)),
      cpuMsPerIterMedian: median(ts.flatMap((t) => t.iterCpuMs)),
      msPerIterMin: Math.min(...ts.flatMap((t) => t.iterMs)),
      peakRssMB: Math.max(...ts.map((t) => t.peakRssMB)),
      iterations: ts.flatMap((t) => t.iterMs).length,
    });
    timeRows.push({ model: id, spec: m.spec, backend: runs.optimized[0]!.backend, reference: summary(runs.reference), optimized: summary(runs.optimized) });
  }
} finally {
  fs.rmSync(tmp, { recursive: true, force: true });
}

const f = (x: number) => x.toFixed(0);
console.log(`\n### Kernels per training iteration (tf.profile, ${backend})\n`);
console.log("| spec | --no-opt | optimized | optimized / --no-opt |\n|---|---|---|---|");
for (const r of kernelRows) console.log(`| ${r.spec} | ${r.reference} | ${r.optimized} | ${r.ratio.toFixed(2)} |`);
console.log(`\n### ms per iteration (median; ${rounds} alternating rounds of ${iters} timed + ${warmup} warm-up iterations each; load average ${load} at the start)\n`);
console.log("| model | backend | --no-opt wall | optimized wall | --no-opt CPU | optimized CPU | CPU optimized / --no-opt | peak RSS MB (--no-opt / optimized) |\n|---|---|---|---|---|---|---|---|");
for (const r of timeRows) {
  console.log(`| ${r.model} | ${r.backend} | ${f(r.reference.msPerIterMedian)} | ${f(r.optimized.msPerIterMedian)} | ${f(r.reference.cpuMsPerIterMedian)} | ${f(r.optimized.cpuMsPerIterMedian)} | ${(r.optimized.cpuMsPerIterMedian / r.reference.cpuMsPerIterMedian).toFixed(2)} | ${f(r.reference.peakRssMB)} / ${f(r.optimized.peakRssMB)} |`);
}

if (write) {
  const result = { date: new Date().toISOString(), machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model ?? "", loadAverageAtStart: os.loadavg() }, backend, kernels: kernelRows, timing: timeRows };
  const dir = path.join(ROOT, "bench/results");
  fs.writeFileSync(path.join(dir, `opt-${result.date.slice(0, 10)}.json`), JSON.stringify(result, null, 2) + "\n");
  fs.writeFileSync(path.join(dir, "opt-latest.json"), JSON.stringify(result, null, 2) + "\n");
  process.stderr.write("wrote bench/results/opt-latest.json\n");
}
