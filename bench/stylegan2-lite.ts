/**
 * Trains specs/stylegan2_lite.gan on the embedded colored digits (mnist_color) for N iterations and
 * writes the sample grid of the last iteration (fixed noise, EMA weights, psi 1) and the timings:
 *
 *   docs/stylegan2_lite-<N>.png                    the grid (at the spec's width and batch; otherwise
 *                                                  docs/stylegan2_lite-<N>-w<width>-b<batch>.png)
 *   bench/results/stylegan2-lite[-w<width>-b<batch>].json   seconds, seconds per iteration (wall and CPU), backend
 *
 *   nice npx tsx bench/stylegan2-lite.ts [--steps 200] [--width 1] [--batch 32] [--truncation 0.7]
 *
 * --width multiplies every channel count and the widths of z and w (bench/models.ts scaleStylegan2Spec),
 * --batch replaces the spec's 32. The trainer is compiled and run in this process, so the CPU time
 * (process.cpuUsage, all threads: the wasm backend and the BLAS threads) is the training's. The run folder
 * (metrics, checkpoint, samples) stays in runs/bench-stylegan2/. --truncation also writes the grid of
 * `ganc sample --truncation psi` from the final checkpoint next to the training grid.
 */
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { pathToFileURL } from "node:url";
import { Command, InvalidArgumentError } from "commander";
import { compileText } from "../src/compile.ts";
import { scaleStylegan2Spec } from "./models.ts";

const ROOT = path.resolve(import.meta.dirname, "..");
const SPEC = "specs/stylegan2_lite.gan";
const RUN = path.join(ROOT, "runs", "bench-stylegan2");

function positiveInt(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError("must be a positive whole number");
  return n;
}

function positive(v: string): number {
  const n = Number(v);
  if (!(n > 0)) throw new InvalidArgumentError("must be a positive number");
  return n;
}

async function main() {
  const opts = new Command("bench/stylegan2-lite.ts")
    .description("train specs/stylegan2_lite.gan on mnist_color and write the sample grid and the time per iteration")
    .option("--steps <n>", "iterations", positiveInt, 200)
    .option("--width <x>", "channel multiplier (1: the spec's widths)", positive, 1)
    .option("--batch <n>", "batch size (the spec's is 32; a multiple of 4 for minibatch_stddev)", positiveInt, 32)
    .option("--truncation <psi>", "also sample the final checkpoint with this truncation", Number)
    .parse(process.argv)
    .opts<{ steps: number; width: number; batch: number; truncation?: number }>();

  const full = fs.readFileSync(path.join(ROOT, SPEC), "utf8");
  const text = opts.width === 1 && opts.batch === 32 ? full : scaleStylegan2Spec(full, { width: opts.width, batch: opts.batch });
  fs.rmSync(RUN, { recursive: true, force: true });
  fs.mkdirSync(RUN, { recursive: true });
  const specFile = path.join(RUN, "stylegan2_lite.gan");
  fs.writeFileSync(specFile, text);
  const runtime = path.relative(RUN, path.join(ROOT, "src/runtime/index.ts")).split(path.sep).join("/");
  const r = compileText(text, SPEC, { source: SPEC, runtimeImport: runtime });
  if (!r.code) throw new Error(`${SPEC} does not compile: ${r.diagnostics.map((d) => d.message).join("; ")}`);
  const trainer = path.join(RUN, "trainer.ts");
  fs.writeFileSync(trainer, r.code.replace(/\nrt\.runIfMain\(import\.meta\.url, main\);\n$/, "\n"));
  const mod = (await import(pathToFileURL(trainer).href)) as { main: (argv: string[]) => Promise<number> };

  const out = path.join(RUN, "run");
  const logEvery = Math.max(1, Math.floor(opts.steps / 20));
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const code = await mod.main(["--out", out, "--steps", String(opts.steps), "--seed", "0", "--quiet", "--log-every", String(logEvery), "--sample-every", String(opts.steps), "--checkpoint-every", String(opts.steps), "--histogram-every", "0"]);
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  if (code !== 0) throw new Error(`training stopped with exit code ${code}`);

  const rows = fs.readFileSync(path.join(out, "metrics.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l) as Record<string, number>);
  const first = rows[0]!;
  const last = rows[rows.length - 1]!;
  // Wall time per iteration after the first logged one (start-up, data loading and the first
  // iterations' kernel set-up excluded), from the trainer's own elapsed-seconds column.
  const perIter = rows.length > 1 ? (last.elapsedSec! - first.elapsedSec!) / (last.step! - first.step!) : last.elapsedSec! / last.step!;
  const cpuSeconds = (cpu.user + cpu.system) / 1e6;
  const backend = (JSON.parse(fs.readFileSync(path.join(out, "run.json"), "utf8")) as { backend?: string }).backend ?? "unknown";

  const suffix = opts.width === 1 && opts.batch === 32 ? "" : `-w${opts.width}-b${opts.batch}`;
  const docs = path.join(ROOT, "docs");
  fs.mkdirSync(docs, { recursive: true });
  const grid = path.join(docs, `stylegan2_lite-${opts.steps}${suffix}.png`);
  fs.copyFileSync(path.join(out, "samples", "latest.png"), grid);
  let truncated: string | null = null;
  if (opts.truncation !== undefined) {
    // ganc sample reads the run folder's trainer.ts, as ganc train writes it (importing ganc/runtime).
    fs.writeFileSync(path.join(out, "trainer.ts"), compileText(text, SPEC).code!);
    truncated = path.join(docs, `stylegan2_lite-${opts.steps}${suffix}-psi${opts.truncation}.png`);
    execFileSync(process.execPath, [path.join(ROOT, "bin", "ganc.mjs"), "sample", out, "--truncation", String(opts.truncation), "--out", truncated], { cwd: ROOT, stdio: ["ignore", "ignore", "inherit"] });
  }

  const result = {
    command: `nice npx tsx bench/stylegan2-lite.ts --steps ${opts.steps} --width ${opts.width} --batch ${opts.batch}${opts.truncation !== undefined ? ` --truncation ${opts.truncation}` : ""}`,
    date: new Date().toISOString().slice(0, 10),
    backend,
    loadAverageAtEnd: os.loadavg()[0],
    steps: last.step,
    batch: opts.batch,
    width: opts.width,
    seconds: Number(seconds.toFixed(1)),
    secondsPerIteration: Number(perIter.toFixed(2)),
    cpuSecondsPerIteration: Number((cpuSeconds / last.step!).toFixed(2)),
    finalLosses: { d: last.d, g: last.g },
    grid: path.relative(ROOT, grid),
    truncatedGrid: truncated && path.relative(ROOT, truncated),
  };
  const results = path.join(ROOT, "bench", "results");
  fs.mkdirSync(results, { recursive: true });
  fs.writeFileSync(path.join(results, `stylegan2-lite${suffix}.json`), JSON.stringify(result, null, 2) + "\n");
  process.stdout.write(JSON.stringify(result, null, 2) + "\n");
}

await main();
