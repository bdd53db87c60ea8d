/**
 * The ring-of-8 mode-coverage test, registered by ring8-modes-blas.test.ts (the native BLAS) and
 * ring8-modes-wasm.test.ts (pure wasm): one file per kind of rounding, so that vitest's two workers can
 * run them side by side (each takes minutes).
 *
 * A vanilla GAN's mode coverage on the ring is a chaotic outcome: one run's trajectory flips with the last
 * bit of a matrix product, so a different BLAS build (or none) turns one seed's 8 modes into 4. The test
 * therefore trains three seeds for 4,000 iterations and asserts statistics with margin over them; measured
 * on this fixture (BLAS on and off, 11 seeds): 5-8 modes per seed, mean 6.6, high-quality fraction 0.23-0.88;
 * later, seeds 1, 4, 5, 6 with OpenBLAS: 8, 1, 8, 8 modes (two threads per product) and 3, 8, 6, 7 (one
 * thread for ring8's small products), so a single seed can collapse: the assertions are over the two best
 * seeds of the three.
 * A broken trainer (wrong gradient, a dead optimizer) covers 0-2 modes with almost no high-quality samples.
 * It runs on the native BLAS where one is installed and on pure wasm, so both kinds of rounding are proven.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { expect, it } from "vitest";
import { toyModes } from "../../src/runtime/data.ts";
import { ganc, readJsonl, tmpDir } from "../helpers.ts";

/** Samples written by `ganc sample -o x.json`. */
function readSamples(file: string): { shape: number[]; data: number[] } {
  return JSON.parse(fs.readFileSync(file, "utf8"));
}

export function ringModesTest(blas: "on" | "off"): void {
  it(`the ring-of-8 GAN covers the modes over three seeds (BLAS ${blas})`, () => {
    const env = { ...process.env, ...(blas === "off" ? { GANC_BLAS: "off" } : {}) };
    const { centers, std } = toyModes("ring8");
    const rows: { seed: number; covered: number; hq: number; evalModes: number; evalHq: number; counts: number[] }[] = [];
    for (const seed of [1, 2, 3]) {
      const out = tmpDir();
      const r = ganc(["train", "test/fixtures/ring8.gan", "--out", out, "--steps", "4000", "--seed", String(seed), "--eval-every", "4000", "--backend", "wasm", "--quiet"], { env });
      expect(r.code, r.stderr).toBe(0);
      expect(ganc(["sample", out, "-n", "1000", "-o", path.join(out, "s.json")], { env }).code).toBe(0);
      const { data } = readSamples(path.join(out, "s.json"));
      const counts = new Array(8).fill(0);
      for (let i = 0; i < data.length; i += 2) {
        centers.forEach((c, k) => {
          if (Math.hypot(data[i]! - c[0]!, data[i + 1]! - c[1]!) < 3 * std) counts[k]++;
        });
      }
      // The trainer's own evaluation (other noise, 1,000 samples).
      const last = readJsonl(path.join(out, "metrics.jsonl")).at(-1)!;
      rows.push({
        seed,
        covered: counts.filter((c) => c >= 10).length, // 1% of the samples
        hq: counts.reduce((a, b) => a + b, 0) / 1000,
        evalModes: last.modesCovered!,
        evalHq: last.highQuality!,
        counts,
      });
    }
    const why = rows.map((r) => `seed ${r.seed}: ${r.covered} modes, hq ${r.hq.toFixed(2)}, eval ${r.evalModes}/${r.evalHq.toFixed(2)} [${r.counts}]`).join("; ");
    // One seed of three may collapse (measured: seed 4 covered 1 mode with OpenBLAS on two threads per
    // product, seed 1 covered 2-3 with ring8's products on one thread, the other seeds 6-8 either way), so
    // the statistics are taken over the two best seeds: a broken trainer collapses on every seed (0-2 modes,
    // almost no high-quality samples) and fails them all, and a second collapsed seed fails them too.
    const best = [...rows].sort((a, b) => b.covered - a.covered || b.hq - a.hq).slice(0, 2);
    const mean = (f: (r: (typeof rows)[number]) => number) => best.reduce((a, r) => a + f(r), 0) / best.length;
    for (const r of best) expect(r.covered, why).toBeGreaterThanOrEqual(4);
    expect(mean((r) => r.covered), why).toBeGreaterThanOrEqual(5);
    expect(mean((r) => r.hq), why).toBeGreaterThan(0.25);
    expect(mean((r) => r.evalModes), why).toBeGreaterThanOrEqual(5);
    expect(mean((r) => r.evalHq), why).toBeGreaterThan(0.25);
  }, 480_000);
}
