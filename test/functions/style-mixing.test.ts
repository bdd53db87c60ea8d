import * as fs from "node:fs";
import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import { selectBackend } from "../../src/runtime/backend.ts";
import * as rt from "../../src/runtime/index.ts";
import { keyState, Rng } from "../../src/runtime/rng.ts";
import { crossover } from "../../src/functions/mix.ts";
import { style } from "../../src/layers/style.ts";
import { compileText } from "../../src/compile.ts";
import { generatorOf } from "../../src/tools/export.ts";

/*
 * Style stacks and the truncation trick as the trainer runs them (rt.styles, rt.mixStyles, the style layer's
 * statement, rt.truncate, rt.trackAverage), on cpu and wasm: forward values and gradients against float64
 * arithmetic written out here from StyleGAN2's definitions, and the crossover draw against
 * StyleGAN2's rule (cutoff uniform in [1, n), mixed when a second uniform is below p).
 */

function values(n: number, seed: number): Float64Array {
  let a = seed >>> 0;
  return Float64Array.from({ length: n }, () => {
    a = (Math.imul(a, 1664525) + 1013904223) >>> 0;
    return Math.round((a / 2 ** 32 - 0.5) * 2 ** 12) / 2 ** 10; // exact in float32
  });
}

function close(actual: ArrayLike<number>, expected: ArrayLike<number>, rel: number) {
  expect(actual.length).toBe(expected.length);
  const scale = Math.max(...Array.from(expected, Math.abs), 1e-30);
  let worst = 0;
  for (let i = 0; i < expected.length; i++) worst = Math.max(worst, Math.abs(actual[i]! - expected[i]!));
  expect(worst / scale).toBeLessThanOrEqual(rel);
}

const B = 3;
const N = 5;
const W = 4;

/** The stack [B, n, W] in float64: layer l of sample b is w1[b] below the crossover c, w2[b] from it on. */
function stack64(w1: Float64Array, w2: Float64Array, n: number, c: number): Float64Array {
  const out = new Float64Array(B * n * W);
  for (let b = 0; b < B; b++) for (let l = 0; l < n; l++) for (let k = 0; k < W; k++) out[(b * n + l) * W + k] = (l < c ? w1 : w2)[b * W + k]!;
  return out;
}

/** The crossover of the generator at `key`, drawn here as StyleGAN2 does: cutoff = randint(1, n), mixed when rand < p. */
function crossover64(key: readonly number[], n: number, p: number): number {
  const g = Rng.fromState([...key]);
  const cutoff = 1 + Math.floor(g.uniform() * (n - 1));
  return g.uniform() < p ? cutoff : n;
}

for (const backend of ["cpu", "wasm"] as const) {
  describe(`style stacks and truncation on ${backend}`, () => {
    beforeAll(async () => {
      await selectBackend(backend, { log: () => {} });
    });

    it("styles(w, n): every layer is w; the gradient of <r, stack> is the sum over the layers of r", () => {
      const w = values(B * W, 1);
      const r = values(B * N * W, 2);
      tf.tidy(() => {
        const wT = tf.tensor2d(Float32Array.from(w), [B, W]);
        const y = rt.styles(wT, N);
        expect(y.shape).toEqual([B, N, W]);
        close(y.dataSync(), stack64(w, w, N, N), 0);
        const g = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(rt.styles(t, N), tf.tensor3d(Float32Array.from(r), [B, N, W]))))(wT).dataSync();
        const want = new Float64Array(B * W);
        for (let b = 0; b < B; b++) for (let l = 0; l < N; l++) for (let k = 0; k < W; k++) want[b * W + k]! += r[(b * N + l) * W + k]!;
        close(g, want, 1e-6);
      });
    });

    it("mix(w1, w2, n, p): the crossover is StyleGAN2's draw from the call's key; values and both gradients equal float64", () => {
      const w1 = values(B * W, 3);
      const w2 = values(B * W, 4);
      const r = values(B * N * W, 5);
      const seen = new Set<number>();
      for (let i = 0; i < 40; i++) {
        const key = keyState(`test/${i}`);
        const c = crossover64(key, N, 0.7);
        seen.add(c);
        expect(crossover(Rng.fromState([...key]), N, 0.7)).toBe(c);
        tf.tidy(() => {
          const a = tf.tensor2d(Float32Array.from(w1), [B, W]);
          const b = tf.tensor2d(Float32Array.from(w2), [B, W]);
          const rT = tf.tensor3d(Float32Array.from(r), [B, N, W]);
          const y = rt.mixStyles(a, b, N, 0.7, key);
          close(y.dataSync(), stack64(w1, w2, N, c), 0);
          const [ga, gb] = tf.grads((x1: tf.Tensor, x2: tf.Tensor) => tf.sum(tf.mul(rt.mixStyles(x1, x2, N, 0.7, key), rT)))([a, b]).map((t) => t.dataSync());
          const want1 = new Float64Array(B * W);
          const want2 = new Float64Array(B * W);
          for (let s = 0; s < B; s++) for (let l = 0; l < N; l++) for (let k = 0; k < W; k++) (l < c ? want1 : want2)[s * W + k]! += r[(s * N + l) * W + k]!;
          close(ga!, want1, 1e-6);
          close(gb!, want2, 1e-6); // zeros in a batch that is not mixed
        });
      }
      // Over 40 draws at p = 0.7: unmixed stacks (c = n) and several crossovers in [1, n).
      expect(seen.has(N)).toBe(true);
      expect([...seen].filter((c) => c < N).length).toBeGreaterThanOrEqual(3);
      expect(Math.min(...seen)).toBeGreaterThanOrEqual(1);
    });

    it("the style layer's statement picks layer i of the stack, and its gradient lands on that layer only", () => {
      const ws = values(B * N * W, 6);
      const r = values(B * W, 7);
      const code = style.code({ op: "style", value: "ws", index: 2, count: N, width: W }, { local: (x: string) => x } as never);
      const run = new Function("tf", "ws", `let h = null; ${code} return h;`) as (t: typeof tf, x: tf.Tensor) => tf.Tensor;
      tf.tidy(() => {
        const x = tf.tensor3d(Float32Array.from(ws), [B, N, W]);
        const want = new Float64Array(B * W);
        for (let b = 0; b < B; b++) for (let k = 0; k < W; k++) want[b * W + k] = ws[(b * N + 2) * W + k]!;
        close(run(tf, x).dataSync(), want, 0);
        const g = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(run(tf, t), tf.tensor2d(Float32Array.from(r), [B, W]))))(x).dataSync();
        const wantG = new Float64Array(B * N * W);
        for (let b = 0; b < B; b++) for (let k = 0; k < W; k++) wantG[(b * N + 2) * W + k] = r[b * W + k]!;
        close(g, wantG, 0);
      });
    });

    it("truncate: w_avg + psi (w - w_avg) in float64; psi = 1 is w itself, psi = 0 is w_avg for every sample", () => {
      const w = values(B * W, 8);
      const avg = values(W, 9);
      tf.tidy(() => {
        const wT = tf.tensor2d(Float32Array.from(w), [B, W]);
        const aT = tf.tensor1d(Float32Array.from(avg));
        for (const psi of [0.7, 0.5, -0.5, 1.5]) {
          const want = Float64Array.from(w, (v, i) => avg[i % W]! + psi * (v - avg[i % W]!));
          close(rt.truncate(wT, aT, psi).dataSync(), want, 1e-6);
          const g = tf.grad((t: tf.Tensor) => tf.sum(rt.truncate(t, aT, psi)))(wT).dataSync();
          close(g, new Float64Array(B * W).fill(psi), 1e-7);
        }
        expect(rt.truncate(wT, aT, 1)).toBe(wT);
        const zero = rt.truncate(wT, aT, 0).dataSync();
        for (let b = 0; b < B; b++) expect(Array.from(zero.slice(b * W, (b + 1) * W))).toEqual(Array.from(Float32Array.from(avg)));
      });
    });

    it("track_avg: the identity; a training pass moves the average to decay avg + (1 - decay) mean(w), other passes leave it", () => {
      const w = values(B * W, 10);
      const avg0 = values(W, 11);
      const avg = tf.variable(tf.tensor1d(Float32Array.from(avg0)), false);
      tf.tidy(() => {
        const x = tf.tensor2d(Float32Array.from(w), [B, W]);
        for (const mode of ["eval", "infer"] as const) {
          expect(rt.trackAverage(x, avg, 0.9, mode)).toBe(x);
          expect(Array.from(avg.dataSync())).toEqual(Array.from(Float32Array.from(avg0)));
        }
        // no gradient flows into the average's update: the pass's gradient is the identity's
        const g = tf.grad((t: tf.Tensor) => tf.sum(rt.trackAverage(t, avg, 0.9, "train")))(x).dataSync();
        close(g, new Float64Array(B * W).fill(1), 0);
        const want = Float64Array.from(avg0, (a, k) => {
          let m = 0;
          for (let b = 0; b < B; b++) m += w[b * W + k]! / B;
          return 0.9 * a + 0.1 * m;
        });
        close(avg.dataSync(), want, 1e-6);
      });
      avg.dispose();
    });
  });
}

describe("style mixing in a spec", () => {
  it("the trainer draws each step's crossover from the run's keyed generator (seed, iteration, batch, call site)", () => {
    const r = compileText(fs.readFileSync("test/fixtures/style-mix.gan", "utf8"), "test/fixtures/style-mix.gan");
    expect(r.diagnostics).toEqual([]);
    expect(r.code).toMatch(/rt\.mixStyles\(M_z\.out, M_z2\.out, 3, 0\.9, run\.augmentKey\(b, "d:\d+"\)\)/);
    expect(r.code).toMatch(/rt\.mixStyles\(M_z\.out, M_z2\.out, 3, 0\.9, run\.augmentKey\(b, "g:\d+"\)\)/);
    expect(r.code).toContain("rt.truncate(M_z.out, M_track_avg1_avg, run.truncation)");
    expect(r.code).toContain("h = rt.trackAverage(h, M_track_avg1_avg, 0.9, mode);");
  });

  it("export follows G(styles(truncate(M(z)), n)) and G(styles(M(z), n)) to M's noise; a stack of something else is refused", () => {
    const text = fs.readFileSync("test/fixtures/style-mix.gan", "utf8");
    const at = (samples: string) => {
      const r = compileText(text.replace("samples=G(styles(truncate(M(z)), 3))", `samples=${samples}`), "x.gan");
      expect(r.diagnostics.filter((d) => d.severity === "error")).toEqual([]);
      return r.program!;
    };
    const t = generatorOf(at("G(styles(truncate(M(z)), 3))"));
    expect(t.net.name).toBe("G");
    expect(t.chain).toMatchObject({ count: 3, truncate: true, average: "M/track_avg1/avg" });
    expect(t.chain!.mapping.name).toBe("M");
    expect(t.inputs.map((i) => i.name)).toEqual(["z"]);
    const plain = generatorOf(at("0.5 * G(styles(M(z2), 3)) + 0.5"));
    expect(plain.chain).toMatchObject({ count: 3, truncate: false });
    expect(plain.affine).toMatchObject({ scale: 0.5, offset: 0.5 });
    const p = at("G(styles(M(z), 3) * 1)");
    expect(() => generatorOf(p)).toThrow(/must be a noise or the data labels/);
  });
});
