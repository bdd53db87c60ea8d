/**
 * Before and after: the compiled trainers of two (or more) trees of this repository, run in lockstep (bench/turns.ts:
 * one at a time, turns of about 200 ms, round the ring), so that a drifting machine's slow stretches fall on all of
 * them alike. Each tree runs its own bench/worker.ts (from its TypeScript sources) on the model, compiling the spec
 * with its own compiler; the trees need bench/turns.ts (this commit's or later) and their node_modules.
 *
 *   node bin/run-ts.mjs bench/ab.ts <model> <tree> <tree> [...] [--iters 20] [--warmup 2] [--runs 3]
 *
 * For a commit: git worktree add /tmp/before <commit> && ln -s "$PWD/node_modules" /tmp/before/node_modules.
 * Prints, per run, each tree's median ms per iteration, and at the end the medians over all runs' iterations and
 * each tree's ratio to the first. The order of the trees in the ring alternates from run to run.
 */
import { spawn } from "node:child_process";
import * as path from "node:path";
import { RESULT_MARKER } from "./models.ts";
import { Ring } from "./turns.ts";

const argv = process.argv.slice(2);
const opt = (name: string, dflt: number): number => {
  const i = argv.indexOf(`--${name}`);
  if (i < 0) return dflt;
  const v = Number(argv.splice(i, 2)[1]);
  if (!Number.isInteger(v) || v < 1) throw new Error(`--${name} must be a whole number >= 1`);
  return v;
};
const iters = opt("iters", 20);
const warmup = opt("warmup", 2);
const runs = opt("runs", 3);
const [model, ...trees] = argv;
if (!model || trees.length < 2) {
  console.error("usage: node bin/run-ts.mjs bench/ab.ts <model> <tree> <tree> [...] [--iters 20] [--warmup 2] [--runs 3]");
  process.exit(2);
}

/** One tree's worker in the ring: its timed iterations (ms), or the reason it gave none. */
function worker(ring: Ring, tree: string): Promise<number[] | string> {
  return new Promise((resolve) => {
    const args = ["bin/run-ts.mjs", "bench/worker.ts", "compiled", model!, "--iters", String(iters), "--warmup", String(warmup)];
    const child = spawn(process.execPath, args, { cwd: tree, env: { ...process.env, GANC_FROM_SOURCE: "1", GANC_BENCH_TURNS: "1" }, stdio: ["ignore", "pipe", "pipe", "pipe", "pipe"] });
    ring.join(child);
    let out = "";
    let err = "";
    child.stdout!.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr!.on("data", (d: Buffer) => (err += d.toString()));
    child.on("close", (code) => {
      const line = out.split("\n").find((l) => l.startsWith(RESULT_MARKER));
      if (code === 0 && line) resolve((JSON.parse(line.slice(RESULT_MARKER.length)) as { iterMs: number[] }).iterMs);
      else resolve(`exit ${code}: ${err.trim().split("\n").slice(-2).join(" | ")}`);
    });
  });
}

const median = (v: number[]) => {
  const s = [...v].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const dirs = trees.map((t) => path.resolve(t));
const all = dirs.map((): number[] => []);
for (let run = 0; run < runs; run++) {
  const order = run % 2 === 0 ? dirs.map((_, i) => i) : dirs.map((_, i) => dirs.length - 1 - i);
  const ring = new Ring();
  const pending = order.map((i) => worker(ring, dirs[i]!));
  ring.seal();
  const results = await Promise.all(pending);
  const line: string[] = [];
  results.forEach((r, k) => {
    const i = order[k]!;
    if (typeof r === "string") throw new Error(`${dirs[i]}: ${r}`);
    all[i]!.push(...r);
    line.push(`${trees[i]} ${median(r).toFixed(1)}`);
  });
  console.log(`run ${run + 1}: ${line.join(", ")} ms`);
}
const first = median(all[0]!);
dirs.forEach((_, i) => console.log(`${trees[i]}: ${median(all[i]!).toFixed(1)} ms median over ${all[i]!.length} iterations${i > 0 ? `, ${(median(all[i]!) / first).toFixed(3)} x ${trees[0]}` : ""}`));
