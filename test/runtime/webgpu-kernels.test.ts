import * as tf from "@tensorflow/tfjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { selectBackend } from "../../src/runtime/backend.ts";
import { FusedAdam } from "../../src/runtime/fused/index.ts";
import { powerStep64 } from "../../src/runtime/ops.ts";
import { grid, WORKGROUP } from "../../src/runtime/kernels/webgpu/program.ts";
import { skipNote, webgpuDevice } from "../webgpu.ts";

/**
 * ganc's WGSL kernels (src/runtime/kernels/webgpu/) on a real WebGPU device (Dawn; on machines without a GPU,
 * Chromium's SwiftShader): each against the stock kernels' chain it replaces on the same device, and against
 * float64 arithmetic in JavaScript.
 */
const gpu = webgpuDevice();
skipNote("ganc's webgpu kernels", gpu);

describe("grid", () => {
  it("covers every thread once, folding past 65,535 workgroups into a second dimension", () => {
    for (const n of [1, 255, 256, 257, 65535 * WORKGROUP, 65535 * WORKGROUP + 1, 3e8]) {
      const g = grid(n);
      expect(g.x).toBeLessThanOrEqual(65535);
      expect(g.y).toBeLessThanOrEqual(65535);
      expect(g.x * g.y * WORKGROUP).toBeGreaterThanOrEqual(n);
      // no whole row of workgroups is wasted
      expect((g.x * (g.y - 1)) * WORKGROUP).toBeLessThan(n);
    }
  });
});

const bitsOf = (x: number) => new Int32Array(new Float32Array([x]).buffer)[0]!;
/** Distance in float32 steps (same-sign values; counts across zero as the sum of both sides). */
const ulps = (a: number, b: number) => (Math.sign(a) === Math.sign(b) ? Math.abs(bitsOf(a) - bitsOf(b)) : Math.abs(bitsOf(Math.abs(a))) + Math.abs(bitsOf(Math.abs(b))));
const f32 = Math.fround;

/** The compute dispatches `f` records (Dawn's GPUComputePassEncoder, wrapped while it runs). */
function dispatches(f: () => void): number {
  const proto = (globalThis as unknown as { GPUComputePassEncoder: { prototype: { dispatchWorkgroups: (...a: unknown[]) => void } } }).GPUComputePassEncoder.prototype;
  const original = proto.dispatchWorkgroups;
  let n = 0;
  proto.dispatchWorkgroups = function (this: unknown, ...a: unknown[]) {
    n++;
    return original.apply(this, a);
  };
  try {
    f();
  } finally {
    proto.dispatchWorkgroups = original;
  }
  return n;
}

describe.skipIf(gpu.env === null)(`ganc's webgpu kernels (Dawn on ${gpu.adapter || "no adapter"})`, () => {
  beforeAll(async () => {
    Object.assign(process.env, gpu.env);
    await selectBackend("webgpu", { log: () => {} });
  }, 120_000);
  afterAll(() => tf.disposeVariables());

  it("GancAdam: FusedAdam as one dispatch a variable equals tf.train.adam's stock kernels, and float64 Adam to float32 rounding", async () => {
    const sizes = [1031, 7, 64 * 5 * 5 * 3, 1, 300];
    // magnitudes from 1e-15 to 1e15 (squares within float32's normal range, as float64 has them) and exact zeros,
    // where eps and sqrt matter
    const make = (seed: number) =>
      sizes.map((n, i) => {
        const raw = tf.mul(tf.randomUniform([n], -1, 1, "float32", seed + i), tf.pow(10, tf.round(tf.randomUniform([n], -15, 15, "float32", seed + 50 + i))));
        return tf.where(tf.less(tf.randomUniform([n], 0, 1, "float32", seed + 90 + i), 0.05), tf.zerosLike(raw), raw);
      });
    const inits = make(1);
    const a = inits.map((x, i) => tf.variable(x.clone(), true, `adam/a${i}`));
    const b = inits.map((x, i) => tf.variable(x.clone(), true, `adam/b${i}`));
    const [lr, b1, b2, eps] = [2e-4, 0.5, 0.999, 1e-8];
    const ref = tf.train.adam(lr, b1, b2, eps);
    const fused = new FusedAdam(lr, b1, b2, eps);
    // float64 Adam from the same float32 gradients and the float32 values of the constants and of the running
    // products beta^t, as tfjs holds them (1 - beta2^t from float32 0.999s differs from 1 - 0.999^t by 1e-5 of itself)
    const [B1, B2, C1, C2, EPS, LR] = [f32(b1), f32(b2), f32(1 - b1), f32(1 - b2), f32(eps), f32(lr)];
    let [acc1, acc2] = [B1, B2];
    const w64 = await Promise.all(inits.map(async (x) => Array.from(await x.data())));
    const m64 = w64.map((w) => w.map(() => 0));
    const v64 = w64.map((w) => w.map(() => 0));
    let kernels = -1;
    for (let t = 1; t <= 4; t++) {
      const gs = make(100 * t);
      ref.applyGradients(Object.fromEntries(gs.map((g, i) => [a[i]!.name, g])) as never);
      const step = () => fused.applyGradients(Object.fromEntries(gs.map((g, i) => [b[i]!.name, g])));
      if (t === 1) kernels = (await tf.profile(step)).kernels.length;
      // one dispatch a variable and one for the running products
      else expect(dispatches(step)).toBe(sizes.length + 1);
      for (const [i, g] of gs.entries()) {
        const gv = await g.data();
        for (let j = 0; j < gv.length; j++) {
          m64[i]![j] = m64[i]![j]! * B1 + gv[j]! * C1;
          v64[i]![j] = v64[i]![j]! * B2 + gv[j]! ** 2 * C2;
          w64[i]![j] = w64[i]![j]! - (LR * (m64[i]![j]! / (1 - acc1))) / (Math.sqrt(v64[i]![j]! / (1 - acc2)) + EPS);
        }
      }
      [acc1, acc2] = [f32(acc1 * B1), f32(acc2 * B2)];
      tf.dispose(gs);
    }
    expect(kernels).toBe(1);
    let differing = 0;
    for (const [i, w] of b.entries()) {
      const [got, stock] = [await w.data(), await a[i]!.data()];
      for (let j = 0; j < got.length; j++) {
        if (!Object.is(got[j], stock[j])) differing++;
        // each step moves w by about lr: the float32 answer is within a few roundings of the float64 one
        const scale = Math.max(Math.abs(w64[i]![j]!), 4 * lr);
        expect(Math.abs(got[j]! - w64[i]![j]!)).toBeLessThanOrEqual(1e-6 * scale);
      }
    }
    // every element through the same WGSL operations as the stock kernels; a compiler that fused a product into a sum would show here
    expect(differing).toBe(0);
    const products = (o: object) => (o as { accBeta1: tf.Variable; accBeta2: tf.Variable });
    expect([...(await products(fused).accBeta1.data()), ...(await products(fused).accBeta2.data())]).toEqual([acc1, acc2]);
    expect([...(await products(ref).accBeta1.data()), ...(await products(ref).accBeta2.data())]).toEqual([acc1, acc2]);
    tf.dispose(inits);
  });

  /** Per-channel float64 statistics of x [rows, cols]: the mean and the variance about it (two passes). */
  const stats64 = (x: Float32Array, rows: number, cols: number) => {
    const mean = new Float64Array(cols);
    const variance = new Float64Array(cols);
    for (let i = 0; i < x.length; i++) mean[i % cols]! += x[i]! / rows;
    for (let i = 0; i < x.length; i++) variance[i % cols]! += (x[i]! - mean[i % cols]!) ** 2 / rows;
    return { mean, variance };
  };
  const cases = [
    { shape: [4, 1024], gamma: true, beta: true, relu: false, into: false },
    { shape: [4, 14, 14, 64], gamma: true, beta: true, relu: true, into: true },
    { shape: [37, 5], gamma: false, beta: false, relu: false, into: true },
    { shape: [2, 3, 3, 17], gamma: true, beta: false, relu: true, into: false },
    { shape: [300, 1], gamma: false, beta: true, relu: false, into: false },
  ];

  it.each(cases)("GancBatchNormTrain on $shape (gamma $gamma, beta $beta, relu $relu): two dispatches, float64 statistics and y to float32 rounding, as the stock chain", async ({ shape, gamma, beta, relu }) => {
    const cols = shape[shape.length - 1]!;
    const rows = shape.reduce((a, b) => a * b, 1) / cols;
    const eps = 1e-3;
    // an offset per channel well above the spread: the variance must not come from E[x^2] - E[x]^2
    const x = tf.add(tf.randomNormal(shape, 0, 1, "float32", 7), tf.randomUniform([cols], -50, 50, "float32", 8));
    const scale = gamma ? tf.randomUniform([cols], 0.5, 2, "float32", 9) : undefined;
    const offset = beta ? tf.randomUniform([cols], -1, 1, "float32", 10) : undefined;
    const inputs: tf.NamedTensorMap = { x, ...(scale ? { scale } : {}), ...(offset ? { offset } : {}) };
    const attrs = { varianceEpsilon: eps, ...(relu ? { activation: "relu" } : {}) };
    let outs: tf.Tensor[] = [];
    expect(dispatches(() => (outs = tf.engine().runKernel("GancBatchNormTrain", inputs, attrs as unknown as tf.NamedAttrMap) as tf.Tensor[]))).toBe(2);
    const [y, mean, variance] = outs as [tf.Tensor, tf.Tensor, tf.Tensor];
    expect(y.shape).toEqual(shape);
    // the chain of stock kernels it replaces (src/layers/batchnorm.ts)
    const axes = shape.slice(0, -1).map((_, i) => i);
    const chainMean = tf.mean(x, axes);
    const chainVar = tf.mean(tf.square(tf.sub(x, chainMean)), axes);
    let chainY = tf.batchNorm(x, chainMean, chainVar, offset, scale, eps);
    if (relu) chainY = tf.relu(chainY);
    const xv = (await x.data()) as Float32Array;
    const s64 = stats64(xv, rows, cols);
    const [g, o] = [scale ? await scale.data() : null, offset ? await offset.data() : null];
    const [yv, mv, vv, cy, cm, cv] = await Promise.all([y, mean, variance, chainY, chainMean, chainVar].map((t) => t.data()));
    for (let c = 0; c < cols; c++) {
      // the mean to a few roundings of its size; the variance to a few roundings of the mean's size squared over
      // its own (the float32 mean's rounding moves it), both as the chain's
      for (const m of [mv[c]!, cm[c]!]) expect(Math.abs(m - s64.mean[c]!)).toBeLessThanOrEqual(1e-6 * (Math.abs(s64.mean[c]!) + 1));
      for (const v of [vv[c]!, cv[c]!]) expect(Math.abs(v - s64.variance[c]!)).toBeLessThanOrEqual(1e-5 * s64.variance[c]! + 1e-9 * s64.mean[c]! ** 2);
    }
    for (let i = 0; i < xv.length; i++) {
      const c = i % cols;
      let y64 = ((xv[i]! - s64.mean[c]!) / Math.sqrt(s64.variance[c]! + eps)) * (g ? g[c]! : 1) + (o ? o[c]! : 0);
      if (relu) y64 = Math.max(y64, 0);
      for (const got of [yv[i]!, cy[i]!]) expect(Math.abs(got - y64)).toBeLessThanOrEqual(2e-5 * (1 + Math.abs(y64)));
    }
    tf.dispose([x, ...(scale ? [scale] : []), ...(offset ? [offset] : []), ...outs, chainMean, chainVar, chainY]);
  });

  it.each(cases)("GancBatchNormGrad on $shape (gamma $gamma, into $into): three dispatches (two without dx), float64 dgamma, dbeta and dx to float32 rounding", async ({ shape, gamma, into }) => {
    const cols = shape[shape.length - 1]!;
    const rows = shape.reduce((a, b) => a * b, 1) / cols;
    const eps = 1e-3;
    const x = tf.add(tf.randomNormal(shape, 0, 1, "float32", 17), tf.randomUniform([cols], -50, 50, "float32", 18));
    const dy = tf.randomNormal(shape, 0, 1, "float32", 19);
    const gam = gamma ? tf.randomUniform([cols], 0.5, 2, "float32", 20) : undefined;
    const intoT = into ? tf.randomNormal(shape, 0, 1, "float32", 21) : undefined;
    const xv = (await x.data()) as Float32Array;
    const s64 = stats64(xv, rows, cols);
    // the float32 inputs the fused net hands it: the batch mean, r = rsqrt(var + eps) and mh = -0.5 r^3. The mean
    // here is off the batch's by 0.25, so that sum(x - mean) is not zero and the kernel's sum(xc * k) term shows
    // (about the batch mean it is rounding noise, in the chain as here)
    const meanV = Float32Array.from(s64.mean, (m) => m + 0.25);
    const rV = Float32Array.from(s64.variance, (v) => 1 / Math.sqrt(f32(v) + eps));
    const mhV = Float32Array.from(rV, (r) => -0.5 * r * r * r);
    const [mean, r, mh] = [meanV, rV, mhV].map((v) => tf.tensor1d(v));
    const inputs: tf.NamedTensorMap = { dy, x, mean: mean!, r: r!, mh: mh!, ...(gam ? { gamma: gam } : {}), ...(intoT ? { into: intoT } : {}) };
    for (const needDx of [true, false]) {
      let outs: tf.Tensor[] = [];
      // r and mh packed side by side, the per-channel sums, and dx
      expect(dispatches(() => (outs = tf.engine().runKernel("GancBatchNormGrad", inputs, { needDx } as unknown as tf.NamedAttrMap) as tf.Tensor[]))).toBe(needDx ? 3 : 2);
      expect(outs).toHaveLength(needDx ? 3 : 2);
      const [dgv, dbv, dxv] = await Promise.all(outs.map((t) => t.data()));
      const [dyv, gv, iv] = [await dy.data(), gam ? await gam.data() : null, intoT ? await intoT.data() : null];
      // float64 from the same float32 inputs, with the magnitudes of the summed terms for the tolerances
      const sum = (f: (i: number, c: number) => number) => {
        const s = new Float64Array(cols);
        const a = new Float64Array(cols);
        for (let i = 0; i < xv.length; i++) {
          const t = f(i, i % cols);
          s[i % cols]! += t;
          a[i % cols]! += Math.abs(t);
        }
        return { s, a };
      };
      const xc = (i: number, c: number) => xv[i]! - meanV[c]!;
      const dyg = (i: number, c: number) => dyv[i]! * (gv ? gv[c]! : 1);
      const dgamma = sum((i, c) => dyv[i]! * xc(i, c) * rV[c]!);
      const dbeta = sum((i) => dyv[i]!);
      const dvar = sum((i, c) => mhV[c]! * xc(i, c) * dyg(i, c));
      const sumR = sum((i, c) => rV[c]! * dyg(i, c));
      for (let c = 0; c < cols; c++) {
        expect(Math.abs(dgv![c]! - dgamma.s[c]!)).toBeLessThanOrEqual(1e-5 * dgamma.a[c]!);
        expect(Math.abs(dbv![c]! - dbeta.s[c]!)).toBeLessThanOrEqual(1e-5 * dbeta.a[c]!);
      }
      if (!needDx) continue;
      const k = Array.from(dvar.s, (v) => (v / rows) * 2);
      const kBound = Array.from(dvar.a, (v) => (v / rows) * 2);
      const sumDxc = sum((i, c) => xc(i, c) * k[c]!);
      for (let i = 0; i < xv.length; i++) {
        const c = i % cols;
        const dx3 = (sumR.s[c]! + sumDxc.s[c]!) / -rows;
        const dx64 = (iv ? iv[i]! : 0) + dyv[i]! * rV[c]! * (gv ? gv[c]! : 1) + xc(i, c) * k[c]! + dx3;
        // each term's size, and those of the sums behind k and dx3 (their float32 roundings reach every element)
        const size = (iv ? Math.abs(iv[i]!) : 0) + Math.abs(dyv[i]! * rV[c]! * (gv ? gv[c]! : 1)) + Math.abs(xc(i, c)) * kBound[c]! + (sumR.a[c]! + sumDxc.a[c]!) / rows;
        expect(Math.abs(dxv![i]! - dx64)).toBeLessThanOrEqual(1e-5 * size);
      }
      tf.dispose(outs);
    }
    tf.dispose([x, dy, mean!, r!, mh!, ...(gam ? [gam] : []), ...(intoT ? [intoT] : [])]);
  });

  const sameBits = async (got: tf.Tensor, want: tf.Tensor) => {
    const [g, w] = [await got.data(), await want.data()];
    expect(g.length).toBe(w.length);
    let differing = 0;
    for (let i = 0; i < g.length; i++) if (!Object.is(g[i], w[i])) differing++;
    expect(differing).toBe(0);
  };

  it("GancBnFactors: r = rsqrt(v + eps) and ((r * r) * r) * -0.5 per layer, the bits of the stock chain", async () => {
    const vs = [1031, 7, 64].map((n, i) => tf.mul(tf.randomUniform([n], 0, 1, "float32", 40 + i), tf.pow(10, tf.round(tf.randomUniform([n], -12, 12, "float32", 50 + i)))));
    vs[1] = tf.concat([tf.zeros([3]), vs[1]!.slice(3)]);
    const epsilons = [1e-5, 1e-3, 0.001];
    const outs = tf.engine().runKernel("GancBnFactors", Object.fromEntries(vs.map((v, i) => [`v${i}`, v])), { epsilons } as unknown as tf.NamedAttrMap) as tf.Tensor[];
    expect(outs).toHaveLength(6);
    for (const [i, v] of vs.entries()) {
      const r = tf.rsqrt(tf.add(v, tf.scalar(epsilons[i]!)));
      const mh = tf.mul(tf.mul(tf.mul(r, r), r), tf.scalar(-0.5));
      await sameBits(outs[i]!, r);
      await sameBits(outs[3 + i]!, mh);
      tf.dispose([r, mh]);
    }
    tf.dispose([...vs, ...outs]);
  });

  it("GancMovingAverages: moving * decay + batch * (1 - decay), once or twice, the bits of the stock chain", async () => {
    for (const times of [1, 2]) {
      const moving = [64, 64, 1024, 3].map((n, i) => tf.randomNormal([n], 0, 3, "float32", 60 + i));
      const batch = moving.map((m, i) => tf.randomNormal(m.shape, 1, 2, "float32", 70 + i));
      const decay = 0.99;
      const inputs = Object.fromEntries(moving.flatMap((m, i) => [[`moving${i}`, m], [`batch${i}`, batch[i]!]]));
      const outs = tf.engine().runKernel("GancMovingAverages", inputs, { count: moving.length, decay, times } as unknown as tf.NamedAttrMap) as tf.Tensor[];
      for (const [i, m] of moving.entries()) {
        const b = tf.mul(batch[i]!, tf.scalar(1 - decay));
        let next: tf.Tensor = m;
        for (let t = 0; t < times; t++) next = tf.add(tf.mul(next, tf.scalar(decay)), b);
        await sameBits(outs[i]!, next);
      }
      tf.dispose([...moving, ...batch, ...outs]);
    }
  });

  it.each([
    [288, 32],
    [2304, 256],
    [7, 300],
    [1, 1],
  ])("GancPowerStep on w [%i, %i]: one dispatch, float64's power step to float32 rounding", async (n, out) => {
    const w = tf.randomNormal([n, out], 0, 0.1, "float32", 80);
    const u = tf.randomNormal([1, out], 0, 1, "float32", 81);
    const k = tf.getKernel("GancPowerStep", "webgpu")!;
    let infos: tf.TensorInfo[] = [];
    expect(dispatches(() => (infos = k.kernelFunc({ inputs: { w, u }, backend: tf.backend(), attrs: {} }) as tf.TensorInfo[]))).toBe(1);
    const [v, un, vw] = infos.map((i) => tf.engine().makeTensorFromTensorInfo(i));
    expect(v!.shape).toEqual([1, n]);
    expect(un!.shape).toEqual([1, out]);
    expect(vw!.shape).toEqual([1, out]);
    const wv = await w.data();
    const want = powerStep64(wv, n, out, await u.data());
    const [gv, gu, gvw] = [await v!.data(), await un!.data(), await vw!.data()];
    // unit vectors: each entry within float32 rounding of a sum of n (or out) terms
    for (let i = 0; i < n; i++) expect(Math.abs(gv[i]! - want.v[i]!)).toBeLessThanOrEqual(2e-6);
    for (let j = 0; j < out; j++) expect(Math.abs(gu[j]! - want.u[j]!)).toBeLessThanOrEqual(2e-6);
    // v w, from the kernel's own (float32) v, in float64, against the size of its terms
    for (let j = 0; j < out; j++) {
      let s = 0;
      let a = 0;
      for (let i = 0; i < n; i++) {
        s += gv[i]! * wv[i * out + j]!;
        a += Math.abs(gv[i]! * wv[i * out + j]!);
      }
      expect(Math.abs(gvw[j]! - s)).toBeLessThanOrEqual(1e-6 * a);
    }
    tf.dispose([w, u, v!, un!, vw!]);
  });

  it("GancSnNormalize and GancSnGrad: kernel / sigma, and the gradient's parts, to float64 within float32 rounding; dW the bits of the stock outer product", async () => {
    const [n, out] = [3 * 3 * 32, 64];
    const kernel = tf.randomNormal([3, 3, 32, out], 0, 0.1, "float32", 90);
    const s = tf.randomNormal([1, out], 0, 1, "float32", 91);
    const un = tf.randomNormal([1, out], 0, 1, "float32", 92);
    const dy = tf.randomNormal([3, 3, 32, out], 0, 1, "float32", 93);
    let outs: tf.Tensor[] = [];
    expect(dispatches(() => (outs = tf.engine().runKernel("GancSnNormalize", { kernel, s, un }, {}) as tf.Tensor[]))).toBe(1);
    const [normalized, sigma] = outs as [tf.Tensor, tf.Tensor];
    expect(normalized.shape).toEqual(kernel.shape);
    expect(sigma.shape).toEqual([]);
    const [kv, sv, uv, dv] = await Promise.all([kernel, s, un, dy].map((t) => t.data()));
    let sg64 = 0;
    let sgAbs = 0;
    for (let j = 0; j < out; j++) {
      sg64 += sv[j]! * uv[j]!;
      sgAbs += Math.abs(sv[j]! * uv[j]!);
    }
    const sg = (await sigma.data())[0]!;
    expect(Math.abs(sg - sg64)).toBeLessThanOrEqual(1e-6 * sgAbs);
    const nv = await normalized.data();
    // against float64 division by the kernel's own float32 sigma: one rounding (WGSL allows 2.5 ulps)
    for (let i = 0; i < nv.length; i++) expect(Math.abs(nv[i]! - kv[i]! / sg)).toBeLessThanOrEqual(3e-7 * Math.abs(kv[i]! / sg));
    const vv = tf.randomNormal([1, n], 0, 0.1, "float32", 94);
    let gOuts: tf.Tensor[] = [];
    expect(dispatches(() => (gOuts = tf.engine().runKernel("GancSnGrad", { dy, kernel, sigma, un, vv }, {}) as tf.Tensor[]))).toBe(2);
    const [dA, dVW, dW] = gOuts as [tf.Tensor, tf.Tensor, tf.Tensor];
    expect(dA.shape).toEqual(dy.shape);
    expect(dVW.shape).toEqual([1, out]);
    expect(dW.shape).toEqual(kernel.shape);
    let t64 = 0;
    let tAbs = 0;
    for (let i = 0; i < n * out; i++) {
      t64 += dv[i]! * kv[i]!;
      tAbs += Math.abs(dv[i]! * kv[i]!);
    }
    const dSigma64 = -(t64 / (sg * sg));
    const [av, wv] = [await dA.data(), await dVW.data()];
    for (let i = 0; i < av.length; i++) expect(Math.abs(av[i]! - dv[i]! / sg)).toBeLessThanOrEqual(3e-7 * Math.abs(dv[i]! / sg));
    for (let j = 0; j < out; j++) expect(Math.abs(wv[j]! - dSigma64 * uv[j]!)).toBeLessThanOrEqual(1e-6 * (tAbs / (sg * sg)) * Math.abs(uv[j]!));
    // dW = v^T d(v W): one product per element, of the float32 operands, rounded once (what a k = 1 matMul gives)
    const [vvv, dwv] = [await vv.data(), await dW.data()];
    let differing = 0;
    for (let i = 0; i < n * out; i++) if (!Object.is(dwv[i], f32(vvv[Math.floor(i / out)]! * wv[i % out]!))) differing++;
    expect(differing).toBe(0);
    const stockDW = tf.matMul(vv, dVW, true, false);
    await sameBits(tf.reshape(dW, [n, out]), stockDW);
    // with `sum` (webgpu's fused nets): the kernel's one gradient dA + dW, each the same as apart, added once
    let sOuts: tf.Tensor[] = [];
    expect(dispatches(() => (sOuts = tf.engine().runKernel("GancSnGrad", { dy, kernel, sigma, un, vv }, { sum: true }) as tf.Tensor[]))).toBe(2);
    expect(sOuts).toHaveLength(2);
    await sameBits(sOuts[1]!, dVW);
    const [dkv, dav] = [await sOuts[0]!.data(), await dA.data()];
    differing = 0;
    for (let i = 0; i < n * out; i++) if (!Object.is(dkv[i], f32(dav[i]! + dwv[i]!))) differing++;
    expect(differing).toBe(0);
    tf.dispose(sOuts);
    tf.dispose([kernel, s, un, dy, vv, stockDW, ...outs, ...gOuts]);
  });

  it.each([
    [[4, 1024], false],
    [[4, 7, 7, 128], true],
    [[64, 1], false],
    [[3, 5, 17], false],
  ])("Sum and Mean over every axis but the last of %j (keepDims %s): one dispatch, float64 to float32 rounding; other axes to the stock kernel", async (shape, keepDims) => {
    const x = tf.add(tf.randomNormal(shape, 0, 1, "float32", 100), tf.randomUniform([shape[shape.length - 1]!], -20, 20, "float32", 101));
    const axes = shape.slice(0, -1).map((_, i) => i);
    const cols = shape[shape.length - 1]!;
    const rows = x.size / cols;
    const xv = await x.data();
    const sum64 = new Float64Array(cols);
    const abs64 = new Float64Array(cols);
    for (let i = 0; i < xv.length; i++) {
      sum64[i % cols]! += xv[i]!;
      abs64[i % cols]! += Math.abs(xv[i]!);
    }
    for (const kind of ["Sum", "Mean"] as const) {
      let y: tf.Tensor | null = null;
      expect(dispatches(() => (y = kind === "Sum" ? tf.sum(x, axes, keepDims) : tf.mean(x, axes, keepDims)))).toBe(1);
      expect(y!.shape).toEqual(keepDims ? shape.map((d, i) => (i < shape.length - 1 ? 1 : d)) : [cols]);
      const yv = await y!.data();
      const div = kind === "Mean" ? rows : 1;
      for (let c = 0; c < cols; c++) expect(Math.abs(yv[c]! - sum64[c]! / div)).toBeLessThanOrEqual((1e-6 * abs64[c]!) / div);
      tf.dispose(y!);
    }
    // the last axis, or all of them, is the stock kernel's (a transpose first where it needs one)
    const rowSums = tf.sum(x, -1);
    const rv = await rowSums.data();
    for (let r = 0; r < rows; r++) {
      let want = 0;
      for (let c = 0; c < cols; c++) want += xv[r * cols + c]!;
      expect(Math.abs(rv[r]! - want)).toBeLessThanOrEqual(1e-5 * (Math.abs(want) + cols));
    }
    tf.dispose([x, rowSums]);
  });

  it("GancReluGrad: dy * step(y, alpha) in one dispatch, the bits of the stock Step and Multiply, NaN kept", async () => {
    const y = tf.concat([tf.randomNormal([5000], 0, 1, "float32", 30), tf.tensor1d([0, -0, NaN, Infinity, -Infinity])]);
    const dy = tf.randomNormal([5005], 0, 1, "float32", 31);
    for (const alpha of [0, 0.2]) {
      const got = tf.engine().runKernel("GancReluGrad", { dy, y }, { alpha } as unknown as tf.NamedAttrMap) as tf.Tensor;
      const stock = tf.mul(dy, tf.step(y, alpha));
      const [g, s] = [await got.data(), await stock.data()];
      let differing = 0;
      for (let i = 0; i < g.length; i++) if (!Object.is(g[i], s[i])) differing++;
      expect(differing).toBe(0);
      expect(Number.isNaN(g[5002])).toBe(true);
      tf.dispose([got, stock]);
    }
    tf.dispose([y, dy]);
  });
});
