import * as tf from "@tensorflow/tfjs";
import { SMALL_PRODUCT, type Blas } from "./blas.ts";
import type { ConvShape, Dnnl } from "./dnnl.ts";
import { biasActivation, Primitives, type TrainingKernelFunc } from "./primitives.ts";
import { gancWasm, size, wasmBackend, type GancWasm, type WasmBackendLike } from "./wasm/index.ts";

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

/**
 * Grow-only JS scratch shared by all kernels (they never nest): col2im's columns and the few-output
 * paths' products. im2col's chunks live in the wasm heap instead (heapScratch), where x is.
 */
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

/** A 2-D NHWC convolution's sizes, strides, dilations and top/left padding (tfjs's Conv2DInfo, flattened). */
export interface Geometry {
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

/**
 * The convolution as oneDNN describes it (dnnl.ts), or null where oneDNN is not to run it: its padding on the
 * bottom or right would be negative (an input row or column that no output reads, which a 'valid' strided
 * convolution can leave), or convTuning.dnnl is off (the tests' way to reach the other paths).
 */
function dnnlShape(g: Geometry, cout: number): ConvShape | null {
  const bottom = (g.oh - 1) * g.sh + (g.kh - 1) * g.dh + 1 - g.h - g.top;
  const right = (g.ow - 1) * g.sw + (g.kw - 1) * g.dw + 1 - g.w - g.left;
  if (!convTuning.dnnl || bottom < 0 || right < 0 || g.top < 0 || g.left < 0) return null;
  return { ...g, cout, bottom, right };
}

/** True when the conv is a plain per-pixel product (1x1, stride 1, no padding): cols is x itself. */
function isPointwise(g: Geometry): boolean {
  return g.kh === 1 && g.kw === 1 && g.sh === 1 && g.sw === 1 && g.top === 0 && g.left === 0 && g.oh === g.h && g.ow === g.w;
}

/**
 * Visits the contiguous runs the im2col matrix is made of: for each output pixel and filter row,
 * the filter columns that read real pixels. With dilation 1 they are adjacent in x as well, so
 * each run is one block copy of `len` floats; with dilation each column is its own run.
 * Used by col2im (strided input gradients only).
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

/** dx[...] += cols[...] over every run (the adjoint of im2col); dx must start zeroed. */
function col2im(g: Geometry, cols: Float32Array, dx: Float32Array): void {
  forEachRun(g, (at, to, len) => {
    for (let i = 0; i < len; i++) dx[to + i] += cols[at + i]!;
  });
}

/**
 * Rows [m0, m1) of the im2col matrix, written to heap[colsAt...]: x and the rows are both in the
 * wasm heap, so each run is one block copy, and only the positions that read padding are zeroed.
 * With dilation 1 along the width (every conv of the specs) the loop is ganc.wat's im2col_rows,
 * one memory.copy per run; otherwise each filter column is its own copyWithin.
 */
function im2colRows(wasm: GancWasm, g: Geometry, heap: Float32Array, xAt: number, colsAt: number, m0: number, m1: number): void {
  if (g.dw === 1) {
    wasm.im2col_rows(xAt * 4, colsAt * 4, m0, m1, g.h, g.w, g.cin, g.oh, g.ow, g.kh, g.kw, g.sh, g.sw, g.dh, g.top, g.left);
    return;
  }
  const cin = g.cin;
  const rowLen = g.kw * cin;
  const K = g.kh * rowLen;
  const perImage = g.oh * g.ow;
  let n = Math.floor(m0 / perImage);
  let oh = Math.floor((m0 - n * perImage) / g.ow);
  let ow = m0 - n * perImage - oh * g.ow;
  let at = colsAt;
  for (let m = m0; m < m1; m++) {
    const iw0 = ow * g.sw - g.left;
    const ih0 = oh * g.sh - g.top;
    for (let kh = 0; kh < g.kh; kh++) {
      const ih = ih0 + kh * g.dh;
      const base = at + kh * rowLen;
      if (ih < 0 || ih >= g.h) {
        heap.fill(0, base, base + rowLen);
        continue;
      }
      const xRow = xAt + (n * g.h + ih) * g.w * cin;
      for (let kw = 0; kw < g.kw; kw++) {
        const iw = iw0 + kw * g.dw;
        const to = base + kw * cin;
        if (iw < 0 || iw >= g.w) heap.fill(0, to, to + cin);
        else heap.copyWithin(to, xRow + iw * cin, xRow + (iw + 1) * cin);
      }
    }
    at += K;
    if (++ow === g.ow) {
      ow = 0;
      if (++oh === g.oh) {
        oh = 0;
        n++;
      }
    }
  }
}

/**
 * How convolutions are cut into chunks of output pixels. chunkFloats: the im2col floats a chunk aims
 * at, 8 MB, so that a chunk is still in the last-level cache when sgemm reads it (2 MB chunks, and
 * the whole 38 MB matrix at once, measured slower on the [16,32,32,64] x 3x3x64x64 convolution:
 * bench/README.md). minProduct: a chunk's product is never smaller than this (SMALL_PRODUCT, under
 * which sgemm runs on one thread). Tests lower both to exercise many chunks on small shapes.
 */
export const convTuning = { chunkFloats: 1 << 21, minProduct: SMALL_PRODUCT, transposedMaxCout: 64, transposedMinK: 144, tapsMinCin: 16, tapsMinPixels: 1024, dnnl: true };

/**
 * True where a convolution chunk's product runs faster transposed: OpenBLAS's sgemm of the im2col rows
 * [rows, K] by the filter [K, Cout] with few output channels (32 to 64) packs and threads poorly
 * (Y = cols . W at 99-122 GFLOP/s for the reduced sngan_resnet's shapes on a 2-core EPYC), while the same
 * product computed as Y^T = W^T . cols^T (a column-major product with the long side as its rows) runs at
 * 139-156; the chunk's Y^T, still in cache, is then transposed into Y's rows (ganc.wat transpose). Per
 * call (bench/conv-kernels.ts) the 3x3 convolutions of 32 and 64 channels (K = 288, 576) gain 9-18%, forward
 * and input gradient; with 3 input channels (K = 27) the transposed form is slower, so it needs a K of at
 * least 144 (3x3 over 16 channels). The sums are the same but rounded in another order: within float32
 * rounding of the other form, not bit for bit (test/runtime/kernels.test.ts checks both against float64).
 */
export function convTransposed(cout: number, K: number): boolean {
  return cout <= convTuning.transposedMaxCout && K >= convTuning.transposedMinK;
}

/**
 * Output pixels (rows of the im2col matrix) per chunk of a tiled convolution with K = KH*KW*Cin
 * and `cout` output channels: about convTuning.chunkFloats of matrix, at least
 * convTuning.minProduct multiply-adds, and at most all M rows.
 */
export function convChunkRows(M: number, K: number, cout: number): number {
  const byCache = Math.floor(convTuning.chunkFloats / K);
  const byThreads = Math.ceil(convTuning.minProduct / (K * cout));
  return Math.max(1, Math.min(M, Math.max(byCache, byThreads)));
}

/** A float32 scratch tensor in the wasm heap (so that copyWithin reaches it from x); dispose it after. */
function heapScratch(h: WasmBackendLike, floats: number): tf.TensorInfo {
  return h.makeOutput([Math.max(1, floats)], "float32");
}

/** The whole wasm heap as floats, and where a tensor view starts in it. */
const heapOf = (view: Float32Array): Float32Array => new Float32Array(view.buffer);
const at = (view: Float32Array): number => view.byteOffset >> 2;

/**
 * y = conv(x, W) chunk by chunk: each chunk's im2col rows, then their product with W into y's
 * rows. Splitting the rows leaves every output's sum over K as it is (same bits as one product).
 * cols is the scratch for one chunk (rows * K floats, in the heap); W may be anywhere.
 */
function convTiled(blas: Blas, wasm: GancWasm, g: Geometry, cout: number, X: Float32Array, W: Float32Array, Y: Float32Array, scratch: Float32Array, rows: number): void {
  const M = g.n * g.oh * g.ow;
  const K = g.kh * g.kw * g.cin;
  const heap = heapOf(X);
  const cols = scratch.subarray(0, rows * K);
  // convTransposed: the chunk's Y^T after its im2col rows in the scratch (convScratchFloats)
  const yt = convTransposed(cout, K) ? scratch.subarray(rows * K, rows * K + rows * cout) : null;
  for (let m0 = 0; m0 < M; m0 += rows) {
    const m1 = Math.min(M, m0 + rows);
    im2colRows(wasm, g, heap, at(X), at(cols), m0, m1);
    if (yt === null) blas.sgemm(false, false, m1 - m0, cout, K, cols, K, W, cout, 0, Y.subarray(m0 * cout), cout);
    else {
      blas.sgemm(true, true, cout, m1 - m0, K, W, cout, cols, K, 0, yt, m1 - m0);
      wasm.transpose(at(yt) * 4, (at(Y) + m0 * cout) * 4, cout, m1 - m0);
    }
  }
}

/**
 * True where a stride-1 convolution runs faster as one product per filter tap (convByTaps) than
 * through im2col: 3x3 convolutions of 16 to 64 channels on images of 32x32 and more. There im2col
 * writes 9 times the input (19 MB for [16,32,32,32]) and costs as much as half the product; per call
 * (bench/conv-kernels.ts --old <commit before>, 6 rounds), [16,32,32,32] 3x3 to 32 channels went from
 * 5.7 to 3.8 ms forward and 5.2 to 3.7 input gradient, [16,32,32,64] to 64 from 12.3 to 10.1 and 12.7
 * to 10.3. At 16x16 the two forms cost the same,
 * at 8x8 the taps' padding (100 padded pixels for 64) makes them slower, and with 128 or more output
 * channels the product dominates and the two are within noise, so those keep im2col.
 */
export function convByTapsApplies(g: Geometry, cout: number): boolean {
  return (
    g.sh === 1 && g.sw === 1 && g.dh === 1 && g.dw === 1 && g.kh * g.kw > 1 &&
    g.cin >= convTuning.tapsMinCin && cout <= convTuning.transposedMaxCout && g.oh * g.ow >= convTuning.tapsMinPixels
  );
}

/**
 * y = conv(x, W) for stride 1 without im2col. With x zero-padded to xp [N, Hp, Wp, Cin] (Hp = OH + KH - 1,
 * Wp = OW + KW - 1) and its pixels numbered p = (n * Hp + i) * Wp + j, the output at padded position p
 * is the sum over the taps t = (kh, kw) of xp[p + kh * Wp + kw] . W[kh, kw]: for each tap, the rows of
 * xp from p + kh * Wp + kw on are a plain [rows, Cin] matrix (row stride Cin), so each tap is one sgemm
 * accumulated into the last (beta = 1), over every padded position up to the last real output. The
 * products run transposed (Y'^T = W_t^T . xp_t^T, the faster form for few output channels, see
 * convTransposed), and the real outputs, a run of OW positions per output row, are transposed out of
 * Y'^T into y. Each output's sum is taken per tap, then tap after tap: within float32 rounding of the
 * im2col form, not bit for bit (test/runtime/kernels.test.ts checks every form against float64).
 */
function convByTaps(blas: Blas, h: WasmBackendLike, wasm: GancWasm, backend: tf.KernelBackend, g: Geometry, cout: number, x: tf.TensorInfo, filter: Float32Array | tf.TensorInfo, out: tf.TensorInfo): void {
  const Hp = g.oh + g.kh - 1;
  const Wp = g.ow + g.kw - 1;
  const P = g.n * Hp * Wp;
  const Mv = ((g.n - 1) * Hp + g.oh - 1) * Wp + g.ow; // padded positions up to the last real output
  const scratch = heapScratch(h, P * g.cin + cout * Mv);
  // views after every allocation (an allocation may grow the heap)
  const X = h.typedArrayFromHeap(x) as Float32Array;
  const W = filter instanceof Float32Array ? filter : (h.typedArrayFromHeap(filter) as Float32Array);
  const Y = h.typedArrayFromHeap(out) as Float32Array;
  const heap = heapOf(X);
  const S = h.typedArrayFromHeap(scratch) as Float32Array;
  const xpAt = at(S);
  const ytAt = xpAt + P * g.cin;
  // xp: zeros, then each input row that lands inside the padded image, clipped to its width
  heap.fill(0, xpAt, xpAt + P * g.cin);
  const j0 = Math.max(0, -g.left); // first input column inside
  const j1 = Math.min(g.w, Wp - g.left); // past the last
  if (j1 > j0) {
    for (let n = 0; n < g.n; n++)
      for (let i = 0; i < Hp; i++) {
        const ih = i - g.top;
        if (ih < 0 || ih >= g.h) continue;
        const src = at(X) + ((n * g.h + ih) * g.w + j0) * g.cin;
        heap.copyWithin(xpAt + ((n * Hp + i) * Wp + j0 + g.left) * g.cin, src, src + (j1 - j0) * g.cin);
      }
  }
  const YT = heap.subarray(ytAt, ytAt + cout * Mv);
  for (let kh = 0; kh < g.kh; kh++)
    for (let kw = 0; kw < g.kw; kw++) {
      const t = kh * g.kw + kw;
      const xs = heap.subarray(xpAt + (kh * Wp + kw) * g.cin);
      blas.sgemm(true, true, cout, Mv, g.cin, W.subarray(t * g.cin * cout), cout, xs, g.cin, t === 0 ? 0 : 1, YT, Mv);
    }
  for (let n = 0; n < g.n; n++)
    for (let i = 0; i < g.oh; i++) {
      const p0 = (n * Hp + i) * Wp;
      wasm.transpose_strided((ytAt + p0) * 4, (at(Y) + (n * g.oh + i) * g.ow * cout) * 4, cout, g.ow, Mv);
    }
  backend.disposeData(scratch.dataId);
}

/** The heap scratch convTiled needs: one chunk's im2col rows, and its Y^T where the product is transposed. */
function convScratchFloats(rows: number, K: number, cout: number): number {
  return rows * K + (convTransposed(cout, K) ? rows * cout : 0);
}

/**
 * Channel counts under this make a product too thin for sgemm (the toRGB conv's N = 3 runs at a
 * few GFLOP/s): a convolution with fewer output channels than this (and than input channels)
 * multiplies first and sums its taps after (convFewOutputs), and its filter gradient multiplies the
 * small im2col matrix of dy; an input gradient with fewer input channels keeps col2im.
 */
const FEW = 8;

/** True when `g` with `cout` output channels takes the few-outputs paths (stride 1 only: they compute every input pixel). */
function fewOutputs(g: Geometry, cout: number): boolean {
  return cout < FEW && cout < g.cin && g.sh === 1 && g.sw === 1;
}

/** Grow-only scratch for the permuted filter of convFewOutputs. */
let permuted = new Float32Array(0);

/**
 * y = conv(x, W) for a few output channels: Z = x . Wr as [N*H*W, Cin] . [Cin, KH*KW*Cout], the
 * contribution of every input pixel through every tap, then each output sums the columns of its
 * taps' pixels (in float64, rounded once). Z is N*H*W*KH*KW*Cout floats, against the
 * N*OH*OW*KH*KW*Cin of the im2col matrix.
 */
function convFewOutputs(blas: Blas, g: Geometry, cout: number, X: Float32Array, W: Float32Array, Y: Float32Array): void {
  const taps = g.kh * g.kw;
  const T = taps * cout;
  const size = g.cin * T;
  if (permuted.length < size) permuted = new Float32Array(size);
  const Wr = permuted.subarray(0, size);
  for (let t = 0; t < taps; t++)
    for (let ci = 0; ci < g.cin; ci++)
      for (let co = 0; co < cout; co++) Wr[ci * T + t * cout + co] = W[(t * g.cin + ci) * cout + co]!;
  const P = g.n * g.h * g.w;
  const Z = scratchOf(P * T);
  blas.sgemm(false, false, P, T, g.cin, X, g.cin, Wr, T, 0, Z, T);
  let m = 0;
  for (let n = 0; n < g.n; n++)
    for (let oh = 0; oh < g.oh; oh++)
      for (let ow = 0; ow < g.ow; ow++, m++)
        for (let co = 0; co < cout; co++) {
          let sum = 0;
          for (let kh = 0; kh < g.kh; kh++) {
            const ih = oh * g.sh - g.top + kh * g.dh;
            if (ih < 0 || ih >= g.h) continue;
            for (let kw = 0; kw < g.kw; kw++) {
              const iw = ow * g.sw - g.left + kw * g.dw;
              if (iw >= 0 && iw < g.w) sum += Z[((n * g.h + ih) * g.w + iw) * T + (kh * g.kw + kw) * cout + co]!;
            }
          }
          Y[m * cout + co] = sum;
        }
}

function channelsLast(dataFormat: string): boolean {
  return tf.backend_util.convertConv2DDataFormat(dataFormat as "NHWC" | "NCHW") === "channelsLast";
}

/**
 * The convolution's output, [n, oh, ow, cout]. With a bias of cout values, oneDNN adds it as it writes the result
 * where it runs the convolution (`biased`); otherwise the bias is the caller's to add.
 */
function convForward(
  blas: Blas,
  dnnl: Dnnl | null,
  backend: tf.KernelBackend,
  x: tf.TensorInfo,
  filter: tf.TensorInfo,
  attrs: tf.Conv2DAttrs,
  bias: tf.TensorInfo | null = null,
): { out: tf.TensorInfo; biased: boolean } {
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
  const shape = dnnl === null ? null : dnnlShape(g, cout);
  const B = bias !== null && bias.dtype === "float32" && size(bias) === cout ? (h.typedArrayFromHeap(bias) as Float32Array) : null;
  if (shape !== null && dnnl!.forward(shape, h.typedArrayFromHeap(x) as Float32Array, h.typedArrayFromHeap(filter) as Float32Array, h.typedArrayFromHeap(out) as Float32Array, B)) {
    return { out, biased: B !== null };
  }
  const unbiased = { out, biased: false };
  if (isPointwise(g)) {
    const X = h.typedArrayFromHeap(x) as Float32Array;
    const W = h.typedArrayFromHeap(filter) as Float32Array;
    blas.sgemm(false, false, M, cout, K, X, K, W, cout, 0, h.typedArrayFromHeap(out) as Float32Array, cout);
    return unbiased;
  }
  if (fewOutputs(g, cout)) {
    const X = h.typedArrayFromHeap(x) as Float32Array;
    const W = h.typedArrayFromHeap(filter) as Float32Array;
    convFewOutputs(blas, g, cout, X, W, h.typedArrayFromHeap(out) as Float32Array);
    return unbiased;
  }
  if (convByTapsApplies(g, cout)) {
    convByTaps(blas, h, gancWasm(backend), backend, g, cout, x, filter, out);
    return unbiased;
  }
  const rows = convChunkRows(M, K, cout);
  const scratch = heapScratch(h, convScratchFloats(rows, K, cout));
  // views after every allocation (an allocation may grow the heap)
  const X = h.typedArrayFromHeap(x) as Float32Array;
  const W = h.typedArrayFromHeap(filter) as Float32Array;
  const Y = h.typedArrayFromHeap(out) as Float32Array;
  convTiled(blas, gancWasm(backend), g, cout, X, W, Y, h.typedArrayFromHeap(scratch) as Float32Array, rows);
  backend.disposeData(scratch.dataId);
  return unbiased;
}

export function makeBlasConv2D(blas: Blas, fallback: tf.KernelFunc, dnnl: Dnnl | null = null): TrainingKernelFunc {
  return ({ inputs, backend, attrs }) => {
    const { x, filter } = inputs as { x: tf.TensorInfo; filter: tf.TensorInfo };
    const a = attrs as unknown as tf.Conv2DAttrs;
    if (!channelsLast(a.dataFormat) || x.dtype !== "float32" || filter.dtype !== "float32") {
      return fallback({ inputs, backend, attrs }) as tf.TensorInfo;
    }
    return convForward(blas, dnnl, backend, x, filter, a).out;
  };
}

export function makeBlasFusedConv2D(blas: Blas, backendName: string, fallback: tf.KernelFunc, dnnl: Dnnl | null = null): TrainingKernelFunc {
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
    const { out, biased } = convForward(blas, dnnl, backend, x, filter, a, bias ?? null);
    const p = new Primitives(backend, backendName);
    return biasActivation(p, out, biased ? undefined : bias, a.activation, a.leakyreluAlpha, preluActivationWeights);
  };
}

/**
 * dW = cols^T . dy, as [KH*KW*Cin, N*OH*OW] . [N*OH*OW, Cout], chunk by chunk of rows: each chunk's
 * product is added to the last (beta = 1), so the sum over N*OH*OW runs in chunks, in a fixed
 * order (deterministic; not the order of one product over all rows). For few output channels
 * (convTransposed) the product is dW^T = dy^T . cols, transposed at the end.
 */
export function makeBlasConv2DBackpropFilter(blas: Blas, fallback: tf.KernelFunc, dnnl: Dnnl | null = null): TrainingKernelFunc {
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
    const shape = dnnl === null ? null : dnnlShape(g, cout);
    if (shape !== null && dnnl!.backwardWeights(shape, h.typedArrayFromHeap(x) as Float32Array, h.typedArrayFromHeap(dy) as Float32Array, h.typedArrayFromHeap(out) as Float32Array)) {
      return out;
    }
    if (isPointwise(g)) {
      const X = h.typedArrayFromHeap(x) as Float32Array;
      const DY = h.typedArrayFromHeap(dy) as Float32Array;
      blas.sgemm(true, false, K, cout, M, X, K, DY, cout, 0, h.typedArrayFromHeap(out) as Float32Array, cout);
      return out;
    }
    if (fewOutputs(g, cout)) {
      filterGradientFewOutputs(blas, h, backend, g, cout, x, dy, out);
      return out;
    }
    const rows = convChunkRows(M, K, cout);
    // convTransposed: dW^T = dy^T . cols accumulated after the chunk's rows in the scratch, then transposed
    // into dW once (the same product's faster form for few output channels: 1.2-1.3x on these shapes).
    const transposed = convTransposed(cout, K);
    const scratch = heapScratch(h, rows * K + (transposed ? K * cout : 0));
    const X = h.typedArrayFromHeap(x) as Float32Array;
    const DY = h.typedArrayFromHeap(dy) as Float32Array;
    const DW = h.typedArrayFromHeap(out) as Float32Array;
    const all = h.typedArrayFromHeap(scratch) as Float32Array;
    const cols = all.subarray(0, rows * K);
    const dwt = all.subarray(rows * K, rows * K + K * cout);
    const heap = heapOf(X);
    const wasm = gancWasm(backend);
    for (let m0 = 0; m0 < M; m0 += rows) {
      const m1 = Math.min(M, m0 + rows);
      im2colRows(wasm, g, heap, at(X), at(cols), m0, m1);
      if (transposed) blas.sgemm(true, false, cout, K, m1 - m0, DY.subarray(m0 * cout), cout, cols, K, m0 === 0 ? 0 : 1, dwt, K);
      else blas.sgemm(true, false, K, cout, m1 - m0, cols, K, DY.subarray(m0 * cout), cout, m0 === 0 ? 0 : 1, DW, cout);
    }
    if (transposed) wasm.transpose(at(dwt) * 4, at(DW) * 4, cout, K);
    backend.disposeData(scratch.dataId);
    return out;
  };
}

/**
 * dW for a few output channels (stride 1): with D the im2col matrix of dy in the transposed
 * geometry ([N*H*W, KH*KW*Cout], small), Tr = x^T . D as [Cin, N*H*W] . [N*H*W, KH*KW*Cout],
 * chunk by chunk of input pixels (beta = 1 after the first), and dW[kh, kw, ci, co] is
 * Tr[ci, (KH-1-kh, KW-1-kw, co)].
 */
function filterGradientFewOutputs(
  blas: Blas,
  h: WasmBackendLike,
  backend: tf.KernelBackend,
  g: Geometry,
  cout: number,
  x: tf.TensorInfo,
  dy: tf.TensorInfo,
  out: tf.TensorInfo,
): void {
  const gt = transposedGeometry(g, cout);
  const P = g.n * g.h * g.w;
  const Kt = g.kh * g.kw * cout;
  const rows = convChunkRows(P, Kt, g.cin);
  const scratch = heapScratch(h, rows * Kt);
  const X = h.typedArrayFromHeap(x) as Float32Array;
  const DY = h.typedArrayFromHeap(dy) as Float32Array;
  const DW = h.typedArrayFromHeap(out) as Float32Array;
  const D = h.typedArrayFromHeap(scratch) as Float32Array;
  const Tr = scratchOf(g.cin * Kt);
  const heap = heapOf(DY);
  for (let p0 = 0; p0 < P; p0 += rows) {
    const p1 = Math.min(P, p0 + rows);
    im2colRows(gancWasm(backend), gt, heap, at(DY), at(D), p0, p1);
    blas.sgemm(true, false, g.cin, Kt, p1 - p0, X.subarray(p0 * g.cin), g.cin, D, Kt, p0 === 0 ? 0 : 1, Tr, Kt);
  }
  backend.disposeData(scratch.dataId);
  for (let kh = 0; kh < g.kh; kh++)
    for (let kw = 0; kw < g.kw; kw++) {
      const tap = ((g.kh - 1 - kh) * g.kw + (g.kw - 1 - kw)) * cout;
      for (let ci = 0; ci < g.cin; ci++)
        for (let co = 0; co < cout; co++) DW[((kh * g.kw + kw) * g.cin + ci) * cout + co] = Tr[ci * Kt + tap + co]!;
    }
}

/**
 * The geometry of the stride-1 input gradient as a forward convolution: dy (Cout channels, OH x OW)
 * in, dx (Cin channels, H x W) out, with the flipped filter and KH-1-top rows of padding above,
 * KW-1-left columns on the left. Its im2col rows are indexed by input pixel, its columns by
 * (KH-1-kh, KW-1-kw, co): the dy values each input pixel met through each tap.
 */
function transposedGeometry(g: Geometry, cout: number): Geometry {
  return {
    n: g.n,
    h: g.oh,
    w: g.ow,
    cin: cout,
    oh: g.h,
    ow: g.w,
    kh: g.kh,
    kw: g.kw,
    sh: 1,
    sw: 1,
    dh: 1,
    dw: 1,
    top: g.kh - 1 - g.top,
    left: g.kw - 1 - g.left,
  };
}

/** Grow-only scratch for the flipped filter of the input gradient. */
let flipped = new Float32Array(0);

/**
 * W'[kh, kw, co, ci] = W[KH-1-kh, KW-1-kw, ci, co]: the filter that makes the input gradient of a
 * stride-1 convolution a forward convolution of dy.
 */
function flipFilter(W: Float32Array, kh: number, kw: number, cin: number, cout: number): Float32Array {
  const size = kh * kw * cin * cout;
  if (flipped.length < size) flipped = new Float32Array(size);
  const F = flipped.subarray(0, size);
  for (let i = 0; i < kh; i++)
    for (let j = 0; j < kw; j++) {
      const src = ((kh - 1 - i) * kw + (kw - 1 - j)) * cin * cout;
      const dst = (i * kw + j) * cout * cin;
      for (let ci = 0; ci < cin; ci++) for (let co = 0; co < cout; co++) F[dst + co * cin + ci] = W[src + ci * cout + co]!;
    }
  return F;
}

/**
 * Stride 1: dx is the forward convolution of dy with the flipped filter (tiled, as convForward).
 * Other strides: dcols = dy . W^T, as [N*OH*OW, Cout] . [Cout, KH*KW*Cin], then dx = col2im(dcols).
 */
export function makeBlasConv2DBackpropInput(blas: Blas, fallback: tf.KernelFunc, dnnl: Dnnl | null = null): TrainingKernelFunc {
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
    const shape = dnnl === null ? null : dnnlShape(g, cout);
    if (shape !== null && dnnl!.backwardData(shape, DY, W, DX)) return out;
    if (isPointwise(g)) {
      blas.sgemm(false, true, M, K, cout, DY, cout, W, cout, 0, DX, K);
      return out;
    }
    if (g.sh === 1 && g.sw === 1 && g.dh === 1 && g.dw === 1 && g.cin >= FEW) {
      // Stride 1, and enough input channels that the product is not a thin one:
      //   dx[n, i, j, ci] = sum over (kh, kw, co) of dy[n, i + top - kh, j + left - kw, co] W[kh, kw, ci, co],
      // the forward convolution of dy (Cout channels in) with the flipped filter (Cin out), padded
      // KH-1-top above and KW-1-left on the left: im2col of dy and one product per chunk, no col2im.
      const gt = transposedGeometry(g, cout);
      const F = flipFilter(W, g.kh, g.kw, g.cin, cout);
      if (convByTapsApplies(gt, g.cin)) {
        convByTaps(blas, h, gancWasm(backend), backend, gt, g.cin, dy, F, out);
        return out;
      }
      const Mt = g.n * g.h * g.w;
      const Kt = g.kh * g.kw * cout;
      const rows = convChunkRows(Mt, Kt, g.cin);
      const scratch = heapScratch(h, convScratchFloats(rows, Kt, g.cin));
      const dyNow = h.typedArrayFromHeap(dy) as Float32Array;
      const dxNow = h.typedArrayFromHeap(out) as Float32Array;
      convTiled(blas, gancWasm(backend), gt, g.cin, dyNow, F, dxNow, h.typedArrayFromHeap(scratch) as Float32Array, rows);
      backend.disposeData(scratch.dataId);
      return out;
    }
    const dcols = scratchOf(M * K);
    blas.sgemm(false, true, M, K, cout, DY, cout, W, cout, 0, dcols, K);
    DX.fill(0);
    col2im(g, dcols, DX);
    return out;
  };
}
