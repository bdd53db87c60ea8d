import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import { checkText } from "../../src/check.ts";
import { selectBackend } from "../../src/runtime/backend.ts";
import { close, netFn, netOf, values } from "./run-layers.ts";

/*
 * Weight modifiers lr_mul and equalized (StyleGAN's equalized learning rate) on dense, conv and deconv,
 * as the layer-by-layer trainer runs them (the layer modules' code):
 *   - the scales: w = lr_mul / sqrt(fan_in) with equalized, lr_mul without; the bias times lr_mul;
 *   - the default initializers of the stored kernel: N(0, 1/lr_mul^2) with equalized, the layer's default
 *     divided by lr_mul without;
 *   - forward and the gradients of <r, y> (input, stored kernel, stored bias) against the explicit scaling
 *     written out in float64, on cpu and wasm;
 *   - the effective learning rate: one SGD step moves the used weights by lr * w^2 * their gradient, one Adam
 *     step by about lr * w (the stored values move by about lr each), the point of the parameterization.
 */

type Vars = Record<string, tf.Tensor>;

/** y = x (K w) + b lr_mul, and the gradients of <r, y>, in float64. */
function dense64(x: Float64Array, k: Float64Array, b: Float64Array, n: number, fi: number, fo: number, w: number, bs: number, r: Float64Array) {
  const y = new Float64Array(n * fo);
  const dx = new Float64Array(n * fi);
  const dk = new Float64Array(fi * fo);
  const db = new Float64Array(fo);
  for (let s = 0; s < n; s++)
    for (let o = 0; o < fo; o++) {
      let acc = b[o]! * bs;
      for (let i = 0; i < fi; i++) acc += x[s * fi + i]! * k[i * fo + o]! * w;
      y[s * fo + o] = acc;
      const ro = r[s * fo + o]!;
      db[o]! += ro * bs;
      for (let i = 0; i < fi; i++) {
        dk[i * fo + o]! += x[s * fi + i]! * ro * w;
        dx[s * fi + i]! += ro * k[i * fo + o]! * w;
      }
    }
  return { y, dx, dk, db };
}

/** A 'same'-padded strided conv (TensorFlow's padding: the odd pixel after), NHWC, kernel [k, k, c, f], scaled; and the gradients of <r, y>. */
function conv64(x: Float64Array, [n, h, wd, c]: number[], kern: Float64Array, k: number, f: number, stride: number, ws: number, b: Float64Array, bs: number, r: Float64Array) {
  const oh = Math.ceil(h! / stride);
  const ow = Math.ceil(wd! / stride);
  const top = Math.floor(Math.max((oh - 1) * stride + k - h!, 0) / 2);
  const left = Math.floor(Math.max((ow - 1) * stride + k - wd!, 0) / 2);
  const y = new Float64Array(n! * oh * ow * f);
  const dx = new Float64Array(x.length);
  const dk = new Float64Array(kern.length);
  const db = new Float64Array(f);
  for (let s = 0; s < n!; s++)
    for (let i = 0; i < oh; i++)
      for (let j = 0; j < ow; j++)
        for (let o = 0; o < f; o++) {
          const at = ((s * oh + i) * ow + j) * f + o;
          let acc = b[o]! * bs;
          const ro = r[at]!;
          db[o]! += ro * bs;
          for (let p = 0; p < k; p++)
            for (let q = 0; q < k; q++) {
              const yi = i * stride + p - top;
              const xj = j * stride + q - left;
              if (yi < 0 || yi >= h! || xj < 0 || xj >= wd!) continue;
              for (let ch = 0; ch < c!; ch++) {
                const xi = ((s * h! + yi) * wd! + xj) * c! + ch;
                const ki = ((p * k + q) * c! + ch) * f + o;
                acc += x[xi]! * kern[ki]! * ws;
                dk[ki]! += x[xi]! * ro * ws;
                dx[xi]! += ro * kern[ki]! * ws;
              }
            }
          y[at] = acc;
        }
  return { y, dx, dk, db };
}

const f32 = (a: Float64Array, shape: number[]) => tf.tensor(Float32Array.from(a), shape);

describe("lr_mul and equalized: scales and initializers", () => {
  it("equalized: w = lr_mul / sqrt(fan_in), stored kernel N(0, 1/lr_mul^2); lr_mul alone: w = lr_mul, the default init divided by lr_mul", () => {
    const net = netOf("dense 8 lr_mul=0.01 equalized=true, dense 48 lr_mul=0.5, reshape [4, 4, 3], conv 3 kernel=3 equalized=true, deconv 2 kernel=4 stride=2 lr_mul=0.1 equalized=true, flatten, dense 5", [16]);
    const scale = (name: string) => (net.layers.find((l) => l.name === name)!.layer as { scale?: unknown }).scale;
    const init = (v: string) => net.vars.find((x) => x.name === `G/${v}/kernel`)!.init;
    expect(scale("dense1")).toEqual({ lrMul: 0.01, equalized: true, w: 0.01 / Math.sqrt(16), b: 0.01 });
    expect(init("dense1")).toEqual({ kind: "normal", mean: 0, std: 100 });
    expect(scale("dense2")).toEqual({ lrMul: 0.5, equalized: false, w: 0.5, b: 0.5 });
    expect(init("dense2")).toEqual({ kind: "normal", mean: 0, std: 0.04 });
    expect(scale("conv1")).toEqual({ lrMul: 1, equalized: true, w: 1 / Math.sqrt(27), b: 1 });
    expect(init("conv1")).toEqual({ kind: "normal", mean: 0, std: 1 });
    expect(scale("deconv1")).toEqual({ lrMul: 0.1, equalized: true, w: 0.1 / Math.sqrt(48), b: 0.1 });
    expect(init("deconv1")).toEqual({ kind: "normal", mean: 0, std: 10 });
    // a plain layer has no scale, and an explicit init= initializes the stored kernel
    expect(scale("dense3")).toBeUndefined();
    expect(netOf("dense 8 equalized=true init=normal(0, 2)", [4]).vars[0]!.init).toEqual({ kind: "normal", mean: 0, std: 2 });
  });

  it("lr_mul <= 0 and lr_mul or equalized with sn=true are E0184 at the argument", () => {
    const errs = (layer: string) =>
      checkText(`data real: ring8(batch=8)\nnoise z: normal(0, 1, [4])\nnet G(z) {\n  ${layer}\n}\nnet D(x) {\n  dense 1 -> logit\n}\nfake = G(z)\nloss d = mean(D(fake).logit)\nloss g = -mean(D(fake).logit)\nstep d: adam(lr=1e-3) minimize d over D\nstep g: adam(lr=1e-3) minimize g over G\n`, "t.gan")
        .diagnostics.filter((d) => d.severity === "error")
        .map((d) => [d.code, d.message]);
    expect(errs("dense 2 lr_mul=0")).toEqual([["E0184", "lr_mul must be > 0, got 0: it multiplies the weights (StyleGAN2's mapping network uses lr_mul=0.01)"]]);
    expect(errs("dense 2 lr_mul=-1 equalized=true")[0]![0]).toBe("E0184");
    expect(errs("dense 2 equalized=true sn=true")).toEqual([
      ["E0184", "equalized=true cannot go with sn=true: spectral normalization divides the kernel by its largest singular value, which undoes any constant scale of it"],
    ]);
    // equalized=false is the plain layer, with sn=true too
    expect(errs("dense 2 equalized=false sn=true")).toEqual([]);
    expect(errs("reshape [2, 2, 1], conv 2 kernel=3 lr_mul=0.1 sn=true, flatten, dense 2")[0]![0]).toBe("E0184");
  });
});

for (const backend of ["cpu", "wasm"] as const) {
  describe(`lr_mul and equalized on ${backend}`, () => {
    beforeAll(async () => {
      await selectBackend(backend, { log: () => {} });
    });

    for (const [mods, w, bs] of [
      ["lr_mul=0.01 equalized=true", 0.01 / Math.sqrt(6), 0.01],
      ["lr_mul=0.25", 0.25, 0.25],
      ["equalized=true", 1 / Math.sqrt(6), 1],
    ] as const)
      it(`dense ${mods}: forward and gradients equal the explicit scaling in float64`, () => {
        const net = netOf(`dense 5 ${mods}`, [6]);
        const fn = netFn(net);
        const [n, fi, fo] = [3, 6, 5];
        const x = values(n * fi, 1);
        const k = Float64Array.from(values(fi * fo, 2), (v) => v * 10);
        const b = values(fo, 3);
        const r = values(n * fo, 4);
        const ref = dense64(x, k, b, n, fi, fo, w, bs, r);
        tf.tidy(() => {
          const vars: Vars = { "G/dense1/kernel": f32(k, [fi, fo]), "G/dense1/bias": f32(b, [fo]) };
          const xt = f32(x, [n, fi]);
          close(fn(xt, vars).dataSync(), ref.y, 1e-6);
          const rt_ = f32(r, [n, fo]);
          const g = tf.grads((xx: tf.Tensor, kk: tf.Tensor, bb: tf.Tensor) => tf.sum(tf.mul(fn(xx, { "G/dense1/kernel": kk, "G/dense1/bias": bb }), rt_)));
          const [dx, dk, db] = g([xt, vars["G/dense1/kernel"]!, vars["G/dense1/bias"]!]);
          close(dx!.dataSync(), ref.dx, 1e-6);
          close(dk!.dataSync(), ref.dk, 1e-6);
          close(db!.dataSync(), ref.db, 1e-6);
        });
      });

    for (const stride of [1, 2])
      it(`conv kernel=3 stride=${stride} lr_mul=0.1 equalized=true: forward and gradients equal the explicit scaling in float64`, () => {
        const net = netOf(`reshape [5, 4, 2], conv 3 kernel=3 stride=${stride} lr_mul=0.1 equalized=true`, [40]);
        const fn = netFn(net);
        const shape = [2, 5, 4, 2];
        const w = 0.1 / Math.sqrt(3 * 3 * 2);
        const x = values(2 * 40, 5);
        const k = Float64Array.from(values(3 * 3 * 2 * 3, 6), (v) => v * 10);
        const b = values(3, 7);
        const oh = Math.ceil(5 / stride);
        const ow = Math.ceil(4 / stride);
        const r = values(2 * oh * ow * 3, 8);
        const ref = conv64(x, shape, k, 3, 3, stride, w, b, 0.1, r);
        tf.tidy(() => {
          const xt = f32(x, [2, 40]);
          const kt = f32(k, [3, 3, 2, 3]);
          const bt = f32(b, [3]);
          const run = (xx: tf.Tensor, kk: tf.Tensor, bb: tf.Tensor) => fn(xx, { "G/conv1/kernel": kk, "G/conv1/bias": bb });
          close(run(xt, kt, bt).dataSync(), ref.y, 1e-6);
          const rr = f32(r, [2, oh, ow, 3]);
          const [dx, dk, db] = tf.grads((xx: tf.Tensor, kk: tf.Tensor, bb: tf.Tensor) => tf.sum(tf.mul(run(xx, kk, bb), rr)))([xt, kt, bt]);
          close(dx!.dataSync(), ref.dx, 1e-6);
          close(dk!.dataSync(), ref.dk, 1e-6);
          close(db!.dataSync(), ref.db, 1e-6);
        });
      });

    it("deconv lr_mul=0.1 equalized=true is the plain deconv with its kernel and bias times the scales", () => {
      const scaledNet = netFn(netOf("reshape [3, 3, 2], deconv 3 kernel=4 stride=2 lr_mul=0.1 equalized=true", [18]));
      const plainNet = netFn(netOf("reshape [3, 3, 2], deconv 3 kernel=4 stride=2", [18]));
      const w = 0.1 / Math.sqrt(4 * 4 * 2);
      tf.tidy(() => {
        const x = f32(values(2 * 18, 9), [2, 18]);
        const k = f32(values(4 * 4 * 3 * 2, 10), [4, 4, 3, 2]);
        const b = f32(values(3, 11), [3]);
        const y = scaledNet(x, { "G/deconv1/kernel": k, "G/deconv1/bias": b }).dataSync();
        const expected = plainNet(x, { "G/deconv1/kernel": tf.mul(k, w), "G/deconv1/bias": tf.mul(b, 0.1) }).dataSync();
        close(y, expected, 1e-6);
        expect(Math.max(...Array.from(y, Math.abs))).toBeGreaterThan(1e-4);
      });
    });

    it("the effective learning rate: SGD moves the used weights by lr w^2 g, Adam's first step by lr w", () => {
      const fn = netFn(netOf("dense 3 lr_mul=0.01 equalized=true", [4]));
      const w = 0.01 / Math.sqrt(4);
      const x = tf.tensor(Float32Array.from(values(2 * 4, 12)), [2, 4]);
      const target = tf.tensor(Float32Array.from(values(2 * 3, 13)), [2, 3]);
      const k0 = Float32Array.from(values(12, 14));
      const b0 = new Float32Array(3);
      const step = (opt: tf.Optimizer) => {
        const k = tf.variable(tf.tensor(k0, [4, 3]));
        const b = tf.variable(tf.tensor(b0, [3]));
        // the gradient with respect to the used weights W = K w
        const gUsed = tf.grad((W: tf.Tensor) => tf.sum(tf.square(tf.sub(tf.matMul(x, W as tf.Tensor2D), target))))(tf.mul(k, w)).dataSync();
        opt.minimize(() => tf.sum(tf.square(tf.sub(fn(x, { "G/dense1/kernel": k, "G/dense1/bias": tf.zeros([3]) }), target))) as tf.Scalar, false, [k, b]);
        // the used weights' change, (K' - K) w, in float64
        return { delta: Float64Array.from(k.dataSync(), (a, i) => (a - k0[i]!) * w), gUsed };
      };
      const lr = 0.1;
      const sgd = step(tf.train.sgd(lr));
      close(sgd.delta, Float64Array.from(sgd.gUsed, (g) => -lr * w * w * g), 1e-3);
      const adam = step(tf.train.adam(lr));
      // Adam's first step is lr * g / (|g| + eps) on the stored values: about lr each, lr * w on the used ones.
      close(adam.delta, Float64Array.from(adam.gUsed, (g) => -lr * w * Math.sign(g)), 1e-3);
    });
  });
}
