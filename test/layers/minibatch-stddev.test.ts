import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import { selectBackend } from "../../src/runtime/backend.ts";
import * as rt from "../../src/runtime/index.ts";
import { checkText } from "../../src/check.ts";

/*
 * minibatch_stddev (StyleGAN2's minibatch standard deviation) as the trainer runs it (rt.minibatchStddev,
 * what the layer's `code` writes), on cpu and wasm:
 *   - forward against the float64 formula written out here from StyleGAN2's definition;
 *   - the input gradient of <r, f(x)> against central differences of that float64 formula;
 *   - the second derivative an R1 penalty takes through it: the gradient with respect to a channel scale w
 *     of P(w) = sum(grad_x D(x; w)^2), D(x; w) = sum(v * tanh(f(x * w))), against central differences of P.
 */

type Shape = [number, number, number, number];

/** StyleGAN2: sample k is in group k mod m (m = n / g); per group, channel group and position, the std over
 * the g samples (1e-8 under the root), averaged over the positions and the channels of the channel group. */
function mbstd64(x: Float64Array, [n, h, w, c]: Shape, group: number, features: number): Float64Array {
  const g = Math.min(group, n);
  const m = n / g;
  const cf = c / features;
  const s = new Float64Array(m * features);
  for (let mi = 0; mi < m; mi++)
    for (let f = 0; f < features; f++) {
      let acc = 0;
      for (let i = 0; i < h; i++)
        for (let j = 0; j < w; j++)
          for (let q = 0; q < cf; q++) {
            const ch = f * cf + q;
            const at = (gi: number) => x[(((gi * m + mi) * h + i) * w + j) * c + ch]!;
            let mean = 0;
            for (let gi = 0; gi < g; gi++) mean += at(gi) / g;
            let v = 0;
            for (let gi = 0; gi < g; gi++) v += (at(gi) - mean) ** 2 / g;
            acc += Math.sqrt(v + 1e-8);
          }
      s[mi * features + f] = acc / (h * w * cf);
    }
  const co = c + features;
  const y = new Float64Array(n * h * w * co);
  for (let k = 0; k < n; k++)
    for (let p = 0; p < h * w; p++) {
      for (let ch = 0; ch < c; ch++) y[(k * h * w + p) * co + ch] = x[(k * h * w + p) * c + ch]!;
      for (let f = 0; f < features; f++) y[(k * h * w + p) * co + c + f] = s[(k % m) * features + f]!;
    }
  return y;
}

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

const cases: { shape: Shape; group: number; features: number }[] = [
  { shape: [8, 3, 2, 4], group: 4, features: 1 },
  { shape: [6, 2, 3, 4], group: 3, features: 2 },
  { shape: [2, 2, 2, 2], group: 4, features: 1 }, // a group larger than the batch: the whole batch
];

for (const backend of ["cpu", "wasm"] as const) {
  describe(`minibatch_stddev on ${backend}`, () => {
    beforeAll(async () => {
      await selectBackend(backend, { log: () => {} });
    });

    for (const c of cases) {
      const tag = `[${c.shape.join(", ")}], group=${c.group}, features=${c.features}`;
      it(`${tag}: forward and input gradient equal float64 arithmetic`, () => {
        const n = c.shape.reduce((a, b) => a * b, 1);
        const xs = values(n, 7);
        const ref = mbstd64(xs, c.shape, c.group, c.features);
        const r = values(ref.length, 11);
        const outShape: Shape = [c.shape[0], c.shape[1], c.shape[2], c.shape[3] + c.features];
        tf.tidy(() => {
          const x = tf.tensor4d(Float32Array.from(xs), c.shape);
          const y = rt.minibatchStddev(x, c.group, c.features);
          expect(y.shape).toEqual(outShape);
          close(y.dataSync(), ref, 1e-6);
          const rT = tf.tensor(Float32Array.from(r), outShape);
          const g = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(rt.minibatchStddev(t as tf.Tensor4D, c.group, c.features), rT)))(x).dataSync();
          const H = 1e-6;
          const dot = (v: Float64Array) => mbstd64(v, c.shape, c.group, c.features).reduce((acc, yi, j) => acc + yi * r[j]!, 0);
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

      it(`${tag}: an R1 penalty's second derivative matches central differences`, () => {
        tf.tidy(() => {
          const n = c.shape.reduce((a, b) => a * b, 1);
          const x = tf.tensor4d(Float32Array.from(values(n, 3)), c.shape);
          const outShape = [c.shape[0], c.shape[1], c.shape[2], c.shape[3] + c.features];
          const v = tf.tensor(Float32Array.from(values(outShape.reduce((a, b) => a * b, 1), 5)), outShape);
          const penalty = (w: tf.Tensor) => {
            const gx = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(v, tf.tanh(rt.minibatchStddev(tf.mul(t, w) as tf.Tensor4D, c.group, c.features)))))(x);
            return tf.sum(tf.square(gx));
          };
          const w0 = Float32Array.from(values(c.shape[3], 9), (a) => 1 + a / 2);
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

    it("a batch that is not a multiple of the group is refused with the sizes", () => {
      expect(() => rt.minibatchStddev(tf.zeros([6, 2, 2, 1]) as tf.Tensor4D, 4, 1)).toThrow(/batch of 6 is not a multiple of its group of 4/);
    });
  });
}

describe("minibatch_stddev in a spec", () => {
  const spec = (d: string) => `data real: mnist(batch=8)
noise z: normal(0, 1, [4])
net G(z) {
  dense 784, reshape [28, 28, 1], sigmoid
}
net D(x) {
  ${d}
  flatten, dense 1 -> logit
}
fake = G(z)
loss d = bce_logits(D(real).logit, ones) + bce_logits(D(fake).logit, zeros)
loss g = bce_logits(D(fake).logit, ones)
step d: adam(lr=1e-3) minimize d over D
step g: adam(lr=1e-3) minimize g over G
`;
  it("appends `features` channels to an image", () => {
    const r = checkText(spec("conv 8 kernel=4 stride=2, mbstd group=4 features=2"), "s.gan");
    expect(r.diagnostics.filter((d) => d.severity === "error")).toEqual([]);
    const D = r.program!.nets.find((n) => n.name === "D")!;
    expect(D.layers.find((l) => l.layer.op === "minibatch_stddev")!.outShape).toEqual([14, 14, 10]);
  });
  it("a flat input and channels not a multiple of features are errors at the layer", () => {
    const flat = checkText(spec("flatten, minibatch_stddev"), "s.gan").diagnostics.filter((d) => d.severity === "error");
    expect(flat.map((d) => [d.code, d.message])).toEqual([["E0201", "minibatch_stddev needs an image input [height, width, channels] per sample, got [784]; add 'reshape' before it"]]);
    const odd = checkText(spec("conv 6 kernel=4 stride=2, minibatch_stddev features=4"), "s.gan").diagnostics.filter((d) => d.severity === "error");
    expect(odd.map((d) => d.code)).toEqual(["E0201"]);
  });
});
