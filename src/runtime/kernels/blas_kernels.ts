import * as tf from "@tensorflow/tfjs";
import type { Blas } from "./blas.ts";
import { biasActivation, Primitives, type TrainingKernelFunc } from "./primitives.ts";
import { wasmBackend } from "./wasm/index.ts";

/**
 * The wasm backend's matrix products and convolutions on a native BLAS: every kernel here is one
 * or a few sgemm calls on the tensors' own bytes in the wasm heap (no copies in or out), with
 * convolutions lowered to im2col / col2im around the product, the way PyTorch's CPU backend runs
 * them. Bias and activation of the fused kernels run as the backend's own Add and activation
 * kernels, so a fused op gives exactly what the unfused ops give.
 *
 * Anything outside what these handle (other dtypes, NCHW, batch shapes that broadcast in both
 * operands) goes to the kernel registered before them.
 */

/** Grow-only scratch memory for im2col / col2im, shared by all kernels (they never nest). */
let scratch = new Float32Array(0);
function scratchOf(size: number): Float32Array {
  if (scratch.length < size) scratch = new Float32Array(Math.max(size, Math.ceil(scratch.length * 1.25)));
  return scratch.subarray(0, size);
}

const prod = (dims: readonly number[]): number => dims.reduce((acc, d) => acc * d, 1);

// ---------------------------------------------------------------------------------------------
// matrix products

/** op(A) . op(B) over the batch, or undefined when the batch shapes need a general broadcast. */
function matMul(
  blas: Blas,
  backend: tf.KernelBackend,
  a: tf.TensorInfo,
  b: tf.TensorInfo,
  transA: boolean,
  transB: boolean,
): tf.TensorInfo | undefined {
  if (a.dtype !== "float32" || b.dtype !== "float32") return undefined;
  const ra = a.shape.length;
  const rb = b.shape.length;
  const m = transA ? a.shape[ra - 1]! : a.shape[ra - 2]!;
  const k = transA ? a.shape[ra - 2]! : a.shape[ra - 1]!;
  const kb = transB ? b.shape[rb - 1]! : b.shape[rb - 2]!;
  const n = transB ? b.shape[rb - 2]! : b.shape[rb - 1]!;
  if (k !== kb) return undefined;
  const outerA = a.shape.slice(0, -2);
  const outerB = b.shape.slice(0, -2);
  const batchA = prod(outerA);
  const batchB = prod(outerB);
  if (batchA !== batchB && batchA !== 1 && batchB !== 1) return undefined;
  const outer = tf.broadcast_util.assertAndGetBroadcastShape(outerA, outerB);
  const batch = Math.max(batchA, batchB);

  const h = wasmBackend(backend);
  const out = h.makeOutput([...outer, m, n], "float32");
  const A = h.typedArrayFromHeap(a) as Float32Array;
  const B = h.typedArrayFromHeap(b) as Float32Array;
  const C = h.typedArrayFromHeap(out) as Float32Array;
  const lda = transA ? m : k;
  const ldb = transB ? k : n;
  if (batchB === 1 && !transA) {
    // A's batches stacked are one [batch*m, k] matrix against the same B: one call.
    blas.sgemm(false, transB, batch * m, n, k, A, lda, B, ldb, 0, C, n);
    return out;
  }
  for (let i = 0; i < batch; i++) {
    const ia = batchA === 1 ? 0 : i;
    const ib = batchB === 1 ? 0 : i;
    blas.sgemm(
      transA,
      transB,
      m,
      n,
      k,
      A.subarray(ia * m * k),
      lda,
      B.subarray(ib * k * n),
      ldb,
      0,
      C.subarray(i * m * n),
      n,
    );
  }
  return out;
}

export function makeBlasBatchMatMul(blas: Blas, fallback: tf.KernelFunc): TrainingKernelFunc {
  return ({ inputs, backend, attrs }) => {
    const { a, b } = inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
    const { transposeA, transposeB } = attrs as unknown as tf.BatchMatMulAttrs;
    return matMul(blas, backend, a, b, transposeA, transposeB) ?? (fallback({ inputs, backend, attrs }) as tf.TensorInfo);
  };
}

export function makeBlasFusedMatMul(blas: Blas, backendName: string, fallback: tf.KernelFunc): TrainingKernelFunc {
  return ({ inputs, backend, attrs }) => {
    const { a, b, bias, preluActivationWeights } = inputs as {
      a: tf.TensorInfo;
      b: tf.TensorInfo;
      bias?: tf.TensorInfo;
      preluActivationWeights?: tf.TensorInfo;
    };
    const { transposeA, transposeB, activation, leakyreluAlpha } = attrs as unknown as tf.BatchMatMulAttrs & { activation?: string; leakyreluAlpha?: number };
    const y = matMul(blas, backend, a, b, transposeA, transposeB);
    if (y === undefined) return fallback({ inputs, backend, attrs }) as tf.TensorInfo;
    const p = new Primitives(backend, backendName);
    return biasActivation(p, y, bias, activation, leakyreluAlpha, preluActivationWeights);
  };
}

// ---------------------------------------------------------------------------------------------
// convolutions: NHWC, filter [KH, KW, Cin, Cout], lowered to a product with the im2col matrix
// cols[n*OH*OW + oh*OW + ow, (kh*KW + kw)*Cin + ci] = x[n, oh*sh - top + kh*dh, ow*sw - left + kw*dw, ci]
// (zero where that reads padding), so that conv(x, W) = cols . W as [N*OH*OW, KH*KW*Cin] . [KH*KW*Cin, Cout].

interface Geometry {
  n: number;
  h: number;
  w: number;
  cin: number;
  oh: number;
  ow: number;
  kh: number;
  kw: number;
  sh: number;
  sw: number;
  dh: number;
  dw: number;
  top: number;
  left: number;
}

function geometry(info: tf.backend_util.Conv2DInfo): Geometry {
  return {
    n: info.batchSize,
    h: info.inHeight,
    w: info.inWidth,
    cin: info.inChannels,
    oh: info.outHeight,
    ow: info.outWidth,
    kh: info.filterHeight,
    kw: info.filterWidth,
    sh: info.strideHeight,
    sw: info.strideWidth,
    dh: info.dilationHeight,
    dw: info.dilationWidth,
    top: info.padInfo.top,
    left: info.padInfo.left,
  };
}

/** True when the conv is a plain per-pixel product (1x1, stride 1, no padding): cols is x itself. */
function isPointwise(g: Geometry): boolean {
  return g.kh === 1 && g.kw === 1 && g.sh === 1 && g.sw === 1 && g.top === 0 && g.left === 0 && g.oh === g.h && g.ow === g.w;
}

/**
 * Visits the contiguous runs the im2col matrix is made of: for each output pixel and filter row,
 * the filter columns that read real pixels. With dilation 1 they are adjacent in x as well, so
 * each run is one block copy of `len` floats; with dilation each column is its own run.
 */
function forEachRun(g: Geometry, f: (colsAt: number, xAt: number, len: number) => void): void {
  const K = g.kh * g.kw * g.cin;
  for (let n = 0; n < g.n; n++) {
    for (let oh = 0; oh < g.oh; oh++) {
      for (let ow = 0; ow < g.ow; ow++) {
        const row = ((n * g.oh + oh) * g.ow + ow) * K;
        const iw0 = ow * g.sw - g.left;
        for (let kh = 0; kh < g.kh; kh++) {
          const ih = oh * g.sh - g.top + kh * g.dh;
          if (ih < 0 || ih >= g.h) continue;
          const xRow = (n * g.h + ih) * g.w;
          if (g.dw === 1) {
            const first = Math.max(0, -iw0);
            const last = Math.min(g.kw, g.w - iw0); // exclusive
            if (last > first) {
              f(row + (kh * g.kw + first) * g.cin, (xRow + iw0 + first) * g.cin, (last - first) * g.cin);
            }
          } else {
            for (let kw = 0; kw < g.kw; kw++) {
              const iw = iw0 + kw * g.dw;
              if (iw >= 0 && iw < g.w) f(row + (kh * g.kw + kw) * g.cin, (xRow + iw) * g.cin, g.cin);
            }
          }
        }
      }
    }
  }
}

function im2col(g: Geometry, x: Float32Array): Float32Array {
  const K = g.kh * g.kw * g.cin;
  const cols = scratchOf(g.n * g.oh * g.ow * K);
  cols.fill(0);
  forEachRun(g, (at, from, len) => {
    if (len < 16) for (let i = 0; i < len; i++) cols[at + i] = x[from + i]!;
    else cols.set(x.subarray(from, from + len), at);
  });
  return cols;
}

/** dx[...] += cols[...] over every run (the adjoint of im2col); dx must start zeroed. */
function col2im(g: Geometry, cols: Float32Array, dx: Float32Array): void {
  forEachRun(g, (at, to, len) => {
    for (let i = 0; i < len; i++) dx[to + i] += cols[at + i]!;
  });
}

function channelsLast(dataFormat: string): boolean {
  return tf.backend_util.convertConv2DDataFormat(dataFormat as "NHWC" | "NCHW") === "channelsLast";
}

function convForward(blas: Blas, backend: tf.KernelBackend, x: tf.TensorInfo, filter: tf.TensorInfo, attrs: tf.Conv2DAttrs): tf.TensorInfo {
  const info = tf.backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number],
    filter.shape as [number, number, number, number],
    attrs.strides,
    attrs.dilations,
    attrs.pad,
    attrs.dimRoundingMode,
    false,
    "channelsLast",
  );
  const g = geometry(info);
  const cout = info.outChannels;
  const M = g.n * g.oh * g.ow;
  const K = g.kh * g.kw * g.cin;
  const h = wasmBackend(backend);
  const out = h.makeOutput([g.n, g.oh, g.ow, cout], "float32");
  const X = h.typedArrayFromHeap(x) as Float32Array;
  const W = h.typedArrayFromHeap(filter) as Float32Array;
  const Y = h.typedArrayFromHeap(out) as Float32Array;
  const cols = isPointwise(g) ? X : im2col(g, X);
  blas.sgemm(false, false, M, cout, K, cols, K, W, cout, 0, Y, cout);
  return out;
}

export function makeBlasConv2D(blas: Blas, fallback: tf.KernelFunc): TrainingKernelFunc {
  return ({ inputs, backend, attrs }) => {
    const { x, filter } = inputs as { x: tf.TensorInfo; filter: tf.TensorInfo };
    const a = attrs as unknown as tf.Conv2DAttrs;
    if (!channelsLast(a.dataFormat) || x.dtype !== "float32" || filter.dtype !== "float32") {
      return fallback({ inputs, backend, attrs }) as tf.TensorInfo;
    }
    return convForward(blas, backend, x, filter, a);
  };
}

export function makeBlasFusedConv2D(blas: Blas, backendName: string, fallback: tf.KernelFunc): TrainingKernelFunc {
  return ({ inputs, backend, attrs }) => {
    const { x, filter, bias, preluActivationWeights } = inputs as {
      x: tf.TensorInfo;
      filter: tf.TensorInfo;
      bias?: tf.TensorInfo;
      preluActivationWeights?: tf.TensorInfo;
    };
    const a = attrs as unknown as tf.FusedConv2DAttrs;
    if (!channelsLast(a.dataFormat) || x.dtype !== "float32" || filter.dtype !== "float32") {
      return fallback({ inputs, backend, attrs }) as tf.TensorInfo;
    }
    const y = convForward(blas, backend, x, filter, a);
    const p = new Primitives(backend, backendName);
    return biasActivation(p, y, bias, a.activation, a.leakyreluAlpha, preluActivationWeights);
  };
}

/** dW = cols^T . dy, as [KH*KW*Cin, N*OH*OW] . [N*OH*OW, Cout]. */
export function makeBlasConv2DBackpropFilter(blas: Blas, fallback: tf.KernelFunc): TrainingKernelFunc {
  return ({ inputs, backend, attrs }) => {
    const { x, dy } = inputs as { x: tf.TensorInfo; dy: tf.TensorInfo };
    const a = attrs as unknown as tf.Conv2DBackpropFilterAttrs;
    if (!channelsLast(a.dataFormat) || x.dtype !== "float32" || dy.dtype !== "float32") {
      return fallback({ inputs, backend, attrs }) as tf.TensorInfo;
    }
    const info = tf.backend_util.computeConv2DInfo(
      x.shape as [number, number, number, number],
      a.filterShape,
      a.strides,
      1,
      a.pad,
      a.dimRoundingMode,
      false,
      "channelsLast",
    );
    const g = geometry(info);
    const cout = info.outChannels;
    const M = g.n * g.oh * g.ow;
    const K = g.kh * g.kw * g.cin;
    const h = wasmBackend(backend);
    const out = h.makeOutput([...a.filterShape], "float32");
    const X = h.typedArrayFromHeap(x) as Float32Array;
    const DY = h.typedArrayFromHeap(dy) as Float32Array;
    const DW = h.typedArrayFromHeap(out) as Float32Array;
    const cols = isPointwise(g) ? X : im2col(g, X);
    blas.sgemm(true, false, K, cout, M, cols, K, DY, cout, 0, DW, cout);
    return out;
  };
}

/** dcols = dy . W^T, as [N*OH*OW, Cout] . [Cout, KH*KW*Cin], then dx = col2im(dcols). */
export function makeBlasConv2DBackpropInput(blas: Blas, fallback: tf.KernelFunc): TrainingKernelFunc {
  return ({ inputs, backend, attrs }) => {
    const { dy, filter } = inputs as { dy: tf.TensorInfo; filter: tf.TensorInfo };
    const a = attrs as unknown as tf.Conv2DBackpropInputAttrs;
    if (!channelsLast(a.dataFormat) || dy.dtype !== "float32" || filter.dtype !== "float32") {
      return fallback({ inputs, backend, attrs }) as tf.TensorInfo;
    }
    const info = tf.backend_util.computeConv2DInfo(
      [...a.inputShape],
      filter.shape as [number, number, number, number],
      a.strides,
      1,
      a.pad,
      a.dimRoundingMode,
      false,
      "channelsLast",
    );
    const g = geometry(info);
    const cout = info.outChannels;
    const M = g.n * g.oh * g.ow;
    const K = g.kh * g.kw * g.cin;
    const h = wasmBackend(backend);
    const out = h.makeOutput([...a.inputShape], "float32");
    const DY = h.typedArrayFromHeap(dy) as Float32Array;
    const W = h.typedArrayFromHeap(filter) as Float32Array;
    const DX = h.typedArrayFromHeap(out) as Float32Array;
    if (isPointwise(g)) {
      blas.sgemm(false, true, M, K, cout, DY, cout, W, cout, 0, DX, K);
      return out;
    }
    const dcols = scratchOf(M * K);
    blas.sgemm(false, true, M, K, cout, DY, cout, W, cout, 0, dcols, K);
    DX.fill(0);
    col2im(g, dcols, DX);
    return out;
  };
}
