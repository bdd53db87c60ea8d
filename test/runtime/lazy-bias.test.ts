import * as tf from "@tensorflow/tfjs";
import { describe, expect, it } from "vitest";
import { selectBackend } from "../../src/runtime/backend.ts";
import { conv2dBias, matMulBias } from "../../src/runtime/lazy-bias.ts";

/*
 * rt.conv2dBias and rt.matMulBias against tf.fused.conv2d and tf.fused.matMul: the same values, first
 * derivatives and second derivatives (a gradient penalty's: the weights' gradient of a function of the
 * input gradient), bit for bit, on wasm (ganc's kernels, and its BLAS where one is installed) and cpu;
 * and a backward pass that wants only the input gradient runs no weight-gradient kernel.
 */

type Layer = (x: tf.Tensor, w: tf.Tensor, b: tf.Tensor) => tf.Tensor;
interface Case {
  name: string;
  x: number[];
  w: number[];
  /** Two layers with a square between (so the input gradient depends on the input and on both weights). */
  net: (layer: Layer, x: tf.Tensor, w1: tf.Tensor, b1: tf.Tensor, w2: tf.Tensor, b2: tf.Tensor) => tf.Tensor;
  w2: number[];
  fused: Layer;
  lazy: Layer;
  weightGradKernel: string;
}

const cases: Case[] = [
  {
    name: "conv2d stride 2 same, then stride 1 valid",
    x: [3, 9, 9, 2],
    w: [3, 3, 2, 4],
    w2: [2, 2, 4, 3],
    net: (layer, x, w1, b1, w2, b2) => layer(tf.square(layer(x, w1, b1)), w2, b2),
    // the first layer strides 2 with same padding, the second (2x2 kernel) 1 with valid: told by the kernel's size
    fused: (x, w, b) => tf.fused.conv2d({ x: x as tf.Tensor4D, filter: w as tf.Tensor4D, bias: b, strides: w.shape[0] === 3 ? 2 : 1, pad: w.shape[0] === 3 ? "same" : "valid" }),
    lazy: (x, w, b) => conv2dBias(x as tf.Tensor4D, w as tf.Tensor4D, b, w.shape[0] === 3 ? 2 : 1, w.shape[0] === 3 ? "same" : "valid"),
    weightGradKernel: "Conv2DBackpropFilter",
  },
  {
    name: "dense",
    x: [5, 7],
    w: [7, 6],
    w2: [6, 3],
    net: (layer, x, w1, b1, w2, b2) => layer(tf.square(layer(x, w1, b1)), w2, b2),
    fused: (x, w, b) => tf.fused.matMul({ a: x as tf.Tensor2D, b: w as tf.Tensor2D, bias: b }),
    lazy: (x, w, b) => matMulBias(x as tf.Tensor2D, w as tf.Tensor2D, b),
    weightGradKernel: "BatchMatMul",
  },
];

const bits = (t: tf.Tensor) => Array.from(new Uint32Array(new Float32Array(t.dataSync()).buffer));

describe.each(["wasm", "cpu"] as const)("lazy-gradient fused layers on %s", (backend) => {
  it.each(cases)("$name: values, gradients and second derivatives are tf.fused's bit for bit", async (c) => {
    await selectBackend(backend, { log: () => {} });
    tf.tidy(() => {
      const x = tf.randomNormal(c.x, 0, 1, "float32", 1);
      const w1 = tf.randomNormal(c.w, 0, 0.5, "float32", 2);
      const b1 = tf.randomNormal([c.w[c.w.length - 1]!], 0, 0.5, "float32", 3);
      const w2 = tf.randomNormal(c.w2, 0, 0.5, "float32", 4);
      const b2 = tf.randomNormal([c.w2[c.w2.length - 1]!], 0, 0.5, "float32", 5);
      const run = (layer: Layer) => {
        const f = (xx: tf.Tensor, a: tf.Tensor, b: tf.Tensor, p: tf.Tensor, q: tf.Tensor) => c.net(layer, xx, a, b, p, q);
        const y = f(x, w1, b1, w2, b2);
        const r = tf.randomNormal(y.shape, 0, 1, "float32", 6);
        const first = tf.grads((xx: tf.Tensor, a: tf.Tensor, b: tf.Tensor, p: tf.Tensor, q: tf.Tensor) => tf.sum(tf.mul(f(xx, a, b, p, q), r)))([x, w1, b1, w2, b2]);
        // a penalty on the input gradient, differentiated with respect to the weights (and the input)
        // (not with respect to the last bias: the input gradient does not depend on it)
        const second = tf.grads((xx: tf.Tensor, a: tf.Tensor, b: tf.Tensor, p: tf.Tensor) => {
          const gx = tf.grad((xi: tf.Tensor) => tf.sum(tf.mul(f(xi, a, b, p, b2), r)))(xx);
          return tf.sum(tf.square(tf.sub(tf.sqrt(tf.sum(tf.square(gx))), 1)));
        })([x, w1, b1, w2]);
        return { y, first, second };
      };
      const ref = run(c.fused);
      const got = run(c.lazy);
      expect(bits(got.y)).toEqual(bits(ref.y));
      ref.first.forEach((g, i) => expect(bits(got.first[i]!), `first derivative ${i}`).toEqual(bits(g)));
      ref.second.forEach((g, i) => {
        expect(bits(got.second[i]!), `second derivative ${i}`).toEqual(bits(g));
        // not all zero: the check compares something
        expect(Math.max(...Array.from(g.dataSync()).map(Math.abs)), `second derivative ${i}`).toBeGreaterThan(0);
      });
    });
  }, 60_000);

  it.each(cases)("$name: the input gradient alone runs no weight gradient", async (c) => {
    await selectBackend(backend, { log: () => {} });
    const x = tf.randomNormal(c.x, 0, 1, "float32", 1);
    const w1 = tf.randomNormal(c.w, 0, 0.5, "float32", 2);
    const b1 = tf.randomNormal([c.w[c.w.length - 1]!], 0, 0.5, "float32", 3);
    const kernelsOf = async (layer: Layer) => {
      const p = await tf.profile(() => tf.tidy(() => tf.grad((xx: tf.Tensor) => tf.sum(layer(xx, w1, b1)))(x)));
      return p.kernels.map((k) => k.name);
    };
    // tfjs's fused op computes the weight and bias gradients too (one more weight-gradient kernel, one more
    // Sum for the bias); the lazy one only the input's
    const count = (ks: string[], name: string) => ks.filter((k) => k === name).length;
    const fused = await kernelsOf(c.fused);
    const lazy = await kernelsOf(c.lazy);
    expect(count(fused, c.weightGradKernel)).toBe(c.weightGradKernel === "BatchMatMul" ? 2 : 1);
    expect(count(lazy, c.weightGradKernel)).toBe(count(fused, c.weightGradKernel) - 1);
    expect(count(lazy, "Sum")).toBe(count(fused, "Sum") - 1);
    tf.dispose([x, w1, b1]);
  }, 60_000);
});
