import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { gancInProcess, tmpDir } from "../helpers.ts";

/**
 * Kernels per training iteration, counted with tf.profile: the trainer's --stats file and
 * `ganc compile --stats`. The count does not depend on the batch size, so the trainer runs at batch 8.
 * The commands run inside the test process (gancInProcess): the counts are the trainer's, not the process's.
 */

interface Stats {
  kernels: number;
  iteration: number;
  byKernel: Record<string, { count: number; ms: number }>;
  sequence: string[];
}

async function stats(extra: string[]): Promise<Stats> {
  const dir = tmpDir();
  const file = path.join(dir, "stats.json");
  const r = await gancInProcess(["train", "specs/gan.gan", "--out", path.join(dir, "run"), "--steps", "3", "--batch", "8", "--backend", "wasm", "--quiet", "--stats", file, ...extra]);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(fs.readFileSync(file, "utf8")) as Stats;
}

/** The reference trainer's stats (--no-opt), run once and read by two tests. */
let reference: Promise<Stats> | undefined;
const referenceStats = () => (reference ??= stats(["--no-opt"]));

describe("kernels per iteration", () => {
  it("the trainer's --stats profiles its second iteration: every kernel, by name and in order", async () => {
    const s = await referenceStats();
    expect(s.iteration).toBe(2);
    expect(s.sequence.length).toBe(s.kernels);
    expect(Object.values(s.byKernel).reduce((n, k) => n + k.count, 0)).toBe(s.kernels);
    expect(s.sequence.slice(0, 8).some((k) => k.startsWith("_FusedMatMul [[1,8,62],[1,62,1024],[1024]"))).toBe(true); // G's first layer, at batch 8
  }, 120_000);

  it("the optimized seed GAN runs under 30% of the reference's kernels, and at most 400 on wasm (1,794 -> 395 when written); --stats-iteration picks the iteration", async () => {
    const ref = (await referenceStats()).kernels;
    // a later iteration than the default second (an iteration's kernels are the same from the second on)
    const s = await stats(["--stats-iteration", "3"]);
    expect(s.iteration).toBe(3);
    const opt = s.kernels;
    expect(ref).toBeGreaterThan(1500);
    expect(opt).toBeLessThan(0.3 * ref);
    // the target of the optimizer (ganc's one-kernel Adam and batch-norm bookkeeping on wasm included);
    // also a guard against passes silently switching off
    expect(opt).toBeLessThanOrEqual(400);
  }, 180_000);

  it("--stats-iteration without --stats is a usage error", async () => {
    const r = await gancInProcess(["train", "specs/gan.gan", "--out", path.join(tmpDir(), "run"), "--steps", "1", "--stats-iteration", "3"]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/--stats-iteration only applies with --stats/);
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
  }, 60_000);

  it("ganc compile --stats prints the count after writing the trainer", async () => {
    const out = path.join(tmpDir(), "t.ts");
    const r = await gancInProcess(["compile", "specs/gan.gan", "--stats", "--backend", "wasm", "-o", out]);
    expect(r.code, r.stderr).toBe(0);
    expect(fs.existsSync(out)).toBe(true);
    expect(r.stderr).toMatch(/kernels per iteration: \d+ \(tf\.profile of iteration 2 on wasm, batch 64; \d+ ms while profiled\)\n {2}\w+ \d+, /);
  }, 180_000);
});
