import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-wasm";
import { beforeAll, describe, expect, it } from "vitest";
import { loadBlas, loadDnnl, registerTrainingKernels, trainingKernelNames, type Blas, type Dnnl } from "../../src/runtime/kernels/index.ts";
import { convChunkRows, convTuning } from "../../src/runtime/kernels/blas_kernels.ts";
import { probeMlas } from "../../src/runtime/kernels/mlas.ts";

// The wasm kernels are tested three times: pure (what every machine gets), with the native BLAS (what
// machines with OpenBLAS get), and with the BLAS and oneDNN's convolutions (machines with libdnnl2 too).
// The last two are skipped, saying why, where their libraries are missing.
const blasResult = loadBlas();
const blasOrFalse: Blas | false = blasResult.ok ? blasResult.blas : false;
if (!blasResult.ok) console.warn(`kernels.test: BLAS kernels not tested: ${blasResult.reason}`);
const dnnlResult = loadDnnl();
const dnnlOrFalse: Dnnl | false = dnnlResult.ok ? dnnlResult.dnnl : false;
if (!dnnlResult.ok) console.warn(`kernels.test: oneDNN convolutions not tested: ${dnnlResult.reason}`);
// And a fourth time with MLAS (onnxruntime-node) as the BLAS: what machines without a system BLAS get.
const mlasResult = probeMlas(process.env);
const mlasOrFalse: Blas | false = mlasResult.ok ? mlasResult.blas : false;
if (!mlasResult.ok) console.warn(`kernels.test: BLAS kernels on MLAS not tested: ${mlasResult.reason}`);

// ---------------------------------------------------------------------------------------------
// float64 references, written from the definition of the forward convolution (TF conventions)

type Pad = "same" | "valid" | [[0, 0], [number, number], [number, number], [0, 0]];

/** Output size and leading pad along one axis, computed independently of tfjs. */
function axis(size: number, k: number, s: number, pad: Pad, dim: 1 | 2): { out: number; before: number } {
  if (pad === "same") {
    const out = Math.ceil(size / s);
    return { out, before: Math.floor(Math.max((out - 1) * s + k - size, 0) / 2) };
  }
  if (pad === "valid") return { out: Math.ceil((size - k + 1) / s), before: 0 };
  const [before, after] = pad[dim];
  return { out: Math.floor((size + before + after - k) / s) + 1, before };
}

interface ConvCase {
  name: string;
  x: [number, number, number, number];
  k: [number, number];
  cout: number;
  strides: [number, number];
  pad: Pad;
}

function geometry(c: ConvCase) {
  const [n, h, w, cin] = c.x;
  const ah = axis(h, c.k[0], c.strides[0], c.pad, 1);
  const aw = axis(w, c.k[1], c.strides[1], c.pad, 2);
  return { n, h, w, cin, oh: ah.out, ow: aw.out, top: ah.before, left: aw.before };
}

/** Calls f(n, oh, ow, kh, kw, i, j) for every tap of the forward conv that reads a real pixel x[n,i,j]. */
function forEachTap(c: ConvCase, f: (n: number, oh: number, ow: number, kh: number, kw: number, i: number, j: number) => void) {
  const g = geometry(c);
  for (let n = 0; n < g.n; n++)
    for (let oh = 0; oh < g.oh; oh++)
      for (let ow = 0; ow < g.ow; ow++)
        for (let kh = 0; kh < c.k[0]; kh++)
          for (let kw = 0; kw < c.k[1]; kw++) {
            const i = oh * c.strides[0] + kh - g.top;
            const j = ow * c.strides[1] + kw - g.left;
            if (i >= 0 && i < g.h && j >= 0 && j < g.w) f(n, oh, ow, kh, kw, i, j);
          }
}

function refBackpropFilter(c: ConvCase, x: Float32Array, dy: Float32Array): Float64Array {
  const { h, w, cin, oh: OH, ow: OW } = geometry(c);
  const { cout } = c;
  const dw = new Float64Array(c.k[0] * c.k[1] * cin * cout);
  forEachTap(c, (n, oh, ow, kh, kw, i, j) => {
    for (let ci = 0; ci < cin; ci++) {
      const xv = x[((n * h + i) * w + j) * cin + ci]!;
      for (let co = 0; co < cout; co++) {
        dw[((kh * c.k[1] + kw) * cin + ci) * cout + co]! += xv * dy[((n * OH + oh) * OW + ow) * cout + co]!;
      }
    }
  });
  return dw;
}

function refBackpropInput(c: ConvCase, dy: Float32Array, filter: Float32Array): Float64Array {
  const { n: N, h, w, cin, oh: OH, ow: OW } = geometry(c);
  const { cout } = c;
  const dx = new Float64Array(N * h * w * cin);
  forEachTap(c, (n, oh, ow, kh, kw, i, j) => {
    for (let ci = 0; ci < cin; ci++) {
      let acc = 0;
      for (let co = 0; co < cout; co++) {
        acc += dy[((n * OH + oh) * OW + ow) * cout + co]! * filter[((kh * c.k[1] + kw) * cin + ci) * cout + co]!;
      }
      dx[((n * h + i) * w + j) * cin + ci]! += acc;
    }
  });
  return dx;
}

function refConv(c: ConvCase, x: Float32Array, filter: Float32Array): Float64Array {
  const { n: N, h, w, cin, oh: OH, ow: OW } = geometry(c);
  const { cout } = c;
  const y = new Float64Array(N * OH * OW * cout);
  forEachTap(c, (n, oh, ow, kh, kw, i, j) => {
    for (let ci = 0; ci < cin; ci++) {
      const xv = x[((n * h + i) * w + j) * cin + ci]!;
      for (let co = 0; co < cout; co++) {
        y[((n * OH + oh) * OW + ow) * cout + co]! += xv * filter[((kh * c.k[1] + kw) * cin + ci) * cout + co]!;
      }
    }
  });
  return y;
}

function refMatMul(a: Float32Array, aShape: number[], b: Float32Array, bShape: number[], tA: boolean, tB: boolean) {
  // rank-3 only, batch dims equal or 1 (broadcast)
  const [ba, a1, a2] = aShape as [number, number, number];
  const [bb, b1, b2] = bShape as [number, number, number];
  const [m, k] = tA ? [a2, a1] : [a1, a2];
  const nn = tB ? b1 : b2;
  const batch = Math.max(ba, bb);
  const out = new Float64Array(batch * m * nn);
  for (let t = 0; t < batch; t++) {
    const ao = (ba === 1 ? 0 : t) * a1 * a2;
    const bo = (bb === 1 ? 0 : t) * b1 * b2;
    for (let i = 0; i < m; i++)
      for (let j = 0; j < nn; j++) {
        let acc = 0;
        for (let q = 0; q < k; q++) {
          const av = tA ? a[ao + q * a2 + i]! : a[ao + i * a2 + q]!;
          const bv = tB ? b[bo + j * b2 + q]! : b[bo + q * b2 + j]!;
          acc += av * bv;
        }
        out[(t * m + i) * nn + j] = acc;
      }
  }
  return out;
}

/** max |actual - expected| / max |expected|: relative to the result's scale, not per element. */
function relError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  expect(actual.length).toBe(expected.length);
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < expected.length; i++) {
    diff = Math.max(diff, Math.abs(actual[i]! - expected[i]!));
    scale = Math.max(scale, Math.abs(expected[i]!));
  }
  return diff / scale;
}

function random(seed: number): (n: number) => Float32Array {
  let s = seed >>> 0;
  return (n) => {
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      s = (s + 0x6d2b79f5) >>> 0;
      let t = Math.imul(s ^ (s >>> 15), 1 | s);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      out[i] = ((t ^ (t >>> 14)) >>> 0) / 2 ** 31 - 1;
    }
    return out;
  };
}

const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

// strides 1/2 x kernels 3/4/5 x same/valid, odd and even, non-square images, batch 1-3; plus odd ones.
const convCases: ConvCase[] = [];
{
  let i = 0;
  for (const s of [1, 2])
    for (const k of [3, 4, 5])
      for (const pad of ["same", "valid"] as const) {
        const x: ConvCase["x"] = [1 + (i % 3), 7 + (i % 4), 6 + ((3 * i) % 5), 1 + (i % 3)];
        convCases.push({ name: `s${s} k${k} ${pad} x=${x.join("x")}`, x, k: [k, k], cout: 2 + (i % 4), strides: [s, s], pad });
        i++;
      }
  convCases.push(
    { name: "s3 k4 same x=2x10x11x2", x: [2, 10, 11, 2], k: [4, 4], cout: 3, strides: [3, 3], pad: "same" },
    { name: "s2x1 k3x5 same x=2x9x8x3", x: [2, 9, 8, 3], k: [3, 5], cout: 2, strides: [2, 1], pad: "same" },
    { name: "s2 k1 valid x=1x7x6x2", x: [1, 7, 6, 2], k: [1, 1], cout: 3, strides: [2, 2], pad: "valid" },
    { name: "s2 k3 explicit pads x=2x8x9x2", x: [2, 8, 9, 2], k: [3, 3], cout: 3, strides: [2, 2], pad: [[0, 0], [1, 2], [0, 1], [0, 0]] },
    { name: "s2 k4 same seed-GAN-like x=3x14x14x8", x: [3, 14, 14, 8], k: [4, 4], cout: 16, strides: [2, 2], pad: "same" },
    // the BLAS kernels' paths: few output channels (toRGB-like), the input gradient as a conv of dy
    // with the flipped filter (stride 1, 8+ input channels), pointwise, padding past the filter
    { name: "s1 k3 same few outputs x=2x9x7x12", x: [2, 9, 7, 12], k: [3, 3], cout: 3, strides: [1, 1], pad: "same" },
    { name: "s1 k3 valid few outputs batch 1 x=1x8x9x10", x: [1, 8, 9, 10], k: [3, 3], cout: 2, strides: [1, 1], pad: "valid" },
    { name: "s1 k3 same batch 1 odd x=1x7x5x9", x: [1, 7, 5, 9], k: [3, 3], cout: 9, strides: [1, 1], pad: "same" },
    { name: "s1 k4 same even kernel x=2x8x8x9", x: [2, 8, 8, 9], k: [4, 4], cout: 10, strides: [1, 1], pad: "same" },
    { name: "s1 k1 same pointwise x=2x5x5x4", x: [2, 5, 5, 4], k: [1, 1], cout: 3, strides: [1, 1], pad: "same" },
    { name: "s2 k3 same few outputs x=2x9x9x10", x: [2, 9, 9, 10], k: [3, 3], cout: 3, strides: [2, 2], pad: "same" },
    { name: "s1 k3 pads past the filter x=2x6x7x9", x: [2, 6, 7, 9], k: [3, 3], cout: 4, strides: [1, 1], pad: [[0, 0], [3, 1], [0, 2], [0, 0]] },
    // 32 and 64 output channels: oneDNN's forward and filter-gradient layouts are then HWIO's own bytes on
    // AVX-512 (Acdb32a, Acdb64a), and the primitive reads and writes the filter where it lies (dnnl.ts, isCopy)
    { name: "s1 k3 same 32 channels x=2x6x6x32", x: [2, 6, 6, 32], k: [3, 3], cout: 32, strides: [1, 1], pad: "same" },
    { name: "s1 k1 same 64 channels x=2x4x4x16", x: [2, 4, 4, 16], k: [1, 1], cout: 64, strides: [1, 1], pad: "same" },
  );
}

function runConvKernels(c: ConvCase, seed: number) {
  const rand = random(seed);
  const g = geometry(c);
  const xData = rand(size(c.x));
  const filterShape: [number, number, number, number] = [c.k[0], c.k[1], g.cin, c.cout];
  const fData = rand(size(filterShape));
  const dyShape = [g.n, g.oh, g.ow, c.cout];
  const dyData = rand(size(dyShape));
  const attrs = { strides: c.strides, pad: c.pad, dataFormat: "NHWC" } as unknown as tf.NamedAttrMap;
  const [y, dw, dx] = tf.tidy(() => {
    const x = tf.tensor4d(xData, c.x);
    const dy = tf.tensor(dyData, dyShape);
    const filter = tf.tensor4d(fData, filterShape);
    return [
      tf.engine().runKernel(tf.Conv2D, { x, filter }, { ...attrs, dilations: [1, 1] }) as tf.Tensor,
      tf.engine().runKernel(tf.Conv2DBackpropFilter, { x, dy }, { ...attrs, filterShape }) as tf.Tensor,
      tf.engine().runKernel(tf.Conv2DBackpropInput, { dy, filter }, { ...attrs, inputShape: c.x }) as tf.Tensor,
    ];
  });
  const result = {
    y: y!.dataSync() as Float32Array,
    yRef: refConv(c, xData, fData),
    dw: dw!.dataSync() as Float32Array,
    dx: dx!.dataSync() as Float32Array,
    dwRef: refBackpropFilter(c, xData, dyData),
    dxRef: refBackpropInput(c, dyData, fData),
  };
  tf.dispose([y!, dw!, dx!]);
  return result;
}

const TOL = 1e-4;

const configs = [
  { label: "", blas: false, dnnl: false },
  { label: " on the native BLAS", blas: blasOrFalse, dnnl: false },
  { label: " on the native BLAS with oneDNN's convolutions", blas: blasOrFalse, dnnl: dnnlOrFalse },
  { label: " on MLAS", blas: mlasOrFalse, dnnl: false },
] as const;
for (const [index, config] of configs.entries()) {
const withBlas = index > 0;
const withDnnl = index === 2;
describe.skipIf((withBlas && !config.blas) || (withDnnl && !config.dnnl))(`wasm training kernels${config.label}`, () => {
  const opts = { blas: config.blas, dnnl: config.dnnl };
  beforeAll(async () => {
    expect(await tf.setBackend("wasm")).toBe(true);
    expect(registerTrainingKernels("wasm", opts)).toEqual(trainingKernelNames("wasm", opts));
    const expected = [tf.Conv2DBackpropFilter, tf.Conv2DBackpropInput, tf.BatchMatMul, tf._FusedMatMul, tf.SplitV, "GancAdam", "GancBnFactors", "GancMovingAverages", tf.Sum, tf.Mean, tf.FusedBatchNorm, "GancBatchNormTrain", "GancBatchNormGrad", "GancReluGrad", "GancPowerStep", tf.Exp, tf.ResizeNearestNeighbor, tf.Tile, tf.Greater, tf.Select, tf.Identity, tf.Cast, "GancMaxPool2Index", "GancMaxPool2", "GancMaxPool2Grad", "GancSoftmax", "GancSoftmaxGrad", "GancSnNormalize", "GancSnGrad"];
    if (withBlas) expected.push(tf.Conv2D, tf.FusedConv2D);
    expect(trainingKernelNames("wasm", opts)).toEqual(expected);
  });

  it("registration is idempotent and keeps the same kernels", () => {
    const before = trainingKernelNames("wasm", opts).map((k) => tf.getKernel(k, "wasm")!.kernelFunc);
    expect(registerTrainingKernels("wasm", opts)).toEqual(trainingKernelNames("wasm", opts));
    const after = trainingKernelNames("wasm", opts).map((k) => tf.getKernel(k, "wasm")!.kernelFunc);
    expect(after).toEqual(before);
  });

  convCases.forEach((c, i) => {
    it(`Conv2D / Conv2DBackpropFilter / Conv2DBackpropInput match float64: ${c.name}`, () => {
      const r = runConvKernels(c, 100 + i);
      expect(relError(r.y, r.yRef)).toBeLessThan(TOL);
      expect(relError(r.dw, r.dwRef)).toBeLessThan(TOL);
      expect(relError(r.dx, r.dxRef)).toBeLessThan(TOL);
    });
  });

  if (withBlas && !withDnnl) {
    it("the largest convolutions of the reduced sngan_resnet run in several chunks", () => {
      // [16,32,32,64] x 3x3x64x64: M = 16384 output pixels, K = 576
      expect(Math.ceil(16384 / convChunkRows(16384, 576, 64))).toBeGreaterThanOrEqual(4);
      // its input gradient at 32 channels as a conv of dy: K = 9 * 32
      expect(Math.ceil(16384 / convChunkRows(16384, 288, 32))).toBeGreaterThanOrEqual(2);
    });

    // Chunks made small so that these shapes are cut into many: each kernel's chunks must add up
    // to the float64 result, including the filter gradients' sums over chunks (beta = 1).
    const chunked: ConvCase[] = [
      { name: "tiled fwd/dW, dx as a conv of dy x=3x13x11x10", x: [3, 13, 11, 10], k: [3, 3], cout: 12, strides: [1, 1], pad: "same" },
      { name: "few outputs, dW over chunks of input pixels x=2x9x10x10", x: [2, 9, 10, 10], k: [3, 3], cout: 3, strides: [1, 1], pad: "same" },
      { name: "stride 2: tiled fwd/dW, dx by col2im x=2x11x9x6", x: [2, 11, 9, 6], k: [3, 3], cout: 5, strides: [2, 2], pad: "same" },
      { name: "valid x=3x10x12x9", x: [3, 10, 12, 9], k: [3, 3], cout: 10, strides: [1, 1], pad: "valid" },
      { name: "odd sizes for the transposed product's edges x=2x7x9x13", x: [2, 7, 9, 13], k: [3, 3], cout: 11, strides: [1, 1], pad: "same" },
      { name: "uneven explicit pads, even kernel x=2x8x9x10", x: [2, 8, 9, 10], k: [4, 3], cout: 6, strides: [1, 1], pad: [[0, 0], [2, 0], [0, 2], [0, 0]] },
    ];
    // Each in the three forms of the product: Y = cols . W, and Y^T = W^T . cols^T transposed back
    // (convTransposed; chunks of odd row counts and channel counts not a multiple of 4 reach the edges of
    // ganc.wat's 4x4 transpose), and one product per filter tap over the zero-padded input (convByTaps,
    // for the stride-1 forward passes and input gradients; odd widths reach the strided transpose's edges).
    const NEVER = 1 << 30;
    const forms = [
      { form: "plain product", transposedMaxCout: 0, transposedMinK: 0, tapsMinCin: NEVER, tapsMinPixels: NEVER },
      { form: "transposed product", transposedMaxCout: NEVER, transposedMinK: 0, tapsMinCin: NEVER, tapsMinPixels: NEVER },
      { form: "products per tap", transposedMaxCout: NEVER, transposedMinK: 0, tapsMinCin: 0, tapsMinPixels: 0 },
    ];
    chunked.flatMap((c) => forms.map((f) => ({ c, f }))).forEach(({ c, f }, i) => {
      it(`chunked, ${f.form}: ${c.name}`, () => {
        const saved = { ...convTuning };
        convTuning.chunkFloats = 512;
        convTuning.minProduct = 0;
        convTuning.transposedMaxCout = f.transposedMaxCout;
        convTuning.transposedMinK = f.transposedMinK;
        convTuning.tapsMinCin = f.tapsMinCin;
        convTuning.tapsMinPixels = f.tapsMinPixels;
        try {
          const g = geometry(c);
          const K = c.k[0] * c.k[1] * g.cin;
          const M = g.n * g.oh * g.ow;
          const P = g.n * g.h * g.w;
          expect(M / convChunkRows(M, K, c.cout)).toBeGreaterThan(3);
          expect(P / convChunkRows(P, c.k[0] * c.k[1] * c.cout, g.cin)).toBeGreaterThan(3);
          const r = runConvKernels(c, 300 + i);
          expect(relError(r.y, r.yRef)).toBeLessThan(TOL);
          expect(relError(r.dw, r.dwRef)).toBeLessThan(TOL);
          expect(relError(r.dx, r.dxRef)).toBeLessThan(TOL);
        } finally {
          Object.assign(convTuning, saved);
        }
      });
    });
  }

  const matmulCases: Array<{ a: number[]; b: number[]; tA: boolean; tB: boolean; note: string }> = [
    { a: [1, 6, 5], b: [1, 6, 4], tA: true, tB: false, note: "dW of a dense layer" },
    { a: [1, 4, 16], b: [1, 64, 16], tA: false, tB: true, note: "dx of a wide dense layer (swapped form)" },
    { a: [1, 8, 64], b: [1, 8, 3], tA: true, tB: false, note: "tall dW (plain form)" },
    { a: [1, 5, 9], b: [1, 11, 9], tA: false, tB: true, note: "square-ish dx (plain form)" },
    { a: [3, 7, 5], b: [3, 4, 7], tA: true, tB: true, note: "batched, both transposed" },
    { a: [1, 6, 5], b: [3, 6, 4], tA: true, tB: false, note: "broadcast batch" },
    { a: [2, 5, 7], b: [2, 7, 3], tA: false, tB: false, note: "no transpose (stock path)" },
  ];
  matmulCases.forEach((c, i) => {
    it(`BatchMatMul tA=${c.tA} tB=${c.tB} ${c.a.join("x")} . ${c.b.join("x")}: ${c.note}`, () => {
      const rand = random(7 + i);
      const aData = rand(size(c.a));
      const bData = rand(size(c.b));
      const out = tf.tidy(() =>
        tf.matMul(tf.tensor3d(aData, c.a as [number, number, number]), tf.tensor3d(bData, c.b as [number, number, number]), c.tA, c.tB).dataSync(),
      );
      expect(relError(out, refMatMul(aData, c.a, bData, c.b, c.tA, c.tB))).toBeLessThan(TOL);
    });
  });

  it("2-D and 4-D matMul keep their shapes", () => {
    tf.tidy(() => {
      expect(tf.matMul(tf.ones([3, 5]), tf.ones([4, 5]), false, true).shape).toEqual([3, 4]);
      const y = tf.matMul(tf.ones([2, 3, 6, 5]), tf.ones([2, 3, 6, 4]), true, false);
      expect(y.shape).toEqual([2, 3, 5, 4]);
      expect(Array.from(y.dataSync()).every((v) => v === 6)).toBe(true);
    });
  });

  it("dilated Conv2D matches float64", () => {
    const rand = random(31);
    const x = rand(2 * 11 * 10 * 3);
    const f = rand(3 * 3 * 3 * 4);
    const y = tf.tidy(() =>
      tf.conv2d(tf.tensor4d(x, [2, 11, 10, 3]), tf.tensor4d(f, [3, 3, 3, 4]), 1, "same", "NHWC", [2, 3]).dataSync(),
    );
    // dilation (2, 3) with 'same' padding: taps at rows i + 2(kh-1), columns j + 3(kw-1)
    const ref = new Float64Array(2 * 11 * 10 * 4);
    for (let n = 0; n < 2; n++)
      for (let i = 0; i < 11; i++)
        for (let j = 0; j < 10; j++)
          for (let kh = 0; kh < 3; kh++)
            for (let kw = 0; kw < 3; kw++) {
              const r = i + 2 * (kh - 1);
              const q = j + 3 * (kw - 1);
              if (r < 0 || r >= 11 || q < 0 || q >= 10) continue;
              for (let ci = 0; ci < 3; ci++)
                for (let co = 0; co < 4; co++)
                  ref[((n * 11 + i) * 10 + j) * 4 + co]! += x[((n * 11 + r) * 10 + q) * 3 + ci]! * f[((kh * 3 + kw) * 3 + ci) * 4 + co]!;
            }
    expect(relError(y, ref)).toBeLessThan(TOL);
  });

  for (const activation of ["linear", "relu", "leakyrelu", "sigmoid", "elu", "relu6"] as const) {
    // With the BLAS, bias and activation are the backend's own kernels after the product: equal bit
    // for bit. Stock wasm's fused conv (XNNPACK) starts its sums from the bias, and so may oneDNN's
    // (it adds the bias inside the convolution: on AVX2 its kernels start from it): equal to rounding.
    const bitForBit = withBlas && !withDnnl;
    it(`fused matMul and conv2d with bias and ${activation} equal the unfused ops${bitForBit ? " bit for bit" : " to rounding"}`, () => {
      const rand = random(activation.length * 17);
      tf.tidy(() => {
        const a = tf.tensor2d(rand(6 * 9), [6, 9]);
        const w = tf.tensor2d(rand(5 * 9), [5, 9]);
        const bias = tf.tensor1d(rand(5));
        const x = tf.tensor4d(rand(2 * 6 * 5 * 3), [2, 6, 5, 3]);
        const f = tf.tensor4d(rand(3 * 3 * 3 * 5), [3, 3, 3, 5]);
        const unfused = (y: tf.Tensor): tf.Tensor => {
          const z = tf.add(y, bias);
          if (activation === "linear") return z;
          if (activation === "leakyrelu") return tf.leakyRelu(z, 0.3);
          return tf[activation](z);
        };
        const dense = tf.fused.matMul({ a, b: w, transposeB: true, bias, activation, leakyreluAlpha: 0.3 });
        expect(Array.from(dense.dataSync())).toEqual(Array.from(unfused(tf.matMul(a, w, false, true)).dataSync()));
        const conv = tf.fused.conv2d({ x, filter: f, strides: 2, pad: "same", bias, activation, leakyreluAlpha: 0.3 });
        const convRef = unfused(tf.conv2d(x, f, 2, "same")).dataSync();
        if (bitForBit) expect(Array.from(conv.dataSync())).toEqual(Array.from(convRef));
        else expect(relError(conv.dataSync(), convRef)).toBeLessThan(1e-6);
        // 64 input channels: oneDNN sums them in blocks, the bias joining at the first or the last
        const x64 = tf.tensor4d(rand(2 * 8 * 8 * 64), [2, 8, 8, 64]);
        const f64 = tf.tensor4d(rand(3 * 3 * 64 * 5), [3, 3, 64, 5]);
        const wide = tf.fused.conv2d({ x: x64, filter: f64, strides: 1, pad: "same", bias, activation, leakyreluAlpha: 0.3 });
        const wideRef = unfused(tf.conv2d(x64, f64, 1, "same")).dataSync();
        if (bitForBit) expect(Array.from(wide.dataSync())).toEqual(Array.from(wideRef));
        else expect(relError(wide.dataSync(), wideRef)).toBeLessThan(1e-5); // sums of 576 products
      });
    });
  }

  it("a fused product with transposeB and a bias is right (stock wasm 4.22 gets it wrong)", () => {
    tf.tidy(() => {
      const a = tf.tensor2d([1, 2, 3, 4, 5, 6], [2, 3]);
      const w = tf.tensor2d([1, 0, 0, 0, 1, 0], [2, 3]);
      const y = tf.fused.matMul({ a, b: w, transposeB: true, bias: tf.tensor1d([10, 20]) });
      expect(y.arraySync()).toEqual([
        [11, 22],
        [14, 25],
      ]);
    });
  });

  it("releases every intermediate buffer", () => {
    const backend = tf.backend();
    const x = tf.randomNormal<tf.Rank.R4>([2, 9, 9, 3]);
    const f = tf.randomNormal<tf.Rank.R4>([4, 4, 3, 5]);
    const w = tf.randomNormal([6, 10]);
    const before = backend.numDataIds();
    for (let i = 0; i < 3; i++) {
      tf.tidy(() => {
        const [gx, gf] = tf.grads((a, b) => tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 2, "same").sum())([x, f]);
        const t = tf.conv2dTranspose(x, tf.randomNormal([4, 4, 2, 3]), [2, 18, 18, 2], 2, "same");
        const m = tf.matMul(tf.ones([6, 4]), w, true, false).add(tf.matMul(tf.ones([4, 10]), w, false, true).sum());
        return [gx!, gf!, t, m];
      }).forEach((t) => t.dispose());
    }
    expect(backend.numDataIds()).toBe(before);
    tf.dispose([x, f, w]);
  });
});
}

describe("gradients of a small conv net: wasm (with the pack) equals stock cpu", () => {
  const shapes = { x: [2, 9, 9, 2], w1: [3, 3, 2, 4], w2: [4, 4, 3, 4], w3: [3, 3, 3, 2], wd: [98, 5] };
  const rand = random(2024);
  const data = Object.fromEntries(Object.entries(shapes).map(([k, s]) => [k, rand(size(s))])) as Record<keyof typeof shapes, Float32Array>;

  // Smooth everywhere (tanh, sigmoid, sin, square) so tiny float differences cannot flip a kink.
  const loss = (x: tf.Tensor4D, w1: tf.Tensor4D, w2: tf.Tensor4D, w3: tf.Tensor4D, wd: tf.Tensor2D) => {
    const h1 = tf.tanh(tf.conv2d(x, w1, 2, "same")); // [2,5,5,4]
    const h2 = tf.sigmoid(tf.conv2dTranspose(h1, w2, [2, 9, 9, 3], 2, "same")); // [2,9,9,3]
    const h3 = tf.conv2d(h2, w3, 1, "valid"); // [2,7,7,2]
    const out = tf.matMul(tf.reshape(h3, [2, 98]), wd); // [2,5]
    return tf.sum(tf.square(tf.sin(out)));
  };

  async function gradsOn(backend: string): Promise<Float32Array[]> {
    expect(await tf.setBackend(backend)).toBe(true);
    return tf.tidy(() => {
      const args = (Object.keys(shapes) as Array<keyof typeof shapes>).map((k) => tf.tensor(data[k], shapes[k]));
      const gs = tf.grads(loss as (...t: tf.Tensor[]) => tf.Tensor)(args);
      return gs.map((g) => g.dataSync() as Float32Array);
    });
  }

  it("every parameter and input gradient agrees within 1e-4", async () => {
    expect(tf.getKernel(tf.Conv2DBackpropFilter, "wasm")).toBeDefined();
    const onWasm = await gradsOn("wasm");
    const onCpu = await gradsOn("cpu");
    expect(onWasm).toHaveLength(5);
    onWasm.forEach((g, i) => expect(relError(g, onCpu[i]!)).toBeLessThan(TOL));
  });
});

describe("cpu training kernels", () => {
  beforeAll(async () => {
    expect(await tf.setBackend("cpu")).toBe(true);
    expect(registerTrainingKernels("cpu")).toEqual(trainingKernelNames("cpu"));
    expect(registerTrainingKernels("cpu")).toEqual(trainingKernelNames("cpu"));
  });

  it("leaves NCHW to the stock kernel", () => {
    tf.tidy(() => {
      const rand = random(99);
      const nhwc = tf.tensor4d(rand(2 * 6 * 7 * 3), [2, 6, 7, 3]);
      const nchw = tf.transpose(nhwc, [0, 3, 1, 2]) as tf.Tensor4D;
      const f = tf.tensor4d(rand(3 * 3 * 3 * 4), [3, 3, 3, 4]);
      const gradOf = (x: tf.Tensor4D, format: "NHWC" | "NCHW") =>
        tf.grad((w) => tf.conv2d(x, w as tf.Tensor4D, 2, "same", format).square().sum())(f);
      expect(relError(gradOf(nchw, "NCHW").dataSync(), gradOf(nhwc, "NHWC").dataSync())).toBeLessThan(TOL);
    });
  });

  convCases.forEach((c, i) => {
    it(`cpu Conv2DBackpropFilter / Conv2DBackpropInput match float64: ${c.name}`, () => {
      const r = runConvKernels(c, 300 + i);
      expect(relError(r.dw, r.dwRef)).toBeLessThan(TOL);
      expect(relError(r.dx, r.dxRef)).toBeLessThan(TOL);
    });
  });
});
