/**
 * The seed GAN's (or ring8's: --model ring8) compiled trainer with tfjs-backend-wasm on one thread (its single-threaded SIMD build)
 * and on N (its threaded build, src/runtime/wasm-threads.ts), with and without the native BLAS, run
 * alternately in the same invocation so that the configurations see the same load.
 *
 *   nice node bin/run-ts.mjs bench/threads.ts [--rounds 2] [--iters 8] [--warmup 2] [--threads 2]
 *        [--configs off-1,off-N,blas-1,blas-N] [--model seed|ring8]
 *
 * Each configuration of each round runs bench/worker.ts in its own process (GANC_BLAS=off for "off",
 * GANC_WASM_THREADS=1 or N; a third part "all", as in off-N-all, sets GANC_WASM_POOL=all: every
 * kernel on the thread pool, as before the pool was given per kernel). Prints one line per run and a table of medians over all runs: wall ms and
 * CPU ms (all threads) per iteration, peak RSS, the load average before and after.
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { ROOT, writeExecTrainer } from "./compiled.ts";
import { RESULT_MARKER } from "./models.ts";
import type { WorkerResult } from "./worker.ts";

const argv = process.argv.slice(2);
const opt = (name: string, dflt: string) => {
  const i = argv.indexOf(name);
  return i >= 0 && argv[i + 1] !== undefined ? argv[i + 1]! : dflt;
};
const rounds = Number(opt("--rounds", "2"));
const iters = Number(opt("--iters", "8"));
const warmup = Number(opt("--warmup", "2"));
const threads = opt("--threads", String(os.availableParallelism()));
const configs = opt("--configs", "off-1,off-N,blas-1,blas-N").split(",");
const model = opt("--model", "seed");
const SPECS: Record<string, string> = { seed: "specs/gan.gan", ring8: "test/fixtures/ring8.gan" };
if (SPECS[model] === undefined) throw new Error(`--model: seed or ring8, not '${model}'`);

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "ganc-threads-"));
const trainer = path.join(tmp, `${model}.exec.mts`);
writeExecTrainer(SPECS[model]!, trainer);

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;
const load = () => os.loadavg()[0]!.toFixed(1);
const all = new Map<string, { ms: number[]; cpu: number[]; rss: number[]; backend: string }>();
console.error(`threads bench: ${model} compiled, ${rounds} rounds x ${configs.join(", ")} (N = ${threads}), ${warmup} + ${iters} iterations; load ${load()}`);
const loadBefore = load();
try {
  for (let r = 0; r < rounds; r++) {
    for (const c of configs) {
      const [blas, t, pool] = c.split("-") as [string, string, string | undefined];
      const env: NodeJS.ProcessEnv = { ...process.env, GANC_WASM_THREADS: t === "N" ? threads : t };
      if (pool === "all") env.GANC_WASM_POOL = "all";
      else delete env.GANC_WASM_POOL;
      if (blas === "off") env.GANC_BLAS = "off";
      else delete env.GANC_BLAS;
      const args = [path.join(ROOT, "bin/run-ts.mjs"), path.join(ROOT, "bench/worker.ts"), "compiled", model, "--iters", String(iters), "--warmup", String(warmup), "--backend", "wasm", "--trainer", trainer];
      const p = spawnSync(process.execPath, args, { cwd: ROOT, env, encoding: "utf8", maxBuffer: 64 << 20 });
      const line = p.stdout.split("\n").find((l) => l.startsWith(RESULT_MARKER));
      if (p.status !== 0 || line === undefined) {
        console.error(`${c}: failed (${p.status}): ${p.stderr.slice(-2000)}`);
        continue;
      }
      const res = JSON.parse(line.slice(RESULT_MARKER.length)) as WorkerResult;
      const e = all.get(c) ?? { ms: [], cpu: [], rss: [], backend: res.backend };
      e.ms.push(...res.iterMs);
      e.cpu.push(...res.iterCpuMs);
      e.rss.push(res.peakRssMB);
      all.set(c, e);
      console.error(`round ${r + 1} ${c}: wall ${median(res.iterMs).toFixed(1)} ms, CPU ${median(res.iterCpuMs).toFixed(1)} ms, RSS ${res.peakRssMB.toFixed(0)} MB, wasm heap ${res.wasmHeapMB?.toFixed(0) ?? "?"} MB, load ${load()}; ${res.backend}`);
    }
  }
} finally {
  fs.rmSync(tmp, { recursive: true, force: true });
}
console.log(`\nload average ${loadBefore} before, ${load()} after; ${os.cpus()[0]?.model ?? "?"} x${os.cpus().length}, node ${process.version}\n`);
console.log("| config | backend | wall ms/iter median | CPU ms/iter median | peak RSS MB (max) | iterations |");
console.log("|---|---|---|---|---|---|");
for (const [c, e] of all) {
  console.log(`| ${c.replace("N", threads)} | ${e.backend} | ${median(e.ms).toFixed(1)} | ${median(e.cpu).toFixed(1)} | ${Math.max(...e.rss).toFixed(0)} | ${e.ms.length} |`);
}
