/**
 * Soak benchmark (not a test): trains specs/ring8.gan for 2,000 iterations and samples the live tensor
 * count and the process RSS every 100 iterations (the trainer's metrics.jsonl), then reports the slope of
 * each per 1,000 iterations. A flat run has a tensor slope of exactly 0.
 *
 *   npm run soak [-- --steps 2000] [-- --save]
 *
 * The results go to a temp file (its path is printed); --save writes them to the tracked
 * bench/results/soak-latest.json instead, for a run meant to be committed.
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

const args = process.argv.slice(2);
const steps = Number(args[args.indexOf("--steps") + 1] ?? 2000) || 2000;
const root = path.resolve(import.meta.dirname, "..");
const out = fs.mkdtempSync(path.join(os.tmpdir(), "ganc-soak-"));
const t0 = Date.now();
const r = spawnSync(process.execPath, [path.join(root, "bin/ganc.mjs"), "train", path.join(root, "specs/ring8.gan"), "--out", out, "--steps", String(steps), "--log-every", "100", "--quiet"], { stdio: "inherit" });
if (r.status !== 0) process.exit(r.status ?? 1);
const rows = fs.readFileSync(path.join(out, "metrics.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l) as Record<string, number>);

/** Least-squares slope of y over x. */
function slope(xs: number[], ys: number[]): number {
  const n = xs.length;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    num += (xs[i]! - mx) * (ys[i]! - my);
    den += (xs[i]! - mx) ** 2;
  }
  return den === 0 ? 0 : num / den;
}

// The first sample includes warm-up allocations (kernels, optimizer slots): measure from the second on.
const steady = rows.slice(1);
const xs = steady.map((r) => r.step!);
const tensorSlope = slope(xs, steady.map((r) => r.tensors!)) * 1000;
const rssSlope = slope(xs, steady.map((r) => r.rssMB!)) * 1000;
console.log("\n| step | tensors | RSS MB | JS heap MB |\n|---|---|---|---|");
for (const row of rows) console.log(`| ${row.step} | ${row.tensors} | ${row.rssMB} | ${row.heapMB} |`);
console.log(`\nsoak: ${steps} iterations in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
console.log(`tensor count slope: ${tensorSlope.toFixed(3)} per 1,000 iterations (min ${Math.min(...steady.map((r) => r.tensors!))}, max ${Math.max(...steady.map((r) => r.tensors!))})`);
console.log(`RSS slope: ${rssSlope.toFixed(2)} MB per 1,000 iterations (first ${rows[0]!.rssMB} MB, last ${rows.at(-1)!.rssMB} MB)`);
const result = { date: new Date().toISOString(), spec: "specs/ring8.gan", steps, tensorSlopePer1000: tensorSlope, rssSlopeMBPer1000: rssSlope, samples: rows.map((r) => ({ step: r.step, tensors: r.tensors, rssMB: r.rssMB, heapMB: r.heapMB })) };
const resultFile = args.includes("--save") ? path.join(root, "bench/results/soak-latest.json") : path.join(os.tmpdir(), `ganc-soak-${process.pid}.json`);
fs.mkdirSync(path.dirname(resultFile), { recursive: true });
fs.writeFileSync(resultFile, JSON.stringify(result, null, 2) + "\n");
console.log(`results: ${resultFile}`);
fs.rmSync(out, { recursive: true, force: true });
if (tensorSlope !== 0) {
  console.error("the tensor count grew during the soak: a leak");
  process.exit(1);
}
