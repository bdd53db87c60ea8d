import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import { selectBackend } from "../../src/runtime/backend.ts";
import { close, netFn, netOf, values } from "./run-layers.ts";

/*
 * pixelnorm (StyleGAN's pixel normalization) as the layer-by-layer trainer runs it (the module's code), on
 * cpu and wasm: forward against x / sqrt(mean(x^2) + 1e-8) over the last axis in float64, the input
 * gradient of <r, y> against central differences of that float64 formula, and the second derivative a
 * gradient penalty takes through it (d/dw of sum(grad_x D(x; w)^2), D = sum(v * tanh(pixelnorm(x * w))))
 * against central differences.
 */

function pixelnorm64(x: Float64Array, c: number, eps = 1e-8): Float64Array {
  const y = new Float64Array(x.length);
  for (let p = 0; p < x.length / c; p++) {
    let ms = 0;
    for (let i = 0; i < c; i++) ms += x[p * c + i]! ** 2 / c;
    for (let i = 0; i < c; i++) y[p * c + i] = x[p * c + i]! / Math.sqrt(ms + eps);
  }
  return y;
}

const cases: { layers: string; input: number[]; shape: number[] }[] = [
  { layers: "pixelnorm", input: [6], shape: [3, 6] },
  { layers: "reshape [2, 3, 4], pixel_norm", input: [24], shape: [2, 2, 3, 4] },
];

for (const backend of ["cpu", "wasm"] as const) {
  describe(`pixelnorm on ${backend}`, () => {
    beforeAll(async () => {
      await selectBackend(backend, { log: () => {} });
    });

    for (const c of cases) {
      const n = c.shape.reduce((a, b) => a * b, 1);
      const ch = c.shape[c.shape.length - 1]!;
      const inShape = [c.shape[0]!, ...c.input];
      it(`${c.layers} on [${c.shape.join(", ")}]: forward and input gradient equal float64 arithmetic`, () => {
        const fn = netFn(netOf(c.layers, c.input));
        const xs = values(n, 7);
        const r = values(n, 11);
        const ref = pixelnorm64(xs, ch);
        tf.tidy(() => {
          const x = tf.tensor(Float32Array.from(xs), inShape);
          const y = fn(x, {});
          expect(y.shape).toEqual(c.shape);
          close(y.dataSync(), ref, 1e-6);
          const rT = tf.tensor(Float32Array.from(r), c.shape);
          const g = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(fn(t, {}), rT)))(x).dataSync();
          const H = 1e-6;
          const dot = (v: Float64Array) => pixelnorm64(v, ch).reduce((acc, yi, j) => acc + yi * r[j]!, 0);
          const expected = Float64Array.from(xs, (_, i) => {
            const p = Float64Array.from(xs);
            const m = Float64Array.from(xs);
            p[i]! += H;
            m[i]! -= H;
            return (dot(p) - dot(m)) / (2 * H);
          });
          close(g, expected, 1e-5);
        });
      });

      it(`${c.layers}: a gradient penalty's second derivative matches central differences`, () => {
        const fn = netFn(netOf(c.layers, c.input));
        tf.tidy(() => {
          const x = tf.tensor(Float32Array.from(values(n, 3)), inShape);
          const v = tf.tensor(Float32Array.from(values(n, 5)), c.shape);
          const penalty = (w: tf.Tensor) => {
            const gx = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(v, tf.tanh(fn(tf.mul(t, w), {})))))(x);
            return tf.sum(tf.square(gx));
          };
          const w0 = Float32Array.from(values(c.input[c.input.length - 1]!, 9), (a) => 1 + a / 2);
          const analytic = tf.grad(penalty)(tf.tensor(w0)).dataSync();
          const H = 1e-3;
          const numeric = Array.from(w0, (_, i) => {
            const at = (d: number) => {
              const w = Float32Array.from(w0);
              w[i]! += d;
              return penalty(tf.tensor(w)).dataSync()[0]!;
            };
            return (at(H) - at(-H)) / (2 * H);
          });
          expect(Math.max(...Array.from(analytic, Math.abs))).toBeGreaterThan(1e-3);
          close(analytic, numeric, 1e-2);
        });
      });
    }
  });
}
