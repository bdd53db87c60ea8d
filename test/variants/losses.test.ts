import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-wasm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { selectBackend } from "../../src/runtime/backend.ts";
import * as rt from "../../src/runtime/ops.ts";

/*
 * The loss terms of src/runtime/ops.ts on small fixed tensors, against the textbook formulas evaluated
 * here in float64. The inputs are rounded to float32 first, so both sides see the same numbers and the
 * only difference is float32 arithmetic (about 1e-7 relative per operation on a handful of elements):
 * 1e-5 relative is tight enough to catch a wrong formula, a wrong reduction or a wrong sign.
 */

const REL = 1e-5;
const f32 = (xs: number[]) => xs.map(Math.fround);

function expectClose(actual: number, expected: number, what: string) {
  expect(Number.isFinite(actual), `${what} = ${actual}`).toBe(true);
  const err = Math.abs(actual - expected) / Math.max(Math.abs(expected), 1e-30);
  expect(err, `${what}: ${actual} vs ${expected}`).toBeLessThan(REL);
}

const value = (t: tf.Tensor) => {
  const v = t.dataSync()[0]!;
  t.dispose();
  return v;
};

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const log1p = Math.log1p;

// Logits [4, 3] with moderate values, and some at |l| = 100 where a naive sigmoid then log underflows.
const LOGITS = f32([0.3, -1.7, 2.5, -0.05, 4.2, -3.3, 1.1, 0.8, -2.2, 0.6, -0.9, 1.9]);
const TARGETS = f32([1, 0, 1, 0, 0.25, 1, 0, 1, 0.5, 1, 0, 0]);
const EXTREME = f32([100, -100, 100, -100, 99.5, -0.5]);
const EXTREME_TARGETS = f32([1, 0, 0, 1, 0.5, 1]);

/** max(l, 0) - l t + log(1 + exp(-|l|)): the stable form, in float64. */
const bceLogitsRef = (l: number[], t: number[]) => mean(l.map((x, i) => Math.max(x, 0) - x * t[i]! + log1p(Math.exp(-Math.abs(x)))));

for (const backend of ["cpu", "wasm"] as const) {
  describe(`loss terms on ${backend}`, () => {
    let previous: string;
    beforeAll(async () => {
      previous = tf.getBackend();
      await selectBackend(backend, { log: () => {} });
    });
    afterAll(async () => {
      if (previous) await tf.setBackend(previous);
    });

    it("bceLogits against targets and against a constant", () => {
      expectClose(value(rt.bceLogits(tf.tensor(LOGITS, [4, 3]), tf.tensor(TARGETS, [4, 3]))), bceLogitsRef(LOGITS, TARGETS), "bceLogits");
      expectClose(value(rt.bceLogits(tf.tensor(LOGITS, [4, 3]), 1)), bceLogitsRef(LOGITS, LOGITS.map(() => 1)), "bceLogits(l, 1)");
      expectClose(value(rt.bceLogits(tf.tensor(LOGITS, [4, 3]), 0)), bceLogitsRef(LOGITS, LOGITS.map(() => 0)), "bceLogits(l, 0)");
    });

    it("bceLogits stays finite at |logit| = 100 and equals the stable formula there", () => {
      expectClose(value(rt.bceLogits(tf.tensor(EXTREME, [6, 1]), tf.tensor(EXTREME_TARGETS, [6, 1]))), bceLogitsRef(EXTREME, EXTREME_TARGETS), "bceLogits at |l| = 100");
      // A confident, right prediction costs (almost) nothing; a confident, wrong one costs |l|.
      expect(value(rt.bceLogits(tf.tensor([100, -100], [2, 1]), tf.tensor([1, 0], [2, 1])))).toBeLessThan(1e-30);
      expectClose(value(rt.bceLogits(tf.tensor([100, -100], [2, 1]), tf.tensor([0, 1], [2, 1]))), 100, "wrong at |l| = 100");
      // The gradient, (sigmoid(l) - t) / n, is finite too.
      const g = tf.grad((l: tf.Tensor) => rt.bceLogits(l, tf.tensor(EXTREME_TARGETS, [6, 1])))(tf.tensor(EXTREME, [6, 1])).dataSync();
      EXTREME.forEach((l, i) => {
        const expected = (1 / (1 + Math.exp(-l)) - EXTREME_TARGETS[i]!) / EXTREME.length;
        expect(Math.abs(g[i]! - expected), `d/dl at l = ${l}`).toBeLessThan(1e-7);
      });
    });

    it("bce on probabilities, clamped to [1e-7, 1 - 1e-7] so that 0 and 1 stay finite", () => {
      const p = f32([0.9, 0.2, 0.55, 0.01, 0.7, 0.35]);
      const t = f32([1, 0, 1, 0, 0.3, 1]);
      const ref = (ps: number[], ts: number[]) => {
        const q = ps.map((x) => Math.min(Math.max(x, Math.fround(1e-7)), Math.fround(1 - 1e-7)));
        return -mean(q.map((x, i) => ts[i]! * Math.log(x) + (1 - ts[i]!) * Math.log(1 - x)));
      };
      expectClose(value(rt.bce(tf.tensor(p, [6]), tf.tensor(t, [6]))), ref(p, t), "bce");
      expectClose(value(rt.bce(tf.tensor(p, [6]), 1)), ref(p, p.map(() => 1)), "bce(p, 1)");
      expectClose(value(rt.bce(tf.tensor([0, 1, 1, 0], [4]), tf.tensor([1, 0, 1, 0], [4]))), ref([0, 1, 1, 0], [1, 0, 1, 0]), "bce at 0 and 1");
    });

    it("mse and l1, against a tensor and against a constant", () => {
      const a = f32([0.5, -1.25, 3, 0.125, -0.75, 2.5]);
      const b = f32([0.25, 1, 2.5, -0.5, -0.75, 0.1]);
      expectClose(value(rt.mse(tf.tensor(a, [3, 2]), tf.tensor(b, [3, 2]))), mean(a.map((x, i) => (x - b[i]!) ** 2)), "mse");
      expectClose(value(rt.mse(tf.tensor(a, [3, 2]), 1)), mean(a.map((x) => (x - 1) ** 2)), "mse(a, 1)");
      expectClose(value(rt.l1(tf.tensor(a, [3, 2]), tf.tensor(b, [3, 2]))), mean(a.map((x, i) => Math.abs(x - b[i]!))), "l1");
      expectClose(value(rt.l1(tf.tensor(a, [3, 2]), 0)), mean(a.map(Math.abs)), "l1(a, 0)");
    });

    it("softmaxCe: the batch mean of -sum(labels * log softmax(logits))", () => {
      const labels = f32([1, 0, 0, 0, 0, 1, 0.5, 0.5, 0, 0, 1, 0]);
      const ref = () => {
        let total = 0;
        for (let r = 0; r < 4; r++) {
          const row = LOGITS.slice(3 * r, 3 * r + 3);
          const m = Math.max(...row);
          const lse = m + Math.log(row.reduce((s, x) => s + Math.exp(x - m), 0));
          total += -row.reduce((s, x, j) => s + labels[3 * r + j]! * (x - lse), 0);
        }
        return total / 4;
      };
      expectClose(value(rt.softmaxCe(tf.tensor(LOGITS, [4, 3]), tf.tensor(labels, [4, 3]))), ref(), "softmaxCe");
      // Large logits do not overflow.
      const big = f32([100, -100, 50, 0, 200, -300]);
      const bigLabels = f32([0, 1, 0, 1, 0, 0]);
      const bigRef = [0, 1].reduce((s, r) => {
        const row = big.slice(3 * r, 3 * r + 3);
        const m = Math.max(...row);
        const lse = m + Math.log(row.reduce((a, x) => a + Math.exp(x - m), 0));
        return s - row.reduce((a, x, j) => a + bigLabels[3 * r + j]! * (x - lse), 0) / 2;
      }, 0);
      expectClose(value(rt.softmaxCe(tf.tensor(big, [2, 3]), tf.tensor(bigLabels, [2, 3]))), bigRef, "softmaxCe with large logits");
    });

    it("pullaway: (sum of the cosine-similarity matrix - n) / (n (n - 1))", () => {
      const x = f32([1, 2, 0.5, -1, 0.5, 1.5, 2, 1, 0.25, 0.5, -0.5, 3, -2, 1, 1, 0.5]); // 4 samples of 4
      const n = 4;
      const rows = [0, 1, 2, 3].map((i) => x.slice(4 * i, 4 * i + 4));
      const norm = (v: number[]) => Math.sqrt(v.reduce((s, a) => s + a * a, 0));
      let sum = 0;
      for (const a of rows) for (const b of rows) sum += a.reduce((s, v, k) => s + v * b[k]!, 0) / (norm(a) * norm(b));
      expectClose(value(rt.pullaway(tf.tensor(x, [4, 4]))), (sum - n) / (n * (n - 1)), "pullaway");
      // Per-sample features of any shape are flattened first.
      expectClose(value(rt.pullaway(tf.tensor(x, [4, 2, 2]))), (sum - n) / (n * (n - 1)), "pullaway on [4, 2, 2]");
    });

    it("sampleNorm: the L2 norm of each sample over all its elements, with gradient x / ||x|| and 0 at 0", () => {
      const x = f32([3, -4, 0.5, 1, 2, -2, 0, 0, 0, 0.1, -0.2, 0.3]); // 3 samples of [2, 2]
      const norms = rt.sampleNorm(tf.tensor(x, [3, 2, 2]));
      expect(norms.shape).toEqual([3]);
      const got = norms.dataSync();
      norms.dispose();
      const samples = [0, 1, 2].map((i) => x.slice(4 * i, 4 * i + 4));
      samples.forEach((s, i) => {
        const ref = Math.sqrt(s.reduce((a, v) => a + v * v, 0));
        expectClose(got[i]!, ref, `sampleNorm[${i}]`);
      });
      const zero = f32([1, 2, -2, 4, 0, 0, 0, 0]); // the second sample is all zeros
      const g = tf.grad((t: tf.Tensor) => tf.sum(rt.sampleNorm(t)))(tf.tensor(zero, [2, 4])).dataSync();
      for (let k = 0; k < 4; k++) expectClose(g[k]!, zero[k]! / 5, `d||x||/dx[${k}]`);
      expect(Array.from(g.slice(4))).toEqual([0, 0, 0, 0]);
    });

    it("sampleMean and std (population form, over all elements)", () => {
      const x = f32([0.5, -1.25, 3, 0.125, -0.75, 2.5, 1, 1.5]);
      const m = mean(x);
      expectClose(value(rt.std(tf.tensor(x, [2, 2, 2]))), Math.sqrt(mean(x.map((v) => (v - m) ** 2))), "std");
      const sm = rt.sampleMean(tf.tensor(x, [2, 2, 2]));
      const got = Array.from(sm.dataSync());
      sm.dispose();
      expectClose(got[0]!, mean(x.slice(0, 4)), "sampleMean[0]");
      expectClose(got[1]!, mean(x.slice(4)), "sampleMean[1]");
    });
  });
}
