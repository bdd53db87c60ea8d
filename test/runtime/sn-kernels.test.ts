/**
 * Spectral norm in a fused net (src/runtime/fused/spectral.ts): its forward pass and its written-out backward pass
 * with ganc's kernels GancSnNormalize and GancSnGrad (wasm, cpu) against rt.spectralNorm's ops differentiated by
 * tfjs's tape, bit for bit, on kernels with zeros of both signs and a spread of magnitudes; and under a tape (a
 * second derivative through the backward pass), where the backward pass takes the ops again (as without the kernel)
 * and gives rt.spectralNorm's second derivative.
 */
import * as tf from "@tensorflow/tfjs";
import { describe, expect, it } from "vitest";
import { selectBackend } from "../../src/runtime/backend.ts";
import { spectralNorm } from "../../src/runtime/ops.ts";
import { Arena, tapeRecording } from "../../src/runtime/fused/engine.ts";
import { spectralNormOp } from "../../src/runtime/fused/spectral.ts";

const values = (count: number, seed: number) => Float32Array.from({ length: count }, (_, i) => (i % 13 === 0 ? (i % 2 ? -0 : 0) : Math.sin(seed * 12.9898 + i * 78.233) * Math.exp(Math.cos(i * seed) * 2)));
const bits = (t: tf.Tensor) => Array.from(new Uint32Array(Float32Array.from(t.dataSync()).buffer));

for (const backend of ["wasm", "cpu"] as const) {
  describe(`spectral norm's fused op on ${backend}`, () => {
    it("forward and backward with ganc's kernels equal rt.spectralNorm on the tape bit for bit", async () => {
      await selectBackend(backend, { log: () => {} });
      expect(tf.getKernel("GancSnNormalize", backend)).toBeDefined();
      expect(tf.getKernel("GancSnGrad", backend)).toBeDefined();
      for (const shape of [[3, 3, 8, 16], [1, 1, 5, 3], [7, 1]]) {
        tf.tidy(() => {
          const out = shape.at(-1)!;
          const kernel = tf.variable(tf.tensor(values(shape.reduce((a, b) => a * b, 1), shape.length), shape));
          const u0 = values(out, 7).map((v) => v || 0.5);
          const dy = tf.tensor(values(kernel.size, 11), shape);
          const run = (f: (k: tf.Tensor, u: tf.Variable) => tf.Tensor) => {
            const u = tf.variable(tf.tensor2d(u0, [1, out]));
            const { value, grads } = tf.variableGrads(() => tf.sum(tf.mul(f(kernel, u), dy)), [kernel]);
            const r = { y: f(kernel, tf.variable(tf.tensor2d(u0, [1, out]))), grad: grads[kernel.name]!, u: u.clone(), value };
            return r;
          };
          const arena = new Arena();
          const fused = run((k, u) => spectralNormOp(k as tf.Variable, u, arena));
          const ref = run((k, u) => spectralNorm(k, u, "train"));
          expect(bits(fused.y), `normalized ${shape}`).toEqual(bits(ref.y));
          expect(bits(fused.grad), `kernel gradient ${shape}`).toEqual(bits(ref.grad));
          expect(bits(fused.u), `u ${shape}`).toEqual(bits(ref.u));
          arena.dispose();
        });
      }
    });

    it("under a tape (a second derivative through the backward pass) the backward pass takes the ops, which have gradients", async () => {
      await selectBackend(backend, { log: () => {} });
      expect(tapeRecording()).toBe(false);
      tf.tidy(() => {
        const shape = [3, 3, 4, 6];
        const kernel = tf.variable(tf.tensor(values(216, 3), shape));
        const u0 = values(6, 5).map((v) => v || 0.5);
        const w = tf.tensor(values(216, 9), shape);
        // d/dkernel of sum(w * d/dkernel sum(sn(kernel)^2)): sn's backward pass runs inside tf.grad's function
        const second = () => {
          const u = tf.variable(tf.tensor2d(u0, [1, 6]));
          const arena = new Arena();
          let recorded: boolean | null = null;
          const g = tf.grad((k: tf.Tensor) => {
            const inner = tf.grad((kk: tf.Tensor) => tf.sum(tf.square(spectralNormOp(kk as tf.Variable, u, arena))))(k);
            recorded ??= tapeRecording();
            return tf.sum(tf.mul(w, inner));
          })(kernel);
          expect(recorded).toBe(true);
          arena.dispose();
          return g;
        };
        // with GancSnGrad registered (the kernel has no gradient: run under the tape, it would fail), then without it
        const withKernel = second();
        const config = tf.getKernel("GancSnGrad", backend)!;
        tf.unregisterKernel("GancSnGrad", backend);
        try {
          expect(bits(withKernel)).toEqual(bits(second()));
        } finally {
          tf.registerKernel(config);
        }
        expect(Array.from(withKernel.dataSync()).every(Number.isFinite)).toBe(true);
        // and it is rt.spectralNorm's on the tape (sigma's dependence on the kernel included)
        const u = tf.variable(tf.tensor2d(u0, [1, 6]));
        const ref = tf.grad((k: tf.Tensor) => tf.sum(tf.mul(w, tf.grad((kk: tf.Tensor) => tf.sum(tf.square(spectralNorm(kk, u, "train"))))(k))))(kernel);
        const [a, b] = [withKernel.dataSync(), ref.dataSync()];
        const scale = Math.max(...Array.from(b, Math.abs));
        expect(scale).toBeGreaterThan(1e-3);
        a.forEach((v, i) => expect(Math.abs(v - b[i]!), `[${i}]`).toBeLessThanOrEqual(1e-5 * scale));
      });
    });
  });
}
