/**
 * Times one engine on one model in this process and prints one result line on stdout
 * (RESULT_MARKER + JSON). The benchmark starts one worker per table row, so that peak RSS is the
 * engine's own.
 *
 *   node bin/run-ts.mjs bench/worker.ts <compiled|handwritten> <seed|ring8|sngan_resnet>
 *        [--iters N] [--warmup W] [--backend auto|wasm|cpu|...] [--trainer FILE] [--batch N --width W]
 *
 * --batch and --width (sngan_resnet and sagan only; default their reduced configuration) scale the model the
 * same way in both engines: the compiled engine's spec text is rewritten (bench/models.ts scaleSpec).
 *
 * compiled: runs the generated trainer's main() in-process with flags under which it only trains
 * (--log-every and --sample-every past the end, --quiet, a temporary --out). Each iteration is timed
 * from the end of one Run.endIteration() to the end of the next, by wrapping the methods of the
 * runtime's Run class from here; iterations in which the run read losses back or wrote samples or a
 * checkpoint (always the last one, which is therefore run but not counted) are left out.
 * handwritten: calls bench/handwritten/<model>.ts's iterate() between two clock readings.
 *
 * Both assume a backend whose ops finish before they return (wasm, cpu, tensorflow): nothing is read
 * back per iteration, as in the trainer.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { pathToFileURL } from "node:url";
import * as tf from "@tensorflow/tfjs";
import { Run } from "../src/runtime/session.ts";
import { selectBackend, type BackendChoice } from "../src/runtime/backend.ts";
import { loadEmbeddedMnist } from "../src/runtime/data.ts";
import { makeMnistColor } from "../src/data/mnist-color.ts";
import { Turns } from "./turns.ts";
import { MODELS, modelById, RESULT_MARKER, scaleSpec, type BenchModel, type Scale } from "./models.ts";

export interface WorkerResult {
  engine: "compiled" | "handwritten";
  model: BenchModel["id"];
  backend: string;
  batch: number;
  warmup: number;
  /** Wall time of each counted iteration, ms. */
  iterMs: number[];
  /** CPU time of this process (all its threads) in each counted iteration, ms: less sensitive than
   * wall time to other load on the machine. */
  iterCpuMs: number[];
  /** Iterations run but not counted (read-back, samples or checkpoint in them). */
  skippedIo: number;
  /** Live tensors after the warm-up and after the last counted iteration (compiled: without the
   * unread loss scalars the runtime holds until its next read-back, reported as pendingScalars). */
  tensorsAfterWarmup: number;
  tensorsAtEnd: number;
  tensorDrift: number;
  pendingScalars?: number;
  setupMs: number;
  /** Peak RSS of this process up to the end of the last counted iteration. */
  peakRssMB: number;
  /** Peak RSS of the whole process (compiled: with the final sample grid and checkpoint). */
  processPeakRssMB: number;
  /** wasm backend: the size of its heap (linear memory) at the end, which never shrinks from its peak. */
  wasmHeapMB?: number;
  finalLosses: Record<string, number> | null;
}

interface Args {
  engine: string;
  model: BenchModel;
  iters: number;
  warmup: number;
  backend: BackendChoice;
  trainer: string | null;
  /** Batch and channel multiplier of a scalable model (sngan_resnet); null: the model's own batch. */
  scale: Scale | null;
}

function parseArgs(argv: string[]): Args {
  const [engine, model, ...rest] = argv;
  if (!engine || !model) throw new Error("usage: worker.ts <compiled|handwritten> <seed|ring8> [--iters N] [--warmup W] [--backend B] [--trainer FILE]");
  const m = modelById(model);
  const opts: Record<string, string> = {};
  for (let i = 0; i < rest.length; i += 2) {
    const k = rest[i]!;
    if (!k.startsWith("--") || rest[i + 1] === undefined) throw new Error(`bad argument '${k}'`);
    opts[k.slice(2)] = rest[i + 1]!;
  }
  const iters = Number(opts.iters ?? m.iters.full.iters);
  const warmup = Number(opts.warmup ?? m.iters.full.warmup);
  if (!Number.isInteger(iters) || iters < 1 || !Number.isInteger(warmup) || warmup < 1) throw new Error("--iters and --warmup must be whole numbers >= 1");
  let scale: Scale | null = null;
  if (m.scale) {
    scale = { batch: Number(opts.batch ?? m.scale.reduced.batch), width: Number(opts.width ?? m.scale.reduced.width) };
    if (!Number.isInteger(scale.batch) || scale.batch < 1 || !(scale.width > 0)) throw new Error("--batch must be a whole number >= 1 and --width > 0");
  } else if (opts.batch !== undefined || opts.width !== undefined) throw new Error(`--batch and --width apply to ${MODELS.filter((x) => x.scale).map((x) => x.id).join(", ")} only`);
  return { engine, model: m, iters, warmup, backend: (opts.backend ?? "auto") as BackendChoice, trainer: opts.trainer ?? null, scale };
}

/** The spec's data, mnist_color (the embedded MNIST digits colored, 32x32x3), as floats in [0, 1]. */
function mnistColorFloats(): Float32Array {
  const { bytes } = makeMnistColor();
  const out = new Float32Array(bytes.length);
  for (let i = 0; i < bytes.length; i++) out[i] = bytes[i]! / 255;
  return out;
}

const peakRssMB = () => process.resourceUsage().maxRSS / 1024;
const wasmHeapMB = (): number | undefined => {
  const w = (tf.backend() as unknown as { wasm?: { asm?: { memory?: WebAssembly.Memory }; wasmMemory?: WebAssembly.Memory } }).wasm;
  const memory = w?.asm?.memory ?? w?.wasmMemory;
  return memory instanceof WebAssembly.Memory ? memory.buffer.byteLength / 2 ** 20 : undefined;
};
const cpuMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

async function runCompiled(a: Args): Promise<WorkerResult> {
  const t0 = performance.now();
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "ganc-bench-"));
  try {
    let trainer = a.trainer;
    if (!trainer) {
      const { writeExecTrainer } = await import("./compiled.ts");
      trainer = path.join(tmp, "trainer.exec.mts");
      writeExecTrainer(a.model.spec, trainer, a.scale ? (text) => scaleSpec(a.model.id, text, a.scale!) : undefined);
    }
    const times: number[] = [];
    const cpu: number[] = [];
    const io: boolean[] = [];
    const counts: number[] = [];
    const pending: number[] = [];
    const rss: number[] = [];
    let backend = "";
    let mark = 0;
    let cpuMark = 0;
    let sawIo = false;
    let setupMs = 0;
    const turns = new Turns();
    const steps = a.warmup + a.iters + 1; // the last iteration writes samples and a checkpoint

    // Wrap the runtime's Run methods (the class the trainer uses: same module instance).
    type Method = (this: unknown, ...args: unknown[]) => Promise<unknown>;
    const proto = Run.prototype as unknown as Record<string, Method>;
    const wrap = (name: string, around: (orig: Method) => Method) => {
      const orig = proto[name];
      if (typeof orig !== "function") throw new Error(`Run.prototype.${name} is missing: the timing hooks need updating`);
      proto[name] = around(orig);
    };
    const pendingScalars = (run: unknown) => (run as Run).pendingScalars();
    wrap("begin", (orig) => async function (this: unknown, ...args) {
      const r = await orig.apply(this, args);
      backend = (this as Run).backend.detail;
      setupMs = performance.now() - t0;
      turns.point();
      cpuMark = cpuMs();
      mark = performance.now();
      return r;
    });
    wrap("endIteration", (orig) => async function (this: unknown, ...args) {
      sawIo = false;
      const r = await orig.apply(this, args);
      times.push(performance.now() - mark);
      cpu.push(cpuMs() - cpuMark);
      io.push(sawIo);
      const p = pendingScalars(this);
      counts.push(tf.memory().numTensors - p);
      pending.push(p);
      rss.push(peakRssMB());
      if (times.length === steps) turns.end();
      else turns.point();
      cpuMark = cpuMs();
      mark = performance.now();
      return r;
    });
    for (const name of ["readBack", "writeSamples", "checkpoint"]) {
      wrap(name, (orig) => async function (this: unknown, ...args) {
        sawIo = true;
        return orig.apply(this, args);
      });
    }

    const mod = (await import(pathToFileURL(path.resolve(trainer)).href)) as { main: (argv: string[]) => Promise<number> };
    const never = String(10 * steps);
    const out = path.join(tmp, "run");
    const code = await mod.main(["--steps", String(steps), "--log-every", never, "--sample-every", never, "--quiet", "--out", out, "--backend", a.backend]);
    if (code !== 0) throw new Error(`the compiled trainer exited with code ${code}`);

    const counted = times.map((t, i) => ({ t, i })).filter(({ i }) => i >= a.warmup && !io[i]);
    const last = counted[counted.length - 1]!.i;
    const metrics = fs.readFileSync(path.join(out, "metrics.jsonl"), "utf8").trim().split("\n");
    const lastRow = JSON.parse(metrics[metrics.length - 1]!) as Record<string, number>;
    const notLoss = (k: string) => ["step", "epoch", "itPerSec", "tensors"].includes(k) || /(MB|Sec|Ms)$/.test(k);
    const finalLosses = Object.fromEntries(Object.entries(lastRow).filter(([k]) => !notLoss(k)));
    return {
      engine: "compiled",
      model: a.model.id,
      backend,
      batch: a.scale?.batch ?? a.model.batch,
      warmup: a.warmup,
      iterMs: counted.map(({ t }) => t),
      iterCpuMs: counted.map(({ i }) => cpu[i]!),
      skippedIo: times.length - a.warmup - counted.length,
      tensorsAfterWarmup: counts[a.warmup - 1]!,
      tensorsAtEnd: counts[last]!,
      tensorDrift: counts[last]! - counts[a.warmup - 1]!,
      pendingScalars: pending[last]!,
      setupMs,
      peakRssMB: rss[last]!,
      processPeakRssMB: peakRssMB(),
      wasmHeapMB: wasmHeapMB(),
      finalLosses,
    };
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

async function runHandwritten(a: Args): Promise<WorkerResult> {
  const t0 = performance.now();
  const info = await selectBackend(a.backend, { log: () => {} });
  if (a.model.noHandwritten) throw new Error(`${a.model.id}: ${a.model.noHandwritten}`);
  const trainer =
    a.model.id === "seed"
      ? await (await import("./handwritten/seed-gan.ts")).setup(a.model.batch, { images: loadEmbeddedMnist().x })
      : a.model.id === "sngan_resnet"
        ? await (await import("./handwritten/sngan-resnet.ts")).setup(a.scale!.batch, { images: mnistColorFloats(), width: a.scale!.width })
        : await (await import("./handwritten/ring8.ts")).setup(a.model.batch);
  const setupMs = performance.now() - t0;
  const turns = new Turns();
  for (let i = 0; i < a.warmup; i++) {
    turns.point();
    trainer.iterate();
  }
  const tensorsAfterWarmup = tf.memory().numTensors;
  const iterMs: number[] = [];
  const iterCpuMs: number[] = [];
  for (let i = 0; i < a.iters; i++) {
    turns.point();
    const c = cpuMs();
    const t = performance.now();
    trainer.iterate();
    iterMs.push(performance.now() - t);
    iterCpuMs.push(cpuMs() - c);
  }
  turns.end();
  const tensorsAtEnd = tf.memory().numTensors;
  const peak = peakRssMB();
  const losses = await trainer.losses();
  trainer.dispose();
  return {
    engine: "handwritten",
    model: a.model.id,
    backend: info.detail,
    batch: a.scale?.batch ?? a.model.batch,
    warmup: a.warmup,
    iterMs,
    iterCpuMs,
    skippedIo: 0,
    tensorsAfterWarmup,
    tensorsAtEnd,
    tensorDrift: tensorsAtEnd - tensorsAfterWarmup,
    setupMs,
    peakRssMB: peak,
    processPeakRssMB: peakRssMB(),
    finalLosses: losses,
  };
}

const args = parseArgs(process.argv.slice(2));
let result: WorkerResult;
if (args.engine === "compiled") result = await runCompiled(args);
else if (args.engine === "handwritten") result = await runHandwritten(args);
else throw new Error(`unknown engine '${args.engine}' (the worker runs compiled and handwritten; pytorch runs from bench/pytorch/)`);
const median = [...result.iterMs].sort((x, y) => x - y)[Math.floor(result.iterMs.length / 2)]!;
process.stderr.write(`${result.model} ${result.engine}: ~${median.toFixed(1)} ms/iteration over ${result.iterMs.length}; ${result.backend}\n`);
process.stdout.write(RESULT_MARKER + JSON.stringify(result) + "\n");
process.exit(0);
