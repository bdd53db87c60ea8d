import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import { checkText } from "../../src/check.ts";
import { selectBackend } from "../../src/runtime/backend.ts";
import { close, netFn, netOf, values } from "./run-layers.ts";

/*
 * const (a learned tensor repeated over the batch, StyleGAN's synthesis input) as the layer-by-layer trainer
 * runs it (the module's code), on cpu and wasm: the output is the tensor for every sample whatever the
 * input's values, the batch size is the input's, and the gradient of <r, y> with respect to the tensor is
 * the sum of r over the batch (written out in float64); a conv after it gets the same gradient as the
 * float64 sum of per-sample gradients. The checker: shape, default init N(0, 1), and E0185.
 */

const spec = (g: string) => `data real: ring8(batch=8)
noise z: normal(0, 1, [4])
net G(z) {
  ${g}
}
net D(x) {
  dense 1 -> logit
}
fake = G(z)
loss d = mean(D(fake).logit)
loss g = -mean(D(fake).logit)
step d: adam(lr=1e-3) minimize d over D
step g: adam(lr=1e-3) minimize g over G
`;
const errors = (g: string) => checkText(spec(g), "t.gan").diagnostics.filter((d) => d.severity === "error").map((d) => [d.code, d.message]);

describe("const in a spec", () => {
  it("has the given shape and a N(0, 1) tensor by default (init= changes it)", () => {
    const net = netOf("const [4, 4, 3]", [4]);
    expect(net.layers[0]!.outShape).toEqual([4, 4, 3]);
    expect(net.vars).toEqual([{ name: "G/const1/value", shape: [4, 4, 3], init: { kind: "normal", mean: 0, std: 1 }, trainable: true }]);
    expect(netOf("constant [5] init=zeros", [4]).vars[0]!.init).toEqual({ kind: "zeros" });
    // after a named value that a later layer reads
    expect(netOf("dense 3 -> w\n  const [2, 2, 4], concat(w)", [4]).layers.map((l) => l.outShape)).toEqual([[3], [2, 2, 4], [2, 2, 7]]);
  });

  it("after a layer whose output is not named is E0185 (that output would be lost); a missing shape is E0114", () => {
    expect(errors("dense 16, relu\n  const [2]\n  dense 2")).toEqual([
      ["E0185", "const [2] starts a new path and reads only the batch size, so the output of 'relu' before it would be lost; make const the net's first layer, or name that output (relu ... -> w) and read it later (cbn(w), concat(w))"],
    ]);
    expect(errors("const, dense 2").map((e) => e[0])).toEqual(["E0114"]);
    expect(errors("const [2, 0], flatten, dense 2").map((e) => e[0])).toEqual(["E0117"]);
  });
});

for (const backend of ["cpu", "wasm"] as const) {
  describe(`const on ${backend}`, () => {
    beforeAll(async () => {
      await selectBackend(backend, { log: () => {} });
    });

    it("repeats the tensor over the input's batch whatever the input's values; its gradient is the sum over the batch", () => {
      const fn = netFn(netOf("const [2, 3, 2]", [4]));
      const v = values(12, 1);
      for (const batch of [1, 5]) {
        const r = values(batch * 12, 2 + batch);
        tf.tidy(() => {
          const value = tf.tensor(Float32Array.from(v), [2, 3, 2]);
          const y1 = fn(tf.tensor(Float32Array.from(values(batch * 4, 3)), [batch, 4]), { "G/const1/value": value });
          const y2 = fn(tf.zeros([batch, 4]), { "G/const1/value": value });
          expect(y1.shape).toEqual([batch, 2, 3, 2]);
          const tiled = Float64Array.from({ length: batch * 12 }, (_, i) => v[i % 12]!);
          close(y1.dataSync(), tiled, 0);
          close(y2.dataSync(), tiled, 0);
          const rT = tf.tensor(Float32Array.from(r), [batch, 2, 3, 2]);
          const g = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(fn(tf.zeros([batch, 4]), { "G/const1/value": t }), rT)))(value).dataSync();
          const expected = Float64Array.from({ length: 12 }, (_, i) => {
            let s = 0;
            for (let b = 0; b < batch; b++) s += r[b * 12 + i]!;
            return s;
          });
          close(g, expected, 1e-6);
        });
      }
    });

    it("with a conv after it: the tensor's gradient is the float64 sum over samples of each sample's gradient", () => {
      const fn = netFn(netOf("const [3, 3, 2], conv 2 kernel=3 bias=false", [4]));
      const batch = 3;
      const v = values(18, 4);
      const k = values(3 * 3 * 2 * 2, 5);
      const r = values(batch * 18, 6);
      // d<r, conv(c)>/dc[p, q, ch] = sum over samples b, outputs (i, j, o) of r[b, i, j, o] k[p - i + 1, q - j + 1, ch, o]
      const expected = new Float64Array(18);
      for (let b = 0; b < batch; b++)
        for (let i = 0; i < 3; i++)
          for (let j = 0; j < 3; j++)
            for (let o = 0; o < 2; o++)
              for (let p = 0; p < 3; p++)
                for (let q = 0; q < 3; q++)
                  for (let ch = 0; ch < 2; ch++) {
                    const [a, c] = [p - i + 1, q - j + 1];
                    if (a < 0 || a > 2 || c < 0 || c > 2) continue;
                    expected[(p * 3 + q) * 2 + ch]! += r[((b * 3 + i) * 3 + j) * 2 + o]! * k[((a * 3 + c) * 2 + ch) * 2 + o]!;
                  }
      tf.tidy(() => {
        const kT = tf.tensor(Float32Array.from(k), [3, 3, 2, 2]);
        const rT = tf.tensor(Float32Array.from(r), [batch, 3, 3, 2]);
        const g = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(fn(tf.zeros([batch, 4]), { "G/const1/value": t, "G/conv1/kernel": kT }), rT)))(tf.tensor(Float32Array.from(v), [3, 3, 2]));
        close(g.dataSync(), expected, 1e-6);
      });
    });
  });
}
