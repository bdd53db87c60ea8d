import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { compileText } from "../../src/compile.ts";
import type { Init } from "../../src/ir/types.ts";
import { fans } from "../../src/layers/weights.ts";
import { initValues, Rng } from "../../src/runtime/index.ts";
import { ganc, ROOT, tmpDir } from "../helpers.ts";

/*
 * The weight initializers as a run draws them (rt.initValues, from the run's seeded generator): each
 * distribution's statistics on a conv kernel and a dense kernel, against the values torch.nn.init gives
 * (gain 1 for Glorot, sqrt(2) and fan-in for He). Margins: with N draws, a sample mean is off by about
 * std / sqrt(N) and a sample std by about std / sqrt(2N) (less for uniform values); 5 of those can only
 * fail by chance with probability ~1e-6, while a wrong scale (a factor sqrt(2), sqrt(3), or fan-out for
 * fan-in) is off by 20% or more.
 */

const SHAPES = [
  [3, 3, 64, 128],
  [256, 128],
];

function stats(v: Float32Array) {
  let m = 0;
  for (const x of v) m += x;
  m /= v.length;
  let s = 0;
  for (const x of v) s += (x - m) ** 2;
  return { mean: m, std: Math.sqrt(s / v.length), min: Math.min(...v), max: Math.max(...v) };
}

function expectDistribution(v: Float32Array, mean: number, std: number) {
  const s = stats(v);
  expect(Math.abs(s.mean - mean)).toBeLessThanOrEqual((5 * std) / Math.sqrt(v.length));
  expect(Math.abs(s.std / std - 1)).toBeLessThanOrEqual(5 / Math.sqrt(2 * v.length));
  return s;
}

/** Uniform in [-lim, lim): every value inside, the extremes near the bounds, the std lim / sqrt(3). */
function expectUniform(v: Float32Array, lo: number, hi: number) {
  const s = expectDistribution(v, (lo + hi) / 2, (hi - lo) / Math.sqrt(12));
  expect(s.min).toBeGreaterThanOrEqual(lo);
  expect(s.max).toBeLessThan(hi);
  expect(s.min).toBeLessThan(lo + (hi - lo) * 1e-3);
  expect(s.max).toBeGreaterThan(hi - (hi - lo) * 1e-3);
}

const draw = (shape: number[], init: Init, seed = 7) => initValues(new Rng(seed), shape, init);

describe("weight initializers", () => {
  for (const shape of SHAPES) {
    const { fanIn, fanOut } = fans(shape);
    describe(`on a [${shape.join(", ")}] kernel (fan_in ${fanIn}, fan_out ${fanOut})`, () => {
      it("normal(mean, std)", () => expectDistribution(draw(shape, { kind: "normal", mean: 0.5, std: 0.2 }), 0.5, 0.2));
      it("truncated_normal(mean, std): within 2 std, with the std of a normal truncated there (0.8796 std)", () => {
        const s = expectDistribution(draw(shape, { kind: "truncated_normal", mean: 0.1, std: 0.1 }), 0.1, 0.1 * 0.8796256610342398);
        expect(s.min).toBeGreaterThanOrEqual(0.1 - 0.2 - 1e-7);
        expect(s.max).toBeLessThanOrEqual(0.1 + 0.2 + 1e-7);
      });
      it("uniform(low, high)", () => expectUniform(draw(shape, { kind: "uniform", low: -0.3, high: 0.1 }), -0.3, 0.1));
      it("glorot (xavier_uniform): uniform in +-sqrt(6 / (fan_in + fan_out))", () => {
        const lim = Math.sqrt(6 / (fanIn + fanOut));
        expectUniform(draw(shape, { kind: "glorot" }), -lim, lim);
      });
      it("glorot_normal (xavier_normal): std sqrt(2 / (fan_in + fan_out))", () =>
        expectDistribution(draw(shape, { kind: "glorot_normal" }), 0, Math.sqrt(2 / (fanIn + fanOut))));
      it("he_normal (kaiming_normal): std sqrt(2 / fan_in)", () => expectDistribution(draw(shape, { kind: "he_normal" }), 0, Math.sqrt(2 / fanIn)));
      it("he_uniform (kaiming_uniform): uniform in +-sqrt(6 / fan_in)", () => {
        const lim = Math.sqrt(6 / fanIn);
        expectUniform(draw(shape, { kind: "he_uniform" }), -lim, lim);
      });
    });
  }

  /** W^T W (cols x cols) when `transpose` is false, W W^T otherwise, for W viewed as [rows, cols]. */
  function gram(w: Float32Array, rows: number, cols: number, transpose: boolean): number[][] {
    const [n, k] = transpose ? [rows, cols] : [cols, rows];
    const at = (i: number, j: number) => (transpose ? w[i * cols + j]! : w[j * cols + i]!); // row i of the product's factor, entry j
    return Array.from({ length: n }, (_, a) =>
      Array.from({ length: n }, (_, b) => {
        let s = 0;
        for (let j = 0; j < k; j++) s += at(a, j) * at(b, j);
        return s;
      }),
    );
  }

  for (const [shape, tall] of [
    [[3, 3, 16, 32], true],
    [[64, 64], true],
    [[16, 96], false],
  ] as const) {
    it(`orthogonal on [${shape.join(", ")}]: ${tall ? "W^T W" : "W W^T"} = I to float32 rounding`, () => {
      const cols = shape[shape.length - 1]!;
      const rows = shape.reduce((a, b) => a * b, 1) / cols;
      const w = draw([...shape], { kind: "orthogonal" });
      const g = gram(w, rows, cols, !tall);
      let worst = 0;
      g.forEach((row, i) => row.forEach((x, j) => (worst = Math.max(worst, Math.abs(x - (i === j ? 1 : 0))))));
      expect(worst).toBeLessThan(1e-5);
      // Not a permutation or other structured matrix: the entries spread like a random rotation's.
      expect(stats(w).std).toBeGreaterThan(0.5 / Math.sqrt(Math.max(rows, cols)));
    });
  }

  it("the same seed gives the same weights, another seed other weights, for every initializer", () => {
    const inits: Init[] = [
      { kind: "normal", mean: 0, std: 1 },
      { kind: "truncated_normal", mean: 0, std: 1 },
      { kind: "uniform", low: -1, high: 1 },
      { kind: "glorot" },
      { kind: "glorot_normal" },
      { kind: "he_normal" },
      { kind: "he_uniform" },
      { kind: "orthogonal" },
    ];
    for (const init of inits) {
      const a = draw([3, 3, 4, 8], init, 42);
      expect(draw([3, 3, 4, 8], init, 42), init.kind).toEqual(a);
      expect(draw([3, 3, 4, 8], init, 43), init.kind).not.toEqual(a);
    }
  });

  it("both spec forms name them alike, PyTorch's spellings included", () => {
    const inits = (file: string) => {
      const r = compileText(fs.readFileSync(path.join(ROOT, file), "utf8"), file);
      expect(r.diagnostics.filter((d) => d.severity === "error")).toEqual([]);
      return Object.fromEntries(r.program!.nets.flatMap((n) => n.vars.filter((v) => v.name.endsWith("/kernel")).map((v) => [v.name, v.init])));
    };
    const dsl = inits("test/fixtures/inits.gan");
    expect(inits("test/fixtures/inits.gan.yaml")).toEqual(dsl);
    expect(dsl).toEqual({
      "G/dense1/kernel": { kind: "orthogonal" },
      "G/dense2/kernel": { kind: "he_uniform" },
      "G/dense3/kernel": { kind: "normal", mean: 0, std: 0.05 },
      "G/dense4/kernel": { kind: "truncated_normal", mean: 0, std: 0.1 },
      "G/dense5/kernel": { kind: "uniform", low: -0.05, high: 0.05 },
      "G/deconv1/kernel": { kind: "glorot_normal" },
      "D/conv1/kernel": { kind: "he_normal" },
      "D/dense1/kernel": { kind: "glorot" },
      "D/dense2/kernel": { kind: "he_uniform" },
    });
  });

  it("a net with every initializer trains", () => {
    const run = path.join(tmpDir(), "run");
    const r = ganc(["train", "test/fixtures/inits.gan", "--out", run, "--steps", "2", "--quiet", "--seed", "3"]);
    expect(r.code, r.stderr).toBe(0);
    const rows = fs.readFileSync(path.join(run, "metrics.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l) as Record<string, number>);
    expect(rows.length).toBeGreaterThan(0);
    for (const row of rows) expect(Number.isFinite(row.d) && Number.isFinite(row.g)).toBe(true);
  }, 120_000);
});
