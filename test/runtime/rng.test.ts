import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { Rng } from "../../src/runtime/rng.ts";

function meanStd(xs: ArrayLike<number>): { mean: number; std: number } {
  let s = 0;
  for (let i = 0; i < xs.length; i++) s += xs[i];
  const mean = s / xs.length;
  let v = 0;
  for (let i = 0; i < xs.length; i++) v += (xs[i] - mean) ** 2;
  return { mean, std: Math.sqrt(v / xs.length) };
}

type Op = "uniform" | "uint32" | "normal" | "fillUniform" | "fillNormal" | "fillTruncatedNormal";
const OPS: Op[] = ["uniform", "uint32", "normal", "fillUniform", "fillNormal", "fillTruncatedNormal"];

/** Runs one operation and returns what it produced, as plain numbers. */
function apply(rng: Rng, op: Op, n: number): number[] {
  switch (op) {
    case "uniform":
      return [rng.uniform()];
    case "uint32":
      return [rng.uint32()];
    case "normal":
      return [rng.normal()];
    case "fillUniform":
      return [...rng.fillUniform(new Float32Array(n), -1, 2)];
    case "fillNormal":
      return [...rng.fillNormal(new Float32Array(n), 0.5, 3)];
    case "fillTruncatedNormal":
      return [...rng.fillTruncatedNormal(new Float32Array(n), 0, 1)];
  }
}

describe("Rng", () => {
  it("gives the same sequence for the same seed and a different one for another seed", () => {
    const run = (seed: number) => {
      const r = new Rng(seed);
      return OPS.flatMap((op) => apply(r, op, 5));
    };
    expect(run(7)).toEqual(run(7));
    expect(run(7)).not.toEqual(run(8));
  });

  it("is pinned: integer draws for a seed never change (runs, machines, versions)", () => {
    const r = new Rng(42);
    const first = Array.from({ length: 4 }, () => r.uint32());
    // Recorded once from this implementation; a change here breaks reproducibility of existing seeds.
    expect(first).toEqual(PINNED_SEED42);
  });

  it("decorrelates nearby seeds (the first uniform is not the same for small seeds)", () => {
    const firsts = Array.from({ length: 64 }, (_, s) => new Rng(s).uniform());
    const { mean, std } = meanStd(firsts);
    expect(Math.abs(mean - 0.5)).toBeLessThan(0.15);
    expect(std).toBeGreaterThan(0.2);
  });

  it("rejects seeds that are not unsigned 32-bit integers", () => {
    for (const bad of [-1, 1.5, 2 ** 32, NaN]) expect(() => new Rng(bad)).toThrow(RangeError);
    expect(() => new Rng(2 ** 32 - 1)).not.toThrow();
  });

  it("continues identically after a JSON round trip of its state", () => {
    const a = new Rng(123);
    a.normal();
    a.fillNormal(new Float32Array(3), 0, 1);
    const state = JSON.parse(JSON.stringify(a.getState())) as number[];
    const b = Rng.fromState(state);
    const seqA = OPS.flatMap((op) => apply(a, op, 7));
    const seqB = OPS.flatMap((op) => apply(b, op, 7));
    expect(seqB).toEqual(seqA);
  });

  it("state round trip continues identically after any sequence of draws (property)", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 2 ** 32 - 1 }),
        fc.array(fc.tuple(fc.constantFrom(...OPS), fc.integer({ min: 0, max: 9 })), { maxLength: 12 }),
        fc.array(fc.tuple(fc.constantFrom(...OPS), fc.integer({ min: 0, max: 9 })), { minLength: 1, maxLength: 12 }),
        (seed, before, after) => {
          const a = new Rng(seed);
          for (const [op, n] of before) apply(a, op, n);
          const b = Rng.fromState(a.getState());
          for (const [op, n] of after) expect(apply(b, op, n)).toEqual(apply(a, op, n));
        },
      ),
      { numRuns: 200 },
    );
  });

  it("getState is a snapshot, not a live view", () => {
    const r = new Rng(5);
    const s = r.getState();
    const copy = [...s];
    r.uint32();
    expect(s).toEqual(copy);
    expect(r.getState()).not.toEqual(copy);
  });

  it("rejects malformed states", () => {
    expect(() => Rng.fromState([1, 2, 3])).toThrow(TypeError);
    expect(() => Rng.fromState([1, 2, 3, 0.5])).toThrow(TypeError);
    expect(() => Rng.fromState([0, 0, 0, 0])).toThrow(TypeError);
    expect(() => Rng.fromState("x" as unknown as number[])).toThrow(TypeError);
  });

  it("draws uniform() in [0, 1) with mean near 1/2, and uint32() in [0, 2^32)", () => {
    const r = new Rng(1);
    const xs = new Float64Array(100_000);
    for (let i = 0; i < xs.length; i++) {
      xs[i] = r.uniform();
      const u = r.uint32();
      if (!(u >= 0 && u < 2 ** 32 && Number.isInteger(u))) throw new Error(`uint32 out of range: ${u}`);
    }
    expect(Math.min(...xs)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...xs)).toBeLessThan(1);
    const { mean, std } = meanStd(xs);
    expect(Math.abs(mean - 0.5)).toBeLessThan(0.01);
    expect(Math.abs(std - Math.sqrt(1 / 12))).toBeLessThan(0.01);
  });

  it("fillUniform stays in [lo, hi), even where float32 rounding would reach hi", () => {
    const r = new Rng(2);
    const xs = r.fillUniform(new Float32Array(100_000), -2, 3);
    expect(Math.min(...xs)).toBeGreaterThanOrEqual(-2);
    expect(Math.max(...xs)).toBeLessThan(3);
    expect(Math.abs(meanStd(xs).mean - 0.5)).toBeLessThan(0.05);
    // A one-ulp span: half the raw values would round up onto hi.
    const hi = 1 + 2 ** -23;
    const tight = r.fillUniform(new Float32Array(1000), 1, hi);
    expect(tight.every((x) => x === 1)).toBe(true);
    expect(() => r.fillUniform(new Float32Array(1), 1, 1)).toThrow(RangeError);
  });

  it("normal() and fillNormal() have the right mean and std over 100k samples", () => {
    const r = new Rng(3);
    const xs = new Float64Array(100_000);
    for (let i = 0; i < xs.length; i++) xs[i] = r.normal();
    let s = meanStd(xs);
    // Standard error of the mean is ~0.003; the bounds are loose on purpose.
    expect(Math.abs(s.mean)).toBeLessThan(0.02);
    expect(Math.abs(s.std - 1)).toBeLessThan(0.02);

    s = meanStd(r.fillNormal(new Float32Array(100_001), 3, 2));
    expect(Math.abs(s.mean - 3)).toBeLessThan(0.04);
    expect(Math.abs(s.std - 2)).toBeLessThan(0.04);
  });

  it("a length-1 fillNormal equals mean + std * normal()", () => {
    const a = new Rng(9);
    const b = new Rng(9);
    expect(a.fillNormal(new Float32Array(1), 1, 2)[0]).toBe(Math.fround(1 + 2 * b.normal()));
    expect(a.getState()).toEqual(b.getState());
  });

  it("fillTruncatedNormal never goes beyond 2 std and has the truncated std", () => {
    const r = new Rng(4);
    const mean = -1;
    const std = 0.5;
    const xs = r.fillTruncatedNormal(new Float32Array(100_000), mean, std);
    const bound = Math.fround(2 * std) + 1e-6;
    expect(xs.every((x) => Math.abs(x - mean) <= bound)).toBe(true);
    const s = meanStd(xs);
    // A standard normal cut at +/-2 has std sqrt(1 - 4 phi(2) / (2 Phi(2) - 1)) = 0.8796.
    expect(Math.abs(s.mean - mean)).toBeLessThan(0.01);
    expect(Math.abs(s.std / std - 0.8796)).toBeLessThan(0.02);
  });
});

const PINNED_SEED42 = [2971082177, 2611983672, 76507694, 3815445982];
