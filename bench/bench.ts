/**
 * The benchmark: training speed of the compiled trainer against a hand-written tfjs trainer and
 * PyTorch, on the seed GAN, the ring8 MLP GAN and SNGAN's CIFAR ResNet, plus compile and parse+check times.
 *
 *   npm run bench [-- --quick] [--backend auto|wasm|cpu|...] [--torch-threads N] [--models seed,ring8,sngan_resnet,wgan_gp,sagan]
 *                 [--engines compiled,compiled-npm,compiled-wasm,handwritten,pytorch,pytorch-compiled] [--python PATH] [--no-write] [--no-data] [--no-compile] [--data-count N]
 *                 [--sngan-batch N] [--sngan-width W] [--sngan-full]
 *
 * sngan_resnet and sagan run reduced by default (bench/models.ts: batch 16, width 0.25), the same in all
 * engines; --sngan-full runs the spec's own batch 64 and full width (minutes per iteration on a CPU).
 *
 * Each (model, engine) row runs in its own child process (bench/worker.ts for the tfjs engines,
 * bench/pytorch/*.py for PyTorch, bench/pytorch/compiled.py for the trainer `ganc compile --target pytorch`
 * writes), one after another, so that peak RSS is per engine and the engines do
 * not compete for the CPU. Prints markdown tables and writes bench/results/<YYYY-MM-DD>.json and
 * bench/results/latest.json. See bench/README.md for what each column means.
 */
import { spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import { createRequire } from "node:module";
import * as os from "node:os";
import * as path from "node:path";
import { checkText, compileText } from "../src/compile.ts";
import "../src/parser/yaml/load.ts"; // the benchmark's specs come in both forms
import { ROOT, writeExecTrainer } from "./compiled.ts";
import { Ring } from "./turns.ts";
import { loadBlas } from "../src/runtime/kernels/index.ts";
import { DEFAULT_ENGINES, ENGINE_ENV, ENGINES, MODELS, RESULT_MARKER, scaleLabel, scaleSpec, type BenchModel, type Engine, type Scale } from "./models.ts";

// ---- options ---------------------------------------------------------------------------------------

interface Options {
  quick: boolean;
  backend: string;
  torchThreads: number;
  models: BenchModel[];
  engines: Engine[];
  write: boolean;
  /** The Python to run PyTorch with; default: the first of /usr/bin/python3 and python3 that imports torch. */
  python: string | null;
  /** The loading-speed section (bench/data-loading.ts): images per second of decoding and of cached epochs. */
  data: boolean;
  /** The compile-time and parse+check tables (several minutes on a busy machine; --no-compile skips them). */
  compile: boolean;
  /** Images in its folder; default 10,000 (2,000 with --quick). */
  dataCount: number | null;
  /** Batch and width of sngan_resnet and sagan, in all engines (default their reduced configuration). */
  sngan: Scale;
  /**
   * Runs of each model's engines, the order reversed every other round (compiled, pytorch, pytorch, compiled,
   * ...), each engine's iterations pooled over its runs: a slow stretch of the machine then falls on all
   * engines alike instead of on whichever ran in it (default 1).
   */
  rounds: number;
  /**
   * Each model's engines started together and run in turns of about 200 ms of iterations, one at a time, round
   * the ring (bench/turns.ts): the same stretches of a drifting machine for all. --sequential runs them one
   * after the other instead (each engine alone on the machine from its start to its exit).
   */
  lockstep: boolean;
}

/**
 * PyTorch gets as many threads as the tfjs engines' products: the native BLAS's thread count when
 * ganc's wasm kernels use one (OpenBLAS: all cores), else 1 (wasm alone is single-threaded in Node).
 */
function defaultTorchThreads(): number {
  const blas = loadBlas();
  return blas.ok ? (blas.blas.threads ?? 1) : 1;
}

function parseOptions(argv: string[]): Options {
  const o: Options = { quick: false, backend: "auto", torchThreads: defaultTorchThreads(), models: MODELS, engines: [...DEFAULT_ENGINES], write: true, python: null, data: true, compile: true, dataCount: null, sngan: { ...MODELS.find((m) => m.id === "sngan_resnet")!.scale!.reduced }, rounds: 1, lockstep: true };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === "--quick") o.quick = true;
    else if (a === "--no-write") o.write = false;
    else if (a === "--no-data") o.data = false;
    else if (a === "--no-compile") o.compile = false;
    else if (a === "--data-count") o.dataCount = Number(value());
    else if (a === "--backend") o.backend = value();
    else if (a === "--python") o.python = value();
    else if (a === "--torch-threads") o.torchThreads = Number(value());
    else if (a === "--sngan-full") o.sngan = { ...MODELS.find((m) => m.id === "sngan_resnet")!.scale!.full };
    else if (a === "--sngan-batch") o.sngan.batch = Number(value());
    else if (a === "--sngan-width") o.sngan.width = Number(value());
    else if (a === "--rounds") o.rounds = Number(value());
    else if (a === "--sequential") o.lockstep = false;
    else if (a === "--lockstep") o.lockstep = true;
    else if (a === "--models") o.models = value().split(",").map((id) => MODELS.find((m) => m.id === id) ?? fail(`unknown model '${id}'`));
    else if (a === "--engines") o.engines = value().split(",").map((e) => (ENGINES as readonly string[]).includes(e) ? (e as Engine) : fail(`unknown engine '${e}'`));
    else if (a === "--help" || a === "-h") {
      console.log("usage: npm run bench [-- --quick] [--backend NAME] [--torch-threads N] [--models seed,ring8,sngan_resnet,wgan_gp,sagan] [--engines compiled,compiled-npm,compiled-wasm,handwritten,pytorch,pytorch-compiled] [--python PATH] [--no-write] [--no-data] [--data-count N] [--sngan-batch N] [--sngan-width W] [--sngan-full] [--rounds N] [--sequential]");
      process.exit(0);
    } else fail(`unknown option '${a}' (try --help)`);
  }
  if (!Number.isInteger(o.torchThreads) || o.torchThreads < 1) fail("--torch-threads must be a whole number >= 1");
  if (!Number.isInteger(o.sngan.batch) || o.sngan.batch < 1 || !(o.sngan.width > 0)) fail("--sngan-batch must be a whole number >= 1 and --sngan-width > 0");
  if (o.dataCount !== null && (!Number.isInteger(o.dataCount) || o.dataCount < 64)) fail("--data-count must be a whole number >= 64");
  if (!Number.isInteger(o.rounds) || o.rounds < 1) fail("--rounds must be a whole number >= 1");
  return o;
}

function fail(message: string): never {
  console.error(`bench: ${message}`);
  process.exit(2);
}

// ---- statistics ------------------------------------------------------------------------------------

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

const r1 = (x: number) => Math.round(x * 10) / 10;
const r2 = (x: number) => Math.round(x * 100) / 100;
const r3 = (x: number) => Math.round(x * 1000) / 1000;

// ---- child processes -------------------------------------------------------------------------------

interface ChildOutcome {
  result: Record<string, unknown> | null;
  error: string | null;
  wallMs: number;
}

/**
 * Runs a child to completion; its stderr passes through, its stdout is searched for the result line. With a
 * ring, the child takes turns with the ring's other children (bench/turns.ts: the pipes are its descriptors 3 and 4).
 */
function runChild(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env, ring: Ring | null = null, timeoutMs = 30 * 60_000): Promise<ChildOutcome> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    const child = ring
      ? spawn(cmd, args, { cwd: ROOT, env: { ...env, GANC_BENCH_TURNS: "1" }, stdio: ["ignore", "pipe", "pipe", "pipe", "pipe"] })
      : spawn(cmd, args, { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"] });
    ring?.join(child);
    let stdout = "";
    let stderr = "";
    child.stdout!.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on("data", (d: Buffer) => {
      stderr += d.toString();
      process.stderr.write(d);
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("error", (err) => {
      clearTimeout(timer);
      resolve({ result: null, error: err.message, wallMs: performance.now() - t0 });
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      const line = stdout.split("\n").find((l) => l.startsWith(RESULT_MARKER));
      const wallMs = performance.now() - t0;
      if (code === 0 && line) resolve({ result: JSON.parse(line.slice(RESULT_MARKER.length)) as Record<string, unknown>, error: null, wallMs });
      else {
        const tail = stderr.trim().split("\n").slice(-3).join(" | ");
        resolve({ result: null, error: `exit ${code ?? signal}${tail ? `: ${tail}` : ""}`, wallMs });
      }
    });
  });
}

/** The first python3 that imports torch, or why none does. */
async function findTorchPython(candidates: string[]): Promise<{ python: string | null; why: string }> {
  const tried: string[] = [];
  for (const python of candidates) {
    const r = await new Promise<{ ok: boolean; out: string }>((resolve) => {
      const c = spawn(python, ["-c", "import torch; print(torch.__version__)"], { stdio: ["ignore", "pipe", "pipe"] });
      let out = "";
      c.stdout.on("data", (d: Buffer) => (out += d.toString()));
      c.stderr.on("data", (d: Buffer) => (out += d.toString()));
      c.on("error", (e) => resolve({ ok: false, out: e.message }));
      c.on("close", (code) => resolve({ ok: code === 0, out }));
    });
    if (r.ok) return { python, why: "" };
    tried.push(`${python}: ${r.out.trim().split("\n").pop() ?? "failed"}`);
  }
  return { python: null, why: `PyTorch not available (${tried.join("; ")}); install it with: sudo sh bench/setup.sh` };
}

// ---- rows ------------------------------------------------------------------------------------------

/** The row format of results/*.json. */
interface Row {
  model: string;
  /** Batch and width of a scaled model (sngan_resnet), else absent. */
  config?: Scale;
  engine: Engine;
  backend: string;
  msPerIterMedian: number | null;
  msPerIterMin: number | null;
  msPerIterMax: number | null;
  imagesPerSec: number | null;
  peakRssMB: number | null;
}

/** Everything else measured for a row (same order as rows). */
interface Detail {
  model: string;
  engine: Engine;
  available: boolean;
  note: string | null;
  iterations: number;
  warmup: number;
  /** Runs pooled into this row (--rounds); iterations counts all of them. */
  rounds: number;
  batch: number;
  cpuMsPerIterMedian: number | null;
  tensorDrift: number | null;
  tensorsAfterWarmup: number | null;
  pendingLossScalars: number | null;
  skippedIoIterations: number | null;
  setupMs: number | null;
  /** Peak RSS of the whole child process (compiled: including its final sample grid and checkpoint). */
  processPeakRssMB: number | null;
  childWallMs: number;
  finalLosses: Record<string, number> | null;
  blas: string[] | null;
  iterMs: number[];
  iterCpuMs: number[];
}

function toRow(m: BenchModel, engine: Engine, out: ChildOutcome, fallbackBackend: string, note: string | null): { row: Row; detail: Detail } {
  const r = out.result;
  if (!r) {
    return {
      row: { model: m.id, engine, backend: fallbackBackend, msPerIterMedian: null, msPerIterMin: null, msPerIterMax: null, imagesPerSec: null, peakRssMB: null },
      detail: {
        model: m.id, engine, available: false, note: note ?? out.error, iterations: 0, warmup: 0, rounds: 0, batch: m.batch, cpuMsPerIterMedian: null, tensorDrift: null,
        tensorsAfterWarmup: null, pendingLossScalars: null, skippedIoIterations: null, setupMs: null, processPeakRssMB: null, childWallMs: r1(out.wallMs), finalLosses: null, blas: null, iterMs: [], iterCpuMs: [],
      },
    };
  }
  const iterMs = r.iterMs as number[];
  const iterCpuMs = (r.iterCpuMs as number[] | undefined) ?? [];
  const med = median(iterMs);
  return {
    row: {
      model: m.id,
      engine,
      backend: r.backend as string,
      msPerIterMedian: r2(med),
      msPerIterMin: r2(Math.min(...iterMs)),
      msPerIterMax: r2(Math.max(...iterMs)),
      imagesPerSec: r1((m.batch * 1000) / med),
      peakRssMB: r1(r.peakRssMB as number),
    },
    detail: {
      model: m.id,
      engine,
      available: true,
      note,
      iterations: iterMs.length,
      warmup: r.warmup as number,
      rounds: (r.rounds as number | undefined) ?? 1,
      batch: m.batch,
      cpuMsPerIterMedian: iterCpuMs.length ? r2(median(iterCpuMs)) : null,
      tensorDrift: (r.tensorDrift as number | undefined) ?? null,
      tensorsAfterWarmup: (r.tensorsAfterWarmup as number | undefined) ?? null,
      pendingLossScalars: (r.pendingScalars as number | undefined) ?? null,
      skippedIoIterations: (r.skippedIo as number | undefined) ?? null,
      setupMs: r1(r.setupMs as number),
      processPeakRssMB: r1(((r.processPeakRssMB ?? r.peakRssMB) as number)),
      childWallMs: r1(out.wallMs),
      finalLosses: (r.finalLosses as Record<string, number> | null) ?? null,
      blas: (r.blas as string[] | undefined) ?? null,
      iterMs: iterMs.map(r2),
      iterCpuMs: iterCpuMs.map(r2),
    },
  };
}

// ---- compile and parse+check timings ---------------------------------------------------------------

interface CompileTiming {
  spec: string;
  lines: number;
  ok: boolean;
  note: string | null;
  firstCallMs: number | null;
  msMedian: number | null;
  msMin: number | null;
  msMax: number | null;
  /** Median CPU time of the process per call (less affected by other load than wall time). */
  cpuMsMedian: number | null;
  calls: number;
}

function timeCompiles(calls: number): CompileTiming[] {
  const dir = path.join(ROOT, "specs");
  const files = fs.readdirSync(dir).filter((f) => f.endsWith(".gan") || f.endsWith(".gan.yaml") || f.endsWith(".gan.yml")).sort();
  return files.map((f) => {
    const rel = `specs/${f}`;
    const text = fs.readFileSync(path.join(dir, f), "utf8");
    const lines = text.split("\n").length - (text.endsWith("\n") ? 1 : 0);
    let t = performance.now();
    const first = compileText(text, rel);
    const firstCallMs = performance.now() - t;
    if (!first.code) {
      const msg = first.diagnostics.filter((d) => d.severity === "error").map((d) => d.message)[0] ?? "no code";
      return { spec: rel, lines, ok: false, note: `does not compile: ${msg}`, firstCallMs: r2(firstCallMs), msMedian: null, msMin: null, msMax: null, cpuMsMedian: null, calls: 0 };
    }
    const ms: number[] = [];
    const cpu: number[] = [];
    for (let i = 0; i < calls; i++) {
      const c = process.cpuUsage();
      t = performance.now();
      compileText(text, rel);
      ms.push(performance.now() - t);
      const dc = process.cpuUsage(c);
      cpu.push((dc.user + dc.system) / 1000);
    }
    return { spec: rel, lines, ok: true, note: null, firstCallMs: r2(firstCallMs), msMedian: r2(median(ms)), msMin: r2(Math.min(...ms)), msMax: r2(Math.max(...ms)), cpuMsMedian: r2(median(cpu)), calls };
  });
}

interface BigSpecTiming {
  variant: string;
  lines: number;
  errors: number;
  warnings: number;
  parseCheckMsMedian: number;
  parseCheckMsMin: number;
  parseCheckMsMax: number;
  reps: number;
  /** One full compileText (parse, check, resolved spec, code generation). */
  compileMs: number;
  compileNote: string | null;
}

/** The seed spec grown to about `lines` lines by one of two kinds of extra lines, both valid. */
function bigSpec(kind: "dense" | "loss", lines: number): string {
  const seed = fs.readFileSync(path.join(ROOT, "specs/gan.gan"), "utf8");
  const have = seed.split("\n").length;
  const n = Math.max(0, lines - have);
  if (kind === "dense") {
    // Extra hidden layers at the start of G (z [62] -> 64 -> ... -> 64 -> the seed's layers).
    return seed.replace(/^(net G\(z\) \{\n)/m, (head) => head + "  dense 64, relu\n".repeat(n));
  }
  // A chain of extra losses, each using the one before (never minimized: they only load the checker).
  const extra = Array.from({ length: n }, (_, k) => `loss extra${k} = ${k === 0 ? "d_real" : `extra${k - 1}`} + d_fake\n`).join("");
  return seed.replace(/^(step d:)/m, extra + "$1");
}

function timeBigSpecs(reps: number): BigSpecTiming[] {
  const variants = [
    { kind: "dense" as const, label: "seed spec + ~9,970 `dense 64, relu` layers in G" },
    { kind: "loss" as const, label: "seed spec + ~9,970 chained `loss` lines" },
  ];
  return variants.map((v) => {
    const text = bigSpec(v.kind, 10_000);
    const ms: number[] = [];
    let errors = 0;
    let warnings = 0;
    for (let i = 0; i < reps; i++) {
      const t = performance.now();
      const r = checkText(text, "big.gan");
      ms.push(performance.now() - t);
      errors = r.diagnostics.filter((d) => d.severity === "error").length;
      warnings = r.diagnostics.length - errors;
    }
    const t = performance.now();
    const c = compileText(text, "big.gan");
    const compileMs = r1(performance.now() - t);
    const compileNote = c.code ? null : "did not compile";
    return {
      variant: v.label, lines: text.split("\n").length, errors, warnings,
      parseCheckMsMedian: r1(median(ms)), parseCheckMsMin: r1(Math.min(...ms)), parseCheckMsMax: r1(Math.max(...ms)), reps, compileMs, compileNote,
    };
  });
}

// ---- output ----------------------------------------------------------------------------------------

const fmt = (x: number | null, digits = 1) => (x === null ? "-" : x.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits }));

function table(header: string[], rows: string[][]): string {
  return [`| ${header.join(" | ")} |`, `|${header.map(() => "---").join("|")}|`, ...rows.map((r) => `| ${r.join(" | ")} |`)].join("\n");
}

// ---- main ------------------------------------------------------------------------------------------

const opts = parseOptions(process.argv.slice(2));
const started = new Date();
const loadBefore = os.loadavg();
const tfjsVersion = (JSON.parse(fs.readFileSync(createRequire(import.meta.url).resolve("@tensorflow/tfjs/package.json"), "utf8")) as { version: string }).version;
const mnistDigits = path.join(path.dirname(createRequire(import.meta.url).resolve("mnist/package.json")), "src", "digits");
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "ganc-bench-"));
const workerScript = path.join(ROOT, "bench/worker.ts");

/** One child run of `engine` on model `m` (its own process), and a note where it is not available or differs. */
async function runEngine(m: BenchModel, engine: Engine, scale: Scale | null, iters: number, warmup: number, trainer: string, ring: Ring | null): Promise<{ out: ChildOutcome; note: string | null }> {
  let out: ChildOutcome;
  let note: string | null = null;
  if (engine === "pytorch-compiled") {
    const text = fs.readFileSync(path.join(ROOT, m.spec), "utf8");
    const c = compileText(scale ? scaleSpec(m.id, text, scale) : text, m.spec, { target: "pytorch" });
    if (!torch.python) {
      out = { result: null, error: "not available", wallMs: 0 };
      note = torch.why;
    } else if (c.code === null) {
      out = { result: null, error: "not available", wallMs: 0 };
      note = `the PyTorch target refuses it: ${c.diagnostics.filter((d) => d.severity === "error").map((d) => `${d.code} ${d.message}`)[0] ?? "?"}`;
    } else {
      const py = path.join(tmp, `${m.id}.trainer.py`);
      fs.writeFileSync(py, c.code);
      const args = [path.join(ROOT, "bench/pytorch/compiled.py"), py, m.id, "--iters", String(iters), "--warmup", String(warmup), "--threads", String(opts.torchThreads)];
      if (!/^data\s+\w+:\s*(ring8|grid25)\(/m.test(text)) {
        // The trainer reads the decoded samples `ganc data` writes (x.npy), made once per model.
        const dir = path.join(tmp, `data-${m.id}`);
        if (!fs.existsSync(dir)) {
          const d = spawnSync(process.execPath, [path.join(ROOT, "bin/ganc.mjs"), "data", m.spec, "-o", dir], { cwd: ROOT, encoding: "utf8" });
          if (d.status !== 0) fail(`ganc data ${m.spec}: ${d.stderr.trim()}`);
        }
        args.push("--data", dir);
      }
      if (scale) args.push("--batch", String(scale.batch));
      out = await runChild(torch.python, args, process.env, ring);
    }
  } else if (engine === "pytorch") {
    if (!torch.python) {
      out = { result: null, error: "not available", wallMs: 0 };
      note = torch.why;
    } else {
      const args = [path.join(ROOT, m.pytorch), "--iters", String(iters), "--warmup", String(warmup), "--threads", String(opts.torchThreads)];
      if ((m.id === "seed" || m.id === "wgan_gp") && fs.existsSync(mnistDigits)) args.push("--mnist-dir", mnistDigits);
      if (scale) args.push("--batch", String(scale.batch), "--width", String(scale.width));
      out = await runChild(torch.python, args, process.env, ring);
      if (out.result && !String(out.result.blasLabel).startsWith("OpenBLAS")) note = `BLAS in use: ${String(out.result.blasLabel)} (install libopenblas0-openmp: bench/setup.sh)`;
    }
  } else if (engine === "handwritten" && m.noHandwritten) {
    out = { result: null, error: "not available", wallMs: 0 };
    note = m.noHandwritten;
  } else {
    const compiled = engine.startsWith("compiled");
    const args = [runTs, workerScript, compiled ? "compiled" : engine, m.id, "--iters", String(iters), "--warmup", String(warmup), "--backend", opts.backend];
    if (compiled) args.push("--trainer", trainer);
    if (scale) args.push("--batch", String(scale.batch), "--width", String(scale.width));
    out = await runChild(process.execPath, args, { ...process.env, ...ENGINE_ENV[engine] }, ring);
  }
  return { out, note };
}

/**
 * An engine's runs as one: their timed iterations (and CPU times) together, the largest peak RSS and tensor drift,
 * the first run's other fields; the first failed run where one failed.
 */
function pooled(list: { out: ChildOutcome; note: string | null }[]): { out: ChildOutcome; note: string | null } {
  const failed = list.find((r) => r.out.result === null);
  if (failed || list.length === 1) return failed ?? list[0]!;
  const results = list.map((r) => r.out.result!);
  const all = (key: string) => results.flatMap((r) => (r[key] as number[] | undefined) ?? []);
  const most = (key: string) => Math.max(...results.map((r) => Number(r[key] ?? Number.NaN)).filter((x) => !Number.isNaN(x)));
  const drift = results.map((r) => r.tensorDrift as number | undefined).filter((x): x is number => x !== undefined);
  const result: Record<string, unknown> = { ...results[0]!, iterMs: all("iterMs"), iterCpuMs: all("iterCpuMs"), peakRssMB: most("peakRssMB"), rounds: results.length };
  if (results[0]!.processPeakRssMB !== undefined) result.processPeakRssMB = most("processPeakRssMB");
  if (drift.length) result.tensorDrift = drift.reduce((a, b) => (Math.abs(b) > Math.abs(a) ? b : a), 0);
  return { out: { result, error: null, wallMs: list.reduce((t, r) => t + r.out.wallMs, 0) }, note: list.find((r) => r.note !== null)?.note ?? null };
}

const runTs = path.join(ROOT, "bin/run-ts.mjs");

console.error(`bench: ${opts.quick ? "quick" : "full"} run on ${os.cpus()[0]?.model ?? "?"} x${os.cpus().length}, node ${process.version}, tfjs ${tfjsVersion}; load average ${loadBefore.map(r2).join(" ")}`);
if (loadBefore[0]! > os.cpus().length) console.error(`bench: warning: the machine is busy (load ${r2(loadBefore[0]!)} on ${os.cpus().length} CPUs); wall times will be inflated, CPU times less so`);

const torch = opts.engines.includes("pytorch") || opts.engines.includes("pytorch-compiled") ? await findTorchPython(opts.python ? [opts.python] : ["/usr/bin/python3", "python3"]) : { python: null, why: "not requested" };
const rows: Row[] = [];
const details: Detail[] = [];

try {
  for (const model of opts.models) {
    const scale = model.scale ? opts.sngan : null;
    const m: BenchModel = scale ? { ...model, batch: scale.batch } : model;
    const { iters, warmup } = opts.quick ? m.iters.quick : m.iters.full;
    const trainer = path.join(tmp, `${m.id}.exec.mts`);
    if (opts.engines.some((e) => e.startsWith("compiled"))) writeExecTrainer(m.spec, trainer, scale ? (text) => scaleSpec(m.id, text, scale) : undefined);
    if (scale) console.error(`bench: ${m.id}: ${scaleLabel(scale)}`);
    const runs = new Map<Engine, { out: ChildOutcome; note: string | null }[]>(opts.engines.map((e) => [e, []]));
    for (let round = 0; round < opts.rounds; round++) {
      const order = round % 2 === 0 ? opts.engines : [...opts.engines].reverse();
      const roundLabel = opts.rounds > 1 ? ` (round ${round + 1} of ${opts.rounds})` : "";
      if (opts.lockstep) {
        // every engine's child is spawned before the first await: the ring is complete when sealed
        console.error(`bench: ${m.id} / ${order.join(", ")} in turns: ${warmup} warm-up + ${iters} timed iterations each${roundLabel}`);
        const ring = new Ring();
        const pending = order.map((engine) => runEngine(m, engine, scale, iters, warmup, trainer, ring));
        ring.seal();
        const outs = await Promise.all(pending);
        order.forEach((engine, i) => runs.get(engine)!.push(outs[i]!));
      } else {
        for (const engine of order) {
          console.error(`bench: ${m.id} / ${engine}: ${warmup} warm-up + ${iters} timed iterations${roundLabel}`);
          runs.get(engine)!.push(await runEngine(m, engine, scale, iters, warmup, trainer, null));
        }
      }
    }
    for (const engine of opts.engines) {
      const { out, note } = pooled(runs.get(engine)!);
      const { row, detail } = toRow(m, engine, out, engine.startsWith("pytorch") ? "torch CPU" : opts.backend, note);
      if (scale) row.config = { ...scale };
      rows.push(row);
      details.push(detail);
    }
  }
} finally {
  fs.rmSync(tmp, { recursive: true, force: true });
}

if (opts.compile) console.error("bench: compile times (compileText, 1 untimed + 20 timed calls per spec)");
const compile = opts.compile ? timeCompiles(20) : [];
const bigReps = opts.quick ? 3 : 5;
if (opts.compile) console.error(`bench: parse+check of two generated 10,000-line specs (${bigReps} runs each)`);
const big = opts.compile ? timeBigSpecs(bigReps) : [];

/** Loading speed of a folder of generated 64x64 JPEGs, in a child process (bench/data-loading.ts --json). */
interface DataLoading {
  images: number;
  decodeImagesPerSec: number;
  cachedImagesPerSec: number;
  decodeSecs: number;
  epochSecs: number;
  rssMB: number;
}
let dataLoading: (DataLoading & { seedTrainImagesPerSec: number | null; cachedOverTraining: number | null }) | { error: string } | null = null;
if (opts.data) {
  const count = opts.dataCount ?? (opts.quick ? 2000 : 10000);
  console.error(`bench: data loading, a folder of ${count} generated 64x64 JPEGs (bench/data-loading.ts)`);
  const r = await new Promise<{ code: number | null; out: string; err: string }>((resolve) => {
    const c = spawn(process.execPath, [path.join(ROOT, "bin/run-ts.mjs"), path.join(ROOT, "bench/data-loading.ts"), "--count", String(count), "--json"], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
    let out = "", err = "";
    c.stdout.on("data", (d: Buffer) => (out += d.toString()));
    c.stderr.on("data", (d: Buffer) => (err += d.toString()));
    c.on("close", (code) => resolve({ code, out, err }));
  });
  const line = r.out.trim().split("\n").pop() ?? "";
  if (r.code !== 0 || !line.startsWith("{")) dataLoading = { error: `exit ${r.code}: ${(r.err.trim().split("\n").pop() ?? "").slice(0, 300)}` };
  else {
    const d = JSON.parse(line) as DataLoading;
    // The seed GAN's training speed in this run: the compiled engine's images/s.
    const seedTrain = rows.find((x) => x.model === "seed" && x.engine === "compiled")?.imagesPerSec ?? null;
    dataLoading = { ...d, seedTrainImagesPerSec: seedTrain, cachedOverTraining: seedTrain ? r2(d.cachedImagesPerSec / seedTrain) : null };
  }
}
const loadAfter = os.loadavg();

// Ratios of medians, measured in this run (wall time, and CPU time of the process).
const ratios = opts.models.map((m) => {
  const get = (e: Engine) => ({ row: rows.find((r) => r.model === m.id && r.engine === e), d: details.find((r) => r.model === m.id && r.engine === e) });
  const c = get("compiled");
  const ratio = (a: number | null | undefined, b: number | null | undefined) => (a && b ? r3(a / b) : null);
  return {
    model: m.id,
    compiledOverHandwritten: ratio(c.row?.msPerIterMedian, get("handwritten").row?.msPerIterMedian),
    compiledOverPytorch: ratio(c.row?.msPerIterMedian, get("pytorch").row?.msPerIterMedian),
    // Without the machine's libraries (only what npm installs) against with them.
    npmOverCompiled: ratio(get("compiled-npm").row?.msPerIterMedian, c.row?.msPerIterMedian),
    wasmOverCompiled: ratio(get("compiled-wasm").row?.msPerIterMedian, c.row?.msPerIterMedian),
    cpuCompiledOverHandwritten: ratio(c.d?.cpuMsPerIterMedian, get("handwritten").d?.cpuMsPerIterMedian),
    cpuCompiledOverPytorch: ratio(c.d?.cpuMsPerIterMedian, get("pytorch").d?.cpuMsPerIterMedian),
    // The trainer ganc writes for PyTorch against the hand-written PyTorch script.
    pytorchCompiledOverPytorch: ratio(get("pytorch-compiled").row?.msPerIterMedian, get("pytorch").row?.msPerIterMedian),
    cpuPytorchCompiledOverPytorch: ratio(get("pytorch-compiled").d?.cpuMsPerIterMedian, get("pytorch").d?.cpuMsPerIterMedian),
  };
});

// ---- print -----------------------------------------------------------------------------------------

const lines: string[] = [];
lines.push(`## ganc benchmark, ${started.toISOString().slice(0, 10)} (${opts.quick ? "quick" : "full"})`);
lines.push("");
lines.push(`${os.cpus()[0]?.model ?? "?"} x${os.cpus().length}, node ${process.version}, @tensorflow/tfjs ${tfjsVersion}; load average ${r2(loadBefore[0]!)} before, ${r2(loadAfter[0]!)} after.`);
lines.push("");
lines.push(
  table(
    ["model", "engine", "backend", "ms/iter median", "min", "max", "images/s", "CPU ms/iter", "peak RSS MB", "tensor drift", "iters"],
    rows.map((r, i) => {
      const d = details[i]!;
      const model = r.config ? `${r.model} (${scaleLabel(r.config)})` : r.model;
      if (!d.available) return [model, r.engine, r.backend, d.note === null ? "not available" : `not available: ${d.note}`, "-", "-", "-", "-", "-", "-", "-"];
      return [model, r.engine, r.backend, fmt(r.msPerIterMedian), fmt(r.msPerIterMin), fmt(r.msPerIterMax), fmt(r.imagesPerSec), fmt(d.cpuMsPerIterMedian), fmt(r.peakRssMB, 0), d.tensorDrift === null ? "n/a" : String(d.tensorDrift), d.rounds > 1 ? `${d.rounds} x ${d.iterations / d.rounds}+${d.warmup}` : `${d.iterations}+${d.warmup}`];
    }),
  ),
);
const notes = details.filter((d) => d.available && d.note).map((d) => `- ${d.model} / ${d.engine}: ${d.note}`);
if (notes.length) lines.push("", ...notes);
lines.push("");
lines.push(
  table(
    ["model", "compiled / handwritten", "compiled / pytorch", "compiled-npm / compiled", "compiled-wasm / compiled", "CPU time: compiled / handwritten", "CPU time: compiled / pytorch", "pytorch-compiled / pytorch", "CPU time: pytorch-compiled / pytorch"],
    ratios.map((r) => [r.model, fmt(r.compiledOverHandwritten, 2), fmt(r.compiledOverPytorch, 2), fmt(r.npmOverCompiled, 2), fmt(r.wasmOverCompiled, 2), fmt(r.cpuCompiledOverHandwritten, 2), fmt(r.cpuCompiledOverPytorch, 2), fmt(r.pytorchCompiledOverPytorch, 2), fmt(r.cpuPytorchCompiledOverPytorch, 2)]),
  ),
);
if (opts.compile) lines.push("");
if (opts.compile) lines.push(
  table(
    ["spec", "lines", "compile ms median", "min", "max", "CPU ms median", "first call ms"],
    compile.map((c) => (c.ok ? [c.spec, String(c.lines), fmt(c.msMedian, 2), fmt(c.msMin, 2), fmt(c.msMax, 2), fmt(c.cpuMsMedian, 2), fmt(c.firstCallMs, 2)] : [c.spec, String(c.lines), c.note ?? "failed", "-", "-", "-", "-"])),
  ),
);
if (opts.compile) lines.push("");
if (opts.compile) lines.push(
  table(
    ["generated spec", "lines", "errors", "parse+check ms median", "min", "max", "full compile ms"],
    big.map((b) => [b.variant, String(b.lines), String(b.errors), fmt(b.parseCheckMsMedian), fmt(b.parseCheckMsMin), fmt(b.parseCheckMsMax), b.compileNote ? `${fmt(b.compileMs)} (${b.compileNote})` : fmt(b.compileMs)]),
  ),
);
if (dataLoading) {
  lines.push("");
  if ("error" in dataLoading) lines.push(`Data loading: failed (${dataLoading.error})`);
  else {
    const d = dataLoading;
    lines.push(
      table(
        ["data loading", "first decode images/s", "cached epoch images/s (batches of 64)", "seed GAN trains, images/s", "cached / training", "at least 10x"],
        [[`${d.images} 64x64 JPEGs`, `${fmt(d.decodeImagesPerSec, 0)} (${fmt(d.decodeSecs, 1)} s)`, `${fmt(d.cachedImagesPerSec, 0)} (${fmt(d.epochSecs, 2)} s)`, fmt(d.seedTrainImagesPerSec), fmt(d.cachedOverTraining, 1), d.cachedOverTraining === null ? "n/a (seed/compiled not run)" : d.cachedOverTraining >= 10 ? "yes" : "NO"]],
      ),
    );
  }
}
console.log(lines.join("\n"));

// ---- write -----------------------------------------------------------------------------------------

if (opts.write) {
  const report = {
    date: started.toISOString(),
    mode: opts.quick ? "quick" : "full",
    rows,
    details,
    ratios,
    compile,
    bigSpec: big,
    dataLoading,
    environment: {
      cpu: os.cpus()[0]?.model ?? null,
      cpus: os.cpus().length,
      node: process.version,
      tfjs: tfjsVersion,
      backendChoice: opts.backend,
      torchThreads: opts.torchThreads,
      rounds: opts.rounds,
      loadAverageBefore: loadBefore.map(r2),
      loadAverageAfter: loadAfter.map(r2),
    },
  };
  const dir = path.join(ROOT, "bench/results");
  fs.mkdirSync(dir, { recursive: true });
  const json = JSON.stringify(report, null, 2) + "\n";
  const day = `${started.getFullYear()}-${String(started.getMonth() + 1).padStart(2, "0")}-${String(started.getDate()).padStart(2, "0")}`;
  fs.writeFileSync(path.join(dir, `${day}.json`), json);
  fs.writeFileSync(path.join(dir, "latest.json"), json);
  console.error(`bench: wrote bench/results/${day}.json and bench/results/latest.json`);
}
