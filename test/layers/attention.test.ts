import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import { selectBackend } from "../../src/runtime/backend.ts";
import * as rt from "../../src/runtime/index.ts";
import { maxPool2Runtime, selfAttentionRuntime, selfAttentionSaving } from "../../src/layers/attention.ts";

/*
 * The self-attention layer as the trainer runs it (rt.selfAttention, the call src/layers/attention.ts
 * writes), on cpu and wasm:
 *   - forward against the layer written out here in float64 loops (1x1 convs, 2x2 max pooling of keys and
 *     values, softmax over the pooled positions, output conv, x + gamma * o), independently of the
 *     runtime's formulation;
 *   - the gradients of <r, y> with respect to the input, the four kernels and gamma, against central
 *     differences of that float64 map (step 1e-5: the truncation error is ~1e-10, far below float32);
 *   - the second derivatives an R1 penalty takes through a residual ResNet D with average pooling,
 *     attention and spectral norm (P(W) = sum(grad_x D(x; W)^2), differentiated with respect to D's
 *     weights), against central differences of P in float32 (step 1e-2; 2e-2 of the largest entry, plus
 *     the rounding of P over the step, lets no wrong derivative through: a missing term is of the order of
 *     the whole entry).
 * The max pooling's routing is checked on its own: a tie sends the gradient to the first largest entry only.
 */

type Arr = Float64Array;

function values(n: number, seed: number, scale = 1): Float64Array {
  let a = seed >>> 0;
  return Float64Array.from({ length: n }, () => {
    a = (Math.imul(a, 1664525) + 1013904223) >>> 0;
    return (Math.round((a / 2 ** 32 - 0.5) * 2 ** 12) / 2 ** 11) * scale; // exact in float32
  });
}

/** 1x1 convolution of [b, n, cin] (positions flattened) by a [cin, cout] kernel. */
function conv1(x: Arr, b: number, n: number, cin: number, k: Arr, cout: number): Arr {
  const y = new Float64Array(b * n * cout);
  for (let p = 0; p < b * n; p++) for (let o = 0; o < cout; o++) for (let i = 0; i < cin; i++) y[p * cout + o]! += x[p * cin + i]! * k[i * cout + o]!;
  return y;
}

/** 2x2 max pooling of [b, h, w, c] (h, w even). */
function pool(x: Arr, b: number, h: number, w: number, c: number): Arr {
  const y = new Float64Array((b * h * w * c) / 4);
  for (let n = 0; n < b; n++)
    for (let i = 0; i < h / 2; i++)
      for (let j = 0; j < w / 2; j++)
        for (let ch = 0; ch < c; ch++) {
          let m = -Infinity;
          for (let di = 0; di < 2; di++) for (let dj = 0; dj < 2; dj++) m = Math.max(m, x[((n * h + 2 * i + di) * w + 2 * j + dj) * c + ch]!);
          y[((n * (h / 2) + i) * (w / 2) + j) * c + ch] = m;
        }
  return y;
}

interface Params {
  x: Arr;
  f: Arr;
  g: Arr;
  h: Arr;
  o: Arr;
  gamma: Arr;
}

/** SAGAN's self-attention in float64 on x [b, hh, ww, c]. */
function attention64(p: Params, [b, hh, ww, c]: readonly number[]): Arr {
  const n = hh! * ww!;
  const m = n / 4;
  const c8 = c! / 8;
  const c2 = c! / 2;
  const q = conv1(p.x, b!, n, c!, p.f, c8);
  const k = pool(conv1(p.x, b!, n, c!, p.g, c8), b!, hh!, ww!, c8);
  const v = pool(conv1(p.x, b!, n, c!, p.h, c2), b!, hh!, ww!, c2);
  const a = new Float64Array(b! * n * c2);
  for (let s = 0; s < b!; s++)
    for (let i = 0; i < n; i++) {
      const e = new Float64Array(m);
      for (let j = 0; j < m; j++) for (let d = 0; d < c8; d++) e[j]! += q[(s * n + i) * c8 + d]! * k[(s * m + j) * c8 + d]!;
      const top = Math.max(...e);
      let z = 0;
      for (let j = 0; j < m; j++) z += e[j] = Math.exp(e[j]! - top);
      for (let j = 0; j < m; j++) for (let d = 0; d < c2; d++) a[(s * n + i) * c2 + d]! += (e[j]! / z) * v[(s * m + j) * c2 + d]!;
    }
  const o = conv1(a, b!, n, c2, p.o, c!);
  return Float64Array.from(p.x, (xv, i) => xv + p.gamma[0]! * o[i]!);
}

function close(actual: ArrayLike<number>, expected: ArrayLike<number>, rel: number, what: string) {
  expect(actual.length, what).toBe(expected.length);
  const scale = Math.max(...Array.from(expected, Math.abs), 1e-30);
  let worst = 0;
  for (let i = 0; i < expected.length; i++) worst = Math.max(worst, Math.abs(actual[i]! - expected[i]!));
  expect(worst / scale, what).toBeLessThanOrEqual(rel);
}

const SHAPE = [2, 4, 6, 16] as const; // n = 24 positions, 6 pooled; queries and keys 2 channels, values 8
const [, , , C] = SHAPE;
const KSHAPES = { f: [1, 1, C, C / 8], g: [1, 1, C, C / 8], h: [1, 1, C, C / 2], o: [1, 1, C / 2, C] } as const;
const size = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);

function params(): Params {
  return {
    x: values(size(SHAPE), 3),
    f: values(size(KSHAPES.f), 5, 1.5),
    g: values(size(KSHAPES.g), 7, 1.5),
    h: values(size(KSHAPES.h), 11),
    o: values(size(KSHAPES.o), 13),
    gamma: Float64Array.of(0.75),
  };
}

const tensors = (p: Params) => ({
  x: tf.tensor4d(Float32Array.from(p.x), [...SHAPE]),
  f: tf.tensor(Float32Array.from(p.f), [...KSHAPES.f]),
  g: tf.tensor(Float32Array.from(p.g), [...KSHAPES.g]),
  h: tf.tensor(Float32Array.from(p.h), [...KSHAPES.h]),
  o: tf.tensor(Float32Array.from(p.o), [...KSHAPES.o]),
  gamma: tf.tensor(Float32Array.from(p.gamma), [1]),
});

for (const backend of ["cpu", "wasm"] as const) {
  describe(`self-attention on ${backend}`, () => {
    beforeAll(async () => {
      await selectBackend(backend, { log: () => {} });
    });

    it("forward equals float64 arithmetic, and is the identity while gamma is 0", () => {
      const p = params();
      const ref = attention64(p, SHAPE);
      // The attention term matters: it moves the output well away from x.
      close(p.x, ref, Infinity, "sizes");
      expect(Math.max(...ref.map((v, i) => Math.abs(v - p.x[i]!)))).toBeGreaterThan(0.1);
      tf.tidy(() => {
        const t = tensors(p);
        const y = rt.selfAttention(t.x, t.f, t.g, t.h, t.o, t.gamma);
        expect(y.shape).toEqual([...SHAPE]);
        close(y.dataSync(), ref, 1e-5, "forward");
        const y0 = rt.selfAttention(t.x, t.f, t.g, t.h, t.o, tf.zeros([1]));
        expect(Array.from(y0.dataSync())).toEqual(Array.from(t.x.dataSync()));
      });
    });

    it("gradients of the input, the four kernels and gamma equal central differences of float64 arithmetic", () => {
      const p = params();
      const r = values(size(SHAPE), 17);
      const loss64 = (q: Params) => attention64(q, SHAPE).reduce((acc, v, i) => acc + v * r[i]!, 0);
      tf.tidy(() => {
        const t = tensors(p);
        const rt32 = tf.tensor(Float32Array.from(r), [...SHAPE]);
        const grads = tf.grads((x, f, g, h, o, gamma) => tf.sum(tf.mul(rt.selfAttention(x as tf.Tensor4D, f!, g!, h!, o!, gamma!), rt32)))([
          t.x,
          t.f,
          t.g,
          t.h,
          t.o,
          t.gamma,
        ]);
        (["x", "f", "g", "h", "o", "gamma"] as const).forEach((name, k) => {
          const H = 1e-5;
          const numeric = Array.from(p[name], (_, i) => {
            const at = (d: number) => {
              const q = { ...p, [name]: Float64Array.from(p[name]) };
              q[name][i]! += d;
              return loss64(q);
            };
            return (at(H) - at(-H)) / (2 * H);
          });
          expect(Math.max(...numeric.map(Math.abs)), name).toBeGreaterThan(1e-2);
          close(grads[k]!.dataSync(), numeric, 2e-5, `d/d${name}`);
        });
      });
    });

    it("the fused net's forward and written-out backward pass are tfjs's forward and tape bit for bit (pooling ties and -0 gradients included)", () => {
      const p = params();
      // every other pixel zero: its keys and values are 0, so windows whose other entries are negative tie
      const c = SHAPE[3];
      const x = Float64Array.from(p.x, (v, i) => (Math.floor(i / c) % 2 === 0 ? 0 : v));
      const r = values(size(SHAPE), 19);
      tf.tidy(() => {
        const t = tensors({ ...p, x });
        const dy = tf.tensor(Float32Array.from(r, (v, i) => (i % 7 === 0 ? -0 : v)), [...SHAPE]);
        const saving = selfAttentionSaving(tf);
        const ours = saving(t.x, t.f, t.g, t.h, t.o, t.gamma, (k) => k);
        const theirs = rt.selfAttention(t.x, t.f, t.g, t.h, t.o, t.gamma);
        const bits = (a: tf.Tensor) => Array.from(new Uint32Array(Float32Array.from(a.dataSync()).buffer));
        expect(bits(ours.y)).toEqual(bits(theirs));
        const tape = tf.grads((xx, f, g, h, o, gamma) => rt.selfAttention(xx as tf.Tensor4D, f!, g!, h!, o!, gamma!))([t.x, t.f, t.g, t.h, t.o, t.gamma], dy);
        const back = ours.backward(dy, true);
        [back.dx, ...back.dw!].forEach((d, k) => expect(bits(d), ["x", "f", "g", "h", "o", "gamma"][k]).toEqual(bits(tape[k]!)));
        expect(bits(ours.backward(dy, false).dx)).toEqual(bits(tape[0]!));
        // the ties are there: windows of the keys' convolution whose largest value appears more than once
        const keys = tf.conv2d(t.x, t.g as tf.Tensor4D, 1, "valid");
        const [b, hh, ww, ck] = keys.shape;
        const win = tf.reshape(tf.transpose(tf.reshape(keys, [b, hh / 2, 2, ww / 2, 2, ck]), [0, 1, 3, 5, 2, 4]), [-1, 4]).arraySync() as number[][];
        expect(win.filter((w) => w.filter((v) => v === Math.max(...w)).length > 1).length).toBeGreaterThan(0);
      });
    });

    it("max pooling of keys and values routes the gradient to the first largest entry of each window, as PyTorch's does", () => {
      tf.tidy(() => {
        // one window with a tie (3, 3), one without
        const x = tf.tensor4d([1, 3, 3, 2, 7, 0, 5, 9], [1, 2, 2, 2]);
        const pool = maxPool2Runtime(tf);
        expect(Array.from(pool(x).dataSync())).toEqual([7, 9]);
        expect(Array.from(tf.grad((t: tf.Tensor) => tf.sum(pool(t as tf.Tensor4D)))(x).dataSync())).toEqual([0, 0, 0, 0, 1, 0, 0, 1]);
        const tie = tf.tensor4d([3, 1, 3, 1], [1, 2, 2, 1]);
        expect(Array.from(tf.grad((t: tf.Tensor) => tf.sum(pool(t as tf.Tensor4D)))(tie).dataSync())).toEqual([1, 0, 0, 0]);
      });
    });

    // 3 channels: one at a time; 6: four in the kernels' SIMD lanes, then two
    for (const C of [3, 6]) {
      it(`ganc's pooling kernels give the chain's values and gradients bit for bit (ties, -0, infinities, NaNs), and a gradient that is differentiable again (${C} channels)`, () => {
        expect(tf.getKernel("GancMaxPool2", backend), "the kernels are registered on this backend").toBeDefined();
        tf.tidy(() => {
          // [2, 4, 6, C]: random values with ties and every special value spread over the windows
          const shape: [number, number, number, number] = [2, 4, 6, C];
          const n = 2 * 4 * 6 * C;
          /** The flat index of window entry k (0-3: (0,0), (0,1), (1,0), (1,1)) of pooled output o. */
          const entry = (o: number, k: number) => {
            const [b, i, j, ch] = [Math.floor(o / (6 * C)), Math.floor(o / (3 * C)) % 2, Math.floor(o / C) % 3, o % C];
            return ((b * 4 + 2 * i + (k >> 1)) * 6 + 2 * j + (k & 1)) * C + ch;
          };
          const specials = [0, -0, Infinity, -Infinity, NaN, 1, 1, -1];
          // (the others on a coarse grid, so that windows tie)
          const xv = Float32Array.from(values(n, 31), (v, i) => (i % 5 === 0 ? specials[(i / 5) % specials.length]! : Math.round(v * 2) / 2));
          // and six windows with a tie for the largest in each pair of entries
          [[2, 2, 0, 0], [2, 0, 2, 0], [2, 0, 0, 2], [0, 2, 2, 0], [0, 2, 0, 2], [0, 0, 2, 2]].forEach((pattern, k) =>
            pattern.forEach((v, e) => (xv[entry(k * (C + 1), e)] = v)),
          );
          const x = tf.tensor4d(xv, shape);
          const chain = maxPool2Runtime(tf, (m) => m); // a masks function keeps the chain of ops
          const kernels = maxPool2Runtime(tf);
          const bits = (a: tf.Tensor) => Array.from(new Uint32Array(Float32Array.from(a.dataSync()).buffer));
          expect(bits(kernels(x))).toEqual(bits(chain(x)));
          // the windows cover the cases: a NaN, an infinity, finite values, ties in every pair of entries
          const y = chain(x).dataSync();
          expect(y.some(Number.isNaN) && y.some((v) => v === Infinity) && y.some((v) => Number.isFinite(v))).toBe(true);
          const wins = Array.from({ length: n / 4 }, (_, o) => [0, 1, 2, 3].map((k) => xv[entry(o, k)]!));
          const tied = (a: number, b: number) => wins.some((w) => w[a] === w[b] && w[a] === Math.max(...w) && w.slice(0, a).every((v) => v < w[a]!));
          expect([[0, 1], [0, 2], [0, 3], [1, 2], [1, 3], [2, 3]].filter(([a, b]) => !tied(a!, b!)), "pairs of entries that never tie for the largest").toEqual([]);
          const dyv = Float32Array.from(values(n / 4, 37), (v, i) => (i % 4 === 0 ? -0 : i % 9 === 0 ? -v : v));
          const dy = tf.tensor4d(dyv, [2, 2, 3, C]);
          const grad = (pool: (t: tf.Tensor4D) => tf.Tensor4D) => tf.grad((t: tf.Tensor) => pool(t as tf.Tensor4D))(x, dy);
          expect(bits(grad(kernels))).toEqual(bits(grad(chain)));
          // the gradient's gradient in dy (what an R1 penalty reaches): the pooling of the weights by the same mask
          const xf = tf.tensor4d(Float32Array.from(values(n, 41)), shape);
          const w = tf.tensor4d(Float32Array.from(values(n, 43)), shape);
          const second = (pool: (t: tf.Tensor4D) => tf.Tensor4D) =>
            tf.grad((d: tf.Tensor) => tf.sum(tf.mul(w, tf.grad((t: tf.Tensor) => pool(t as tf.Tensor4D))(xf, d as tf.Tensor4D))))(dy);
          expect(bits(second(kernels))).toEqual(bits(second(chain)));
          // which is w at each window's first largest entry of xf
          const [xs, ws] = [xf.dataSync(), w.dataSync()];
          const expected = Array.from({ length: n / 4 }, (_, o) => {
            let k = 0;
            for (let m = 1; m < 4; m++) if (xs[entry(o, m)]! > xs[entry(o, k)]!) k = m;
            return ws[entry(o, k)]!;
          });
          expect(Array.from(second(kernels).dataSync())).toEqual(expected);
        });
      });
    }

    // 7 columns: the kernels' one-at-a-time tail alone; 64: their lanes (the layer's n/4 at 16x16)
    for (const cols of [7, 64]) {
      it(`ganc's softmax kernels give the chain's values and backward pass bit for bit (NaNs, infinities, -0, ties), and second derivatives that match the chain's (${cols} columns)`, () => {
        expect(tf.getKernel("GancSoftmax", backend), "the kernels are registered on this backend").toBeDefined();
        tf.tidy(() => {
          const rows = 24;
          // rows of scores: random, then rows with a NaN first, a NaN later, infinities, -0 and +0, ties for the largest, large values
          const sv = Float32Array.from(values(rows * cols, 47, 8));
          const put = (r: number, j: number, v: number) => (sv[r * cols + j] = v);
          put(0, 0, NaN);
          put(1, 3, NaN);
          put(2, 1, Infinity);
          put(3, 2, -Infinity);
          [0, 1, 2].forEach((j) => put(4, j, j === 1 ? -0 : 0));
          put(5, 1, 80);
          put(5, 4, 80);
          for (let j = 0; j < cols; j++) put(6, j, -0);
          put(7, 0, -100);
          put(8, 5, 90);
          const s = tf.tensor3d(sv, [2, rows / 2, cols]);
          // bits, every NaN as one: which NaN a sum of two NaNs keeps is up to the engine in JavaScript (cpu)
          const bits = (a: tf.Tensor) => Array.from(new Uint32Array(Float32Array.from(a.dataSync(), (v) => (Number.isNaN(v) ? NaN : v)).buffer));
          // the chain attention.ts runs where the kernels are not registered
          const rowMax = tf.customGrad(((x: tf.Tensor) => ({ value: tf.max(x, -1, true), gradFunc: () => tf.zeros(x.shape) })) as never) as unknown as (x: tf.Tensor) => tf.Tensor;
          const e = tf.exp(tf.sub(s, rowMax(s)));
          const sums = tf.sum(e, -1, true);
          const attn = tf.div(e, sums);
          const k = tf.engine().runKernel("GancSoftmax", { s }, {}) as tf.Tensor[];
          [e, sums, attn].forEach((t, i) => expect(bits(k[i]!), ["e", "sums", "attn"][i]).toEqual(bits(t)));
          expect(Array.from(attn.dataSync()).some(Number.isNaN) && Array.from(attn.dataSync()).some((v) => v === 1)).toBe(true);
          // (-0 here and there, and a row of them: its gradient is -0 until the maximum's zero gradient is added)
          const dAttn = tf.tensor3d(Float32Array.from(values(rows * cols, 53), (v, i) => (i % 11 === 0 || Math.floor(i / cols) === 9 ? -0 : v)), [2, rows / 2, cols]);
          const dE = tf.add(tf.div(dAttn, sums), tf.neg(tf.div(tf.reshape(tf.sum(tf.mul(dAttn, e), [2]), sums.shape), tf.square(sums))));
          const dS = tf.add(tf.mul(dE, e), tf.zeros(e.shape));
          expect(bits(tf.engine().runKernel("GancSoftmaxGrad", { dy: dAttn, e: k[0]!, sums: k[1]! }, {}) as tf.Tensor)).toEqual(bits(dS));
          // through the tape: the gradient and the gradient's gradient in s and in dy, on finite scores
          const sf = tf.tensor3d(Float32Array.from(values(rows * cols, 59, 4)), [2, rows / 2, cols]);
          const w = tf.tensor3d(Float32Array.from(values(rows * cols, 61)), [2, rows / 2, cols]);
          const chain = (x: tf.Tensor) => ((ee: tf.Tensor) => tf.div(ee, tf.sum(ee, -1, true)))(tf.exp(tf.sub(x, rowMax(x))));
          const kernel = (x: tf.Tensor) => (tf.engine().runKernel("GancSoftmax", { s: x }, {}) as tf.Tensor[])[2]!;
          const first = (f: (x: tf.Tensor) => tf.Tensor, d: tf.Tensor) => tf.grad((x: tf.Tensor) => f(x))(sf, d);
          expect(bits(first(kernel, dAttn))).toEqual(bits(first(chain, dAttn)));
          const close = (a: tf.Tensor, b: tf.Tensor, what: string) => {
            const [x, y] = [a.dataSync(), b.dataSync()];
            const scale = Math.max(...Array.from(y, Math.abs));
            expect(scale, what).toBeGreaterThan(1e-3);
            x.forEach((v, i) => expect(Math.abs(v - y[i]!), `${what} [${i}]`).toBeLessThanOrEqual(1e-5 * scale));
          };
          const inS = (f: (x: tf.Tensor) => tf.Tensor) => tf.grad((x: tf.Tensor) => tf.sum(tf.mul(w, tf.grad((y: tf.Tensor) => f(y))(x, dAttn))))(sf);
          const inDy = (f: (x: tf.Tensor) => tf.Tensor) => tf.grad((d: tf.Tensor) => tf.sum(tf.mul(w, first(f, d))))(dAttn);
          close(inS(kernel), inS(chain), "d2/ds2");
          close(inDy(kernel), inDy(chain), "d2/ds ddy");
        });
      });
    }

    it("an R1 penalty's second derivatives through a residual ResNet D with average pooling, attention and spectral norm match central differences", () => {
      tf.tidy(() => {
        // D(x) = dense(global_sum(tanh(attention(block(x))))), block = the SNGAN D's first block (conv3,
        // activation, conv3, avgpool 2, plus the shortcut avgpool 2, conv1), every kernel spectrally
        // normalized. tanh stands for ReLU: P is not continuous where a ReLU input crosses 0 (its
        // gradient jumps), and among ~1,000 units a step of 1e-3 crosses one.
        const x = tf.tensor4d(Float32Array.from(values(2 * 8 * 8 * 3, 19)), [2, 8, 8, 3]);
        const shapes: Record<string, number[]> = {
          c1: [3, 3, 3, 8],
          c2: [3, 3, 8, 8],
          sc: [1, 1, 3, 8],
          f: [1, 1, 8, 1],
          g: [1, 1, 8, 1],
          h: [1, 1, 8, 4],
          o: [1, 1, 4, 8],
          gamma: [1],
          dense: [8, 1],
        };
        const names = Object.keys(shapes);
        const us = new Map(names.filter((n) => n !== "gamma").map((n, i) => [n, tf.variable(tf.tensor(Float32Array.from(values(shapes[n]!.at(-1)!, 23 + i)), [1, shapes[n]!.at(-1)!]), false)]));
        const sn = (n: string, k: tf.Tensor) => rt.spectralNorm(k, us.get(n)!, "infer");
        const init = new Map(names.map((n, i) => [n, Float32Array.from(values(size(shapes[n]!), 29 + i, n === "gamma" ? 0.5 : 1))]));
        // Spectral norm's gradient holds its power-iteration vectors constant (as PyTorch's does); that is
        // the derivative of the function itself where they have converged to the top singular vectors
        // (sigma is stationary in them), so they are iterated to convergence first (training mode updates u).
        for (const [n, u] of us) for (let i = 0; i < 300; i++) tf.tidy(() => rt.spectralNorm(tf.tensor(init.get(n)!, shapes[n]), u, "train"));
        // Max pooling's gradient is piecewise constant: P jumps where a window's largest entry changes, and
        // a difference step may cross such a switch. So the differences are taken of P with the pooling
        // masks held at the ones of the unperturbed weights (the same function near them, and smooth).
        const masks: tf.Tensor[] = [];
        const frozen = selfAttentionRuntime(tf, maxPool2Runtime(tf, () => masks[frozenAt++ % masks.length]!));
        let frozenAt = 0;
        const recording = selfAttentionRuntime(tf, maxPool2Runtime(tf, (m) => (masks.push(tf.keep(m)), m)));
        const D = (xx: tf.Tensor4D, w: Map<string, tf.Tensor>, attention = rt.selfAttention) => {
          const main = rt.avgPool(tf.conv2d(tf.tanh(tf.conv2d(xx, sn("c1", w.get("c1")!) as tf.Tensor4D, 1, "same")), sn("c2", w.get("c2")!) as tf.Tensor4D, 1, "same"), 2, 2, "valid");
          const short = tf.conv2d(rt.avgPool(xx, 2, 2, "valid"), sn("sc", w.get("sc")!) as tf.Tensor4D, 1, "same");
          const a = attention(tf.add(main, short), sn("f", w.get("f")!), sn("g", w.get("g")!), sn("h", w.get("h")!), sn("o", w.get("o")!), w.get("gamma")!);
          return tf.matMul(tf.sum(tf.tanh(a), [1, 2]) as tf.Tensor2D, sn("dense", w.get("dense")!) as tf.Tensor2D);
        };
        const penalty = (w: Map<string, tf.Tensor>, attention = rt.selfAttention) =>
          tf.sum(tf.square(tf.grad((t: tf.Tensor) => tf.sum(D(t as tf.Tensor4D, w, attention)))(x)));
        const asMap = (ts: tf.Tensor[]) => new Map(names.map((n, i) => [n, ts[i]!]));
        const w0 = names.map((n) => tf.tensor(init.get(n)!, shapes[n]));
        const analytic = tf.grads((...ts: tf.Tensor[]) => penalty(asMap(ts)))(w0);
        penalty(asMap(w0), recording);
        expect(masks.length).toBe(2); // keys and values
        const H = 1e-2;
        // P is a float32 sum, good to a few float32 epsilons of its size: so is a difference quotient, over H.
        const noise = (2e-7 * Math.abs(penalty(asMap(w0)).dataSync()[0]!)) / H;
        for (const [k, n] of names.entries()) {
          const base = init.get(n)!;
          // every entry of the small tensors, a spread of 8 of the larger ones
          const idx = base.length <= 8 ? Array.from(base, (_, i) => i) : Array.from({ length: 8 }, (_, j) => Math.floor((j * base.length) / 8) + (j % 3));
          const numeric = Array.from(idx, (i) => {
            const at = (d: number) => {
              const v = Float32Array.from(base);
              v[i]! += d;
              return penalty(asMap(names.map((m, j) => (j === k ? tf.tensor(v, shapes[m]) : w0[j]!))), frozen).dataSync()[0]!;
            };
            return (at(H) - at(-H)) / (2 * H);
          });
          const got = analytic[k]!.dataSync();
          const picked = Array.from(idx, (i) => got[i]!);
          const scale = Math.max(...numeric.map(Math.abs));
          expect(scale, n).toBeGreaterThan(10 * noise);
          let worst = 0;
          picked.forEach((v, j) => (worst = Math.max(worst, Math.abs(v - numeric[j]!))));
          expect(worst, `dP/d${n}: analytic ${picked.join(", ")}; differences ${numeric.join(", ")}`).toBeLessThanOrEqual(2e-2 * scale + noise);
        }
        for (const u of us.values()) u.dispose();
      });
    });
  });
}
