/**
 * Trains every variant of the reference collection (specs/<variant>.gan) on the embedded MNIST digits
 * for N iterations on the best available backend, one variant after another, and reports:
 *
 *   bench/results/variants/<variant>.png   the sample grid (fixed noise) after the last iteration
 *   bench/results/variants/README.md       a markdown table of the final losses and the time taken
 *
 * The table is printed on stdout too. Run folders (metrics, checkpoints, TensorBoard) stay in
 * runs/bench-variants/<variant>.
 *
 *   npx tsx bench/variants.ts [--steps N] [--only gan,wgan,...]      (default: 200 steps, all ten)
 *
 * At batch 64 one iteration of the conv variants takes about 1.5-4 s on the 2-core wasm machine, so the
 * default run takes on the order of an hour there; use --steps for a quick look.
 */
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { Command, InvalidArgumentError } from "commander";
import { compileText } from "../src/compile.ts";

const ROOT = path.resolve(import.meta.dirname, "..");
const VARIANTS = ["gan", "lsgan", "wgan", "wgan_gp", "dragan", "cgan", "acgan", "infogan", "ebgan", "began"];
const RESULTS = path.join(ROOT, "bench", "results", "variants");
const RUNS = path.join(ROOT, "runs", "bench-variants");

interface Outcome {
  variant: string;
  ok: boolean;
  error: string | null;
  steps: number;
  seconds: number;
  backend: string | null;
  /** The spec's losses and logged values (BEGAN's k and M) at the last iteration. */
  values: [string, number][];
}

function positiveInt(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError("must be a positive whole number");
  return n;
}

/** Names worth reporting for a spec: its losses, then the values it asks to log. */
function reportedNames(specFile: string): string[] {
  const { program } = compileText(fs.readFileSync(specFile, "utf8"), path.relative(ROOT, specFile));
  if (!program) throw new Error(`${specFile} does not compile: run ganc check on it`);
  return [...program.losses.map((l) => l.name), ...program.train.log.filter((n) => !program.losses.some((l) => l.name === n))];
}

function runTrainer(args: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [path.join(ROOT, "bin", "ganc.mjs"), ...args], { cwd: ROOT, stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
    child.on("close", (code) => resolve({ code, stderr }));
  });
}

async function trainVariant(variant: string, steps: number): Promise<Outcome> {
  const spec = path.join(ROOT, "specs", `${variant}.gan`);
  const out = path.join(RUNS, variant);
  fs.rmSync(out, { recursive: true, force: true });
  const names = reportedNames(spec);
  const started = Date.now();
  const logEvery = Math.max(1, Math.floor(steps / 10));
  const r = await runTrainer(["train", spec, "--steps", String(steps), "--out", out, "--log-every", String(logEvery), "--sample-every", String(steps), "--quiet"]);
  const seconds = (Date.now() - started) / 1000;
  const outcome: Outcome = { variant, ok: r.code === 0, error: null, steps: 0, seconds, backend: null, values: [] };
  const metricsFile = path.join(out, "metrics.jsonl");
  if (fs.existsSync(metricsFile)) {
    const rows = fs.readFileSync(metricsFile, "utf8").trim().split("\n").filter(Boolean).map((l) => JSON.parse(l) as Record<string, number>);
    const last = rows[rows.length - 1];
    if (last) {
      outcome.steps = last.step ?? 0;
      outcome.values = names.filter((n) => n in last).map((n) => [n, last[n]!]);
    }
  }
  const runJson = path.join(out, "run.json");
  if (fs.existsSync(runJson)) outcome.backend = (JSON.parse(fs.readFileSync(runJson, "utf8")) as { backend?: string }).backend ?? null;
  const png = path.join(out, "samples", "latest.png");
  if (outcome.ok && fs.existsSync(png)) fs.copyFileSync(png, path.join(RESULTS, `${variant}.png`));
  if (!outcome.ok) {
    // The last line that is not part of a stack trace says what went wrong.
    const lines = r.stderr.trim().split("\n").filter((l) => l.trim() && !/^\s+at /.test(l));
    outcome.error = lines[lines.length - 1]?.trim() ?? `exit code ${r.code}`;
  }
  return outcome;
}

const fmt = (x: number) => (Math.abs(x) >= 1e-3 && Math.abs(x) < 1e4) || x === 0 ? x.toFixed(4) : x.toExponential(3);

function table(outcomes: Outcome[], steps: number): string {
  const backends = [...new Set(outcomes.map((o) => o.backend).filter(Boolean))];
  const lines = [
    "# The reference variants on embedded MNIST",
    "",
    `\`npx tsx bench/variants.ts --steps ${steps}\`, ${new Date().toISOString().slice(0, 10)}; backend: ${backends.join(", ") || "unknown"}; batch 64 as in each spec.`,
    "Losses are the last logged values (one batch, so noisy); the sample grids beside this file come from the same fixed noise.",
    "",
    "| variant | iterations | seconds | s / iteration | final losses | samples |",
    "|---|---|---|---|---|---|",
  ];
  for (const o of outcomes) {
    const losses = o.ok ? o.values.map(([n, v]) => `${n} ${fmt(v)}`).join(", ") : `failed: ${o.error}`;
    const perIter = o.steps ? (o.seconds / o.steps).toFixed(2) : "-";
    const sample = o.ok ? `![${o.variant}](${o.variant}.png)` : "-";
    lines.push(`| ${o.variant} | ${o.steps} | ${o.seconds.toFixed(1)} | ${perIter} | ${losses.replace(/\|/g, "\\|")} | ${sample} |`);
  }
  lines.push("", "Seconds include start-up, sample grids and checkpoints, not only the iterations.");
  return lines.join("\n") + "\n";
}

async function main() {
  const cmd = new Command("bench/variants.ts")
    .description("train every variant of the reference collection on embedded MNIST and tabulate the final losses")
    .option("--steps <n>", "iterations per variant", positiveInt, 200)
    .option("--only <list>", "comma-separated variants to run (default: all ten)")
    .parse(process.argv);
  const opts = cmd.opts<{ steps: number; only?: string }>();
  const chosen = opts.only ? opts.only.split(",").map((s) => s.trim()).filter(Boolean) : VARIANTS;
  const unknown = chosen.filter((v) => !VARIANTS.includes(v));
  if (unknown.length) throw new Error(`unknown variant(s): ${unknown.join(", ")} (known: ${VARIANTS.join(", ")})`);
  fs.mkdirSync(RESULTS, { recursive: true });
  fs.mkdirSync(RUNS, { recursive: true });

  const outcomes: Outcome[] = [];
  for (const v of chosen) {
    process.stderr.write(`${v}: training ${opts.steps} iterations... `);
    const o = await trainVariant(v, opts.steps);
    process.stderr.write(o.ok ? `done in ${o.seconds.toFixed(1)} s\n` : `FAILED: ${o.error}\n`);
    outcomes.push(o);
  }
  const md = table(outcomes, opts.steps);
  fs.writeFileSync(path.join(RESULTS, "README.md"), md);
  process.stdout.write(md);
  if (outcomes.some((o) => !o.ok)) process.exitCode = 1;
}

await main();
