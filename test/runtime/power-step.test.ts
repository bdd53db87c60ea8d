/**
 * Spectral norm's power-iteration step on backends whose tensors lie in host memory (wasm, cpu): computed in
 * float64 on the kernel's values (ops.ts powerStep64) instead of a chain of float32 kernels. Checked against
 * the float64 reference the variant tests use (test/variants/reference64.ts), and spectralNormParts against
 * the float32 op chain it replaces, on both backends.
 */
import * as tf from "@tensorflow/tfjs";
import { describe, expect, it } from "vitest";
import { selectBackend } from "../../src/runtime/backend.ts";
import { powerStep64, spectralNormParts } from "../../src/runtime/ops.ts";
import { powerStep } from "../variants/reference64.ts";

/** Deterministic values of every sign and a spread of magnitudes. */
const values = (count: number, seed: number) => Array.from({ length: count }, (_, i) => Math.sin(seed * 12.9898 + i * 78.233) * Math.exp(Math.cos(i * seed) * 2));

const relDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    num = Math.max(num, Math.abs(a[i]! - b[i]!));
    den = Math.max(den, Math.abs(b[i]!));
  }
  return num / den;
};

describe("spectral norm's power-iteration step", () => {
  it("powerStep64 is the float64 step, each vector rounded to float32 once", () => {
    for (const [n, out, seed] of [[37, 11, 1], [288, 32, 2], [9, 1, 3], [1, 5, 4]] as const) {
      const w = Float32Array.from(values(n * out, seed));
      const u = Float32Array.from(values(out, seed + 10));
      const ours = powerStep64(w, n, out, u);
      const ref = powerStep(w, n, out, u);
      expect(relDiff(ours.v, ref.v), `v ${n}x${out}`).toBeLessThan(2e-7);
      expect(relDiff(ours.u, ref.u), `u ${n}x${out}`).toBeLessThan(1e-6); // u' from the rounded v
      // unit vectors, to float32 rounding
      expect(Math.abs(Math.hypot(...ours.v) - 1)).toBeLessThan(1e-6);
      expect(Math.abs(Math.hypot(...ours.u) - 1)).toBeLessThan(1e-6);
    }
  });

  for (const backend of ["wasm", "cpu"] as const) {
    it(`on ${backend}: spectralNormParts agrees with the float32 op chain it replaces, and updates u in training only`, async () => {
      await selectBackend(backend, { log: () => {} });
      const kernel = tf.tensor4d(values(3 * 3 * 8 * 6, 5), [3, 3, 8, 6]);
      const u = tf.variable(tf.tensor2d(values(6, 6), [1, 6]));
      const u0 = u.dataSync().slice();
      // the chain: v = l2(u W^T), u' = l2(v W), sigma = sum((v W) * u'), W / sigma
      const chain = tf.tidy(() => {
        const w = tf.reshape(kernel, [-1, 6]);
        const l2 = (t: tf.Tensor) => tf.div(t, tf.add(tf.norm(t), 1e-12));
        const v = l2(tf.matMul(u, w, false, true));
        const un = l2(tf.matMul(v, w));
        const sigma = tf.sum(tf.mul(tf.matMul(v, w), un));
        return { v: v.dataSync(), un: un.dataSync(), sigma: sigma.dataSync()[0]!, normalized: tf.div(kernel, sigma).dataSync() };
      });
      const evalParts = tf.tidy(() => {
        const p = spectralNormParts(kernel, u, "eval");
        return { v: p.vv.dataSync(), un: p.un.dataSync(), sigma: p.sigma.dataSync()[0]!, normalized: p.normalized.dataSync() };
      });
      expect(Array.from(u.dataSync())).toEqual(Array.from(u0)); // eval leaves u
      expect(relDiff(evalParts.v, chain.v)).toBeLessThan(1e-6);
      expect(relDiff(evalParts.un, chain.un)).toBeLessThan(1e-6);
      expect(Math.abs(evalParts.sigma - chain.sigma) / chain.sigma).toBeLessThan(1e-6);
      expect(relDiff(evalParts.normalized, chain.normalized)).toBeLessThan(1e-6);
      tf.tidy(() => spectralNormParts(kernel, u, "train"));
      expect(Array.from(u.dataSync())).toEqual(Array.from(evalParts.un)); // train moves u to u'
      // and the kernel's gradient still flows through sigma = v^T W u' (v and u' held constant): for
      // L = sum((W / sigma)^2), dL/dW = 2 N / sigma - (sum(2 N * W) / sigma^2) v u'^T, N = W / sigma
      const parts = tf.tidy(() => {
        const p = spectralNormParts(kernel, u, "eval");
        return { v: p.vv.dataSync(), un: p.un.dataSync(), sigma: p.sigma.dataSync()[0]!, normalized: p.normalized.dataSync() };
      });
      const g = tf.grad((k: tf.Tensor) => tf.sum(tf.square(spectralNormParts(k, u, "eval").normalized)))(kernel);
      const W = kernel.dataSync();
      const N = Array.from(parts.normalized);
      const dot = N.reduce((acc, x, i) => acc + 2 * x * W[i]!, 0);
      const expected = N.map((x, i) => (2 * x) / parts.sigma - (dot / parts.sigma ** 2) * parts.v[Math.floor(i / 6)]! * parts.un[i % 6]!);
      expect(relDiff(g.dataSync(), expected)).toBeLessThan(1e-5);
      tf.dispose([kernel, u, g]);
    });
  }
});
