import * as tf from "@tensorflow/tfjs";
import { GANC_WASM_BASE64 } from "./ganc.wasm.ts";
import { fnIndex, MIN_PARALLEL, poolFor, type Pool, type POOLED } from "./pool.ts";
import { GANC_BN_GRAD, GANC_BN_TRAIN, GANC_MAX_POOL2, GANC_MAX_POOL2_GRAD, GANC_MAX_POOL2_INDEX, GANC_POWER_STEP, GANC_RELU_GRAD, GANC_SN_GRAD, GANC_SN_NORMALIZE, GANC_SOFTMAX, GANC_SOFTMAX_GRAD } from "../names.ts";

export { GANC_BN_GRAD, GANC_BN_TRAIN, GANC_POWER_STEP, GANC_RELU_GRAD };

/**
 * ganc's own wasm kernels (ganc.wat), instantiated on the memory of tfjs-backend-wasm so that they
 * read and write tensors where they lie. One instance per wasm backend memory.
 */
export interface GancWasm {
  adam(
    g: number,
    m: number,
    v: number,
    w: number,
    mo: number,
    vo: number,
    wo: number,
    n: number,
    b1: number,
    c1: number,
    b2: number,
    c2: number,
    oma1: number,
    oma2: number,
    eps: number,
    nlr: number,
  ): void;
  bn_factors(v: number, r: number, mh: number, n: number, eps: number): void;
  moving_average(moving: number, batch: number, out: number, n: number, decay: number, omd: number, times: number): void;
  column_sum(x: number, out: number, rows: number, cols: number): void;
  /** out[i, j, :] = sum over p, q of x[i, p, j, q, :], x as [a, r1, b, r2, cols]; byte offsets. */
  strided_sum(x: number, out: number, a: number, r1: number, b: number, r2: number, cols: number): void;
  /** y [rows, cols] += bias [cols] per row, in place; byte offsets. */
  bias_add(y: number, bias: number, rows: number, cols: number): void;
  /** x[i] = x[i] / d in float32, in place, for n values; byte offset. */
  divide(x: number, n: number, d: number): void;
  /** out = exp(x) for n float32 values, as musl's expf (makeExpKernel); tab: expfTable()'s 32 entries; byte offsets. */
  expf(x: number, out: number, n: number, tab: number): void;
  /** out = dy * step(y, alpha) for n float32 values, as Multiply(dy, Step(y, alpha)) (makeReluGradKernel); byte offsets. */
  relu_grad(dy: number, y: number, out: number, n: number, alpha: number): void;
  /** idx = each 2x2 window's first largest entry, x [rows pairs of rows, w, c] (makeMaxPool2Kernels); byte offsets. */
  max_pool2_index(x: number, idx: number, rows: number, w: number, c: number): void;
  /** y = each 2x2 window's values times the one-hot of idx, summed from 0 (makeMaxPool2Kernels); byte offsets. */
  max_pool2(x: number, idx: number, y: number, rows: number, w: number, c: number): void;
  /** dx = dy times the one-hot of idx, spread over each 2x2 window (makeMaxPool2Kernels); byte offsets. */
  max_pool2_grad(dy: number, idx: number, dx: number, rows: number, w: number, c: number): void;
  /** e, sums and attn of the softmax over the rows of s [rows, cols] (makeSoftmaxKernels); tab: expfTable()'s 32 entries; byte offsets. */
  softmax_rows(s: number, e: number, sums: number, attn: number, rows: number, cols: number, tab: number): void;
  /** ds = the softmax's backward pass from dy, e and sums (makeSoftmaxKernels); byte offsets. */
  softmax_grad_rows(dy: number, e: number, sums: number, ds: number, rows: number, cols: number): void;
  /** The sum from 0 of a[i] * b[i] for n float32 values, as Multiply then the stock Sum (makeSpectralNormKernels); byte offsets. */
  dot_seq(a: number, b: number, n: number): number;
  /** out[i] = x[i] / d for n float32 values (makeSpectralNormKernels); byte offsets. */
  divide_to(x: number, out: number, n: number, d: number): void;
  /** out[i] = x[i] > s as bytes (bool) for n float32 values (makeGreaterKernel); byte offsets. */
  greater_scalar(x: number, s: number, out: number, n: number): void;
  /** out[i] = cond[i] ? t[i] : e[i] for n 4-byte values, cond as bytes (makeSelectKernel); byte offsets. */
  select(cond: number, t: number, e: number, out: number, n: number): void;
  /** Nearest-neighbour upsampling of x [rows, w, c] by whole factors fh, fw (makeResizeNearestKernel); byte offsets. */
  upsample_nearest(x: number, out: number, rows: number, w: number, c: number, fh: number, fw: number): void;
  /** Batch norm of x [rows, cols] with per-channel values at params (makeBatchNormKernel); byte offsets. */
  batch_norm(x: number, out: number, rows: number, cols: number, params: number, relu: number): void;
  /** sumsq [cols] = the column sums of (x - mean)^2 (makeBatchNormTrainKernel); byte offsets. */
  bn_sumsq(x: number, mean: number, sumsq: number, rows: number, cols: number): void;
  /** The four per-channel sums of batch norm's backward pass into acc [4, cols], xc = x - mean (makeBatchNormGradKernel); byte offsets. */
  bn_grad_sums(dy: number, x: number, mean: number, pc: number, acc: number, rows: number, cols: number, gamma: number): void;
  /** out [cols] = the column sums of (x - mean) * k; byte offsets. */
  bn_grad_center_sum(x: number, mean: number, k: number, out: number, rows: number, cols: number): void;
  /** dx = ((into + (dy * r) * gamma) + (x - mean) * k) + dx3 (makeBatchNormGradKernel); into 0 for none; byte offsets. */
  bn_grad_dx(dy: number, x: number, mean: number, into: number, dx: number, pc: number, rows: number, cols: number, gamma: number): void;
  /** One float64 power-iteration step of spectral norm for w [n, out] and u [out] into v [n] and un [out], with scratch t (n doubles) and s (out doubles) (makePowerStepKernel); byte offsets. */
  power_step(w: number, u: number, n: number, out: number, t: number, s: number, v: number, un: number): void;
  /** dst = src transposed: src [rows, cols] row-major, dst [cols, rows]; byte offsets. */
  transpose(src: number, dst: number, rows: number, cols: number): void;
  /** transpose with src's rows `stride` elements apart (a block of a wider matrix). */
  transpose_strided(src: number, dst: number, rows: number, cols: number, stride: number): void;
  im2col_rows(
    x: number,
    cols: number,
    m0: number,
    m1: number,
    h: number,
    w: number,
    cin: number,
    oh: number,
    ow: number,
    kh: number,
    kw: number,
    sh: number,
    sw: number,
    dh: number,
    top: number,
    left: number,
  ): void;
}

export interface WasmBackendLike {
  wasm: { asm?: { memory?: WebAssembly.Memory }; wasmMemory?: WebAssembly.Memory; tfjs?: { getThreadsCount?: () => number } };
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  getMemoryOffset(dataId: object): number;
  typedArrayFromHeap(info: tf.TensorInfo): tf.TypedArray;
}

/** Elements of a tensor. */
export const size = (t: { shape: readonly number[] }) => t.shape.reduce((x, y) => x * y, 1);

let compiled: WebAssembly.Module | undefined;
let compiledShared: WebAssembly.Module | undefined;
const instances = new WeakMap<WebAssembly.Memory, GancWasm>();

/** Unsigned LEB128 at `at`: [value, bytes read]. */
function readLeb(bytes: Uint8Array, at: number): [number, number] {
  let value = 0;
  let shift = 0;
  let i = at;
  for (;;) {
    const byte = bytes[i++]!;
    value += (byte & 0x7f) * 2 ** shift;
    shift += 7;
    if ((byte & 0x80) === 0) return [value, i - at];
  }
}

function leb(value: number): number[] {
  const out: number[] = [];
  do {
    let byte = value & 0x7f;
    value = Math.floor(value / 128);
    if (value !== 0) byte |= 0x80;
    out.push(byte);
  } while (value !== 0);
  return out;
}

/**
 * The same module importing a shared memory (limits flag 3, maximum 65536 pages), for the threaded
 * build of tfjs-backend-wasm, whose heap is a shared WebAssembly.Memory: a module must declare the
 * sharedness of the memory it imports. Only the memory import's limits change; the code is the same.
 */
export function withSharedMemoryImport(bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  const out: number[] = Array.from(bytes.subarray(0, 8));
  let at = 8;
  let changed = false;
  while (at < bytes.length) {
    const id = bytes[at]!;
    const [size, n] = readLeb(bytes, at + 1);
    const start = at + 1 + n;
    const payload = bytes.subarray(start, start + size);
    at = start + size;
    if (id !== 2) {
      out.push(id, ...leb(size), ...payload);
      continue;
    }
    const section: number[] = [];
    let p = 0;
    const copyLeb = () => {
      const [v, k] = readLeb(payload, p);
      section.push(...payload.subarray(p, p + k));
      p += k;
      return v;
    };
    const copyName = () => {
      const len = copyLeb();
      section.push(...payload.subarray(p, p + len));
      p += len;
    };
    const count = copyLeb();
    for (let i = 0; i < count; i++) {
      copyName();
      copyName();
      const kind = payload[p++]!;
      section.push(kind);
      if (kind === 0) copyLeb();
      else if (kind === 1 || kind === 2) {
        if (kind === 1) section.push(payload[p++]!);
        const flags = payload[p++]!;
        const [min, k] = readLeb(payload, p);
        p += k;
        let max: number | undefined;
        if (flags & 1) {
          const [m, k2] = readLeb(payload, p);
          p += k2;
          max = m;
        }
        if (kind === 2) {
          section.push(3, ...leb(min), ...leb(65536));
          changed = true;
        } else section.push(flags, ...leb(min), ...(max !== undefined ? leb(max) : []));
      } else if (kind === 3) section.push(payload[p++]!, payload[p++]!);
      else throw new Error(`unexpected import kind ${kind}`);
    }
    section.push(...payload.subarray(p));
    out.push(id, ...leb(section.length), ...section);
  }
  if (!changed) throw new Error("ganc's wasm module imports no memory");
  return Uint8Array.from(out);
}

/** The wasm backend's heap API (tfjs-backend-wasm's BackendWasm), or an error on another backend. */
export function wasmBackend(backend: tf.KernelBackend): WasmBackendLike {
  const b = backend as unknown as Partial<WasmBackendLike>;
  if (b.wasm === undefined || typeof b.getMemoryOffset !== "function") throw new Error("ganc's wasm kernels need the wasm backend");
  return b as WasmBackendLike;
}

/** The kernels, bound to `backend`'s heap. */
export function gancWasm(backend: tf.KernelBackend): GancWasm {
  const b = wasmBackend(backend);
  const memory = b.wasm.asm?.memory ?? b.wasm.wasmMemory;
  if (!(memory instanceof WebAssembly.Memory)) throw new Error("tfjs-backend-wasm does not expose its memory");
  let inst = instances.get(memory);
  if (inst === undefined) {
    compiled ??= new WebAssembly.Module(Uint8Array.from(atob(GANC_WASM_BASE64), (c) => c.charCodeAt(0))); // atob: in browsers too (the playground)
    let module = compiled;
    if (typeof SharedArrayBuffer !== "undefined" && memory.buffer instanceof SharedArrayBuffer) {
      // tfjs-backend-wasm's threaded build (see src/runtime/wasm-threads.ts)
      compiledShared ??= new WebAssembly.Module(withSharedMemoryImport(Uint8Array.from(atob(GANC_WASM_BASE64), (c) => c.charCodeAt(0))));
      module = compiledShared;
    }
    inst = new WebAssembly.Instance(module, { env: { memory } }).exports as unknown as GancWasm;
    instances.set(memory, inst);
  }
  return inst;
}

/** How many helper threads the element-wise kernels have on `backend` (0: they run on the calling thread alone). */
export function helperThreads(backend: tf.KernelBackend): number {
  gancWasm(backend);
  return helperPool(backend)?.helpers ?? 0;
}

/** Helper threads for the element-wise kernels on a shared heap, as many as tfjs's pool has (pool.ts). */
function helperPool(backend: tf.KernelBackend): Pool | undefined {
  const b = wasmBackend(backend);
  const memory = b.wasm.asm?.memory ?? b.wasm.wasmMemory;
  if (!(memory instanceof WebAssembly.Memory) || compiledShared === undefined) return undefined;
  if (typeof SharedArrayBuffer === "undefined" || !(memory.buffer instanceof SharedArrayBuffer)) return undefined;
  return poolFor(memory, compiledShared, b.wasm.tfjs?.getThreadsCount?.() ?? 1);
}

/**
 * Runs ganc.wat's `name` over n units (elements, or rows of `perUnit` elements) on the calling thread, or cut into
 * ranges over the helper threads where the heap is shared (the threaded build) and the work is large enough:
 * `args(lo, hi)` gives the kernel's arguments for units [lo, hi). Only for kernels that compute each unit alone
 * (pool.ts, POOLED), so the results do not depend on the cut.
 */
function split(backend: tf.KernelBackend, name: (typeof POOLED)[number], n: number, perUnit: number, args: (lo: number, hi: number) => number[]): void {
  const k = gancWasm(backend) as unknown as Record<string, (...a: number[]) => void>;
  // (under 8 units the cut would leave a helper nothing: the ranges are multiples of 4)
  const pool = n >= 8 && n * perUnit >= splitMin ? helperPool(backend) : undefined;
  if (pool === undefined) k[name]!(...args(0, n));
  else {
    pool.run(fnIndex(name), n, args, (a) => k[name]!(...a));
    splitRuns.set(name, (splitRuns.get(name) ?? 0) + 1);
  }
}

/** The elements below which a kernel runs on the calling thread alone (waking the helpers costs more). */
let splitMin = MIN_PARALLEL;
/** How many calls of each kernel ran on the helpers too (for tests). */
export const splitRuns = new Map<string, number>();
/** Sets the size below which kernels run on the calling thread alone (Infinity: always; for tests); returns the old one. */
export function setSplitMin(elements: number): number {
  const old = splitMin;
  splitMin = elements;
  return old;
}

/** Kernel name of the one-kernel Adam step over a group (see makeAdamKernel). */
export const GANC_ADAM = "GancAdam";

export interface AdamKernelAttrs {
  /** Number of variables k: inputs are g0..g{k-1}, w0..w{k-1}, m, v, acc1, acc2. */
  count: number;
  beta1: number;
  beta2: number;
  epsilon: number;
  learningRate: number;
}

const f32 = Math.fround;

/**
 * One Adam step over every variable of a group: inputs g_i (gradients), w_i (values), m and v (the
 * group's flat moment buffers, variables end to end), acc1 and acc2 (the running products
 * beta^t); outputs the new w_i, m, v, acc1, acc2. Bit for bit the element-wise chain of FusedAdam
 * (and so of tf.train.adam): the same float32 operations in the same order, with the constants
 * rounded to float32 as tf.scalar would.
 */
export function makeAdamKernel(): tf.KernelFunc {
  return (({ inputs, backend, attrs }: { inputs: tf.NamedTensorInfoMap; backend: tf.KernelBackend; attrs: tf.NamedAttrMap }): tf.TensorInfo[] => {
    const b = wasmBackend(backend);
    const a = attrs as unknown as AdamKernelAttrs;
    const ins = inputs as Record<string, tf.TensorInfo>;
    const g = Array.from({ length: a.count }, (_, i) => ins[`g${i}`]!);
    const w = Array.from({ length: a.count }, (_, i) => ins[`w${i}`]!);
    const { m, v, acc1, acc2 } = ins as Record<"m" | "v" | "acc1" | "acc2", tf.TensorInfo>;
    const outs = [
      ...w.map((t) => b.makeOutput([...t.shape], "float32")),
      b.makeOutput([...m.shape], "float32"),
      b.makeOutput([...v.shape], "float32"),
      b.makeOutput([], "float32"),
      b.makeOutput([], "float32"),
    ];
    const accBeta1 = b.typedArrayFromHeap(acc1)[0]!;
    const accBeta2 = b.typedArrayFromHeap(acc2)[0]!;
    const b1 = f32(a.beta1);
    const b2 = f32(a.beta2);
    const c1 = f32(1 - a.beta1);
    const c2 = f32(1 - a.beta2);
    const oma1 = f32(1 - accBeta1);
    const oma2 = f32(1 - accBeta2);
    const eps = f32(a.epsilon);
    const nlr = f32(-a.learningRate);
    const at = (t: tf.TensorInfo) => b.getMemoryOffset(t.dataId);
    const mo = outs[a.count]!;
    const vo = outs[a.count + 1]!;
    let offset = 0;
    for (let i = 0; i < a.count; i++) {
      const n = size(w[i]!);
      const byte = offset * 4;
      const [gi, mi, vi, wi, moi, voi, woi] = [at(g[i]!), at(m) + byte, at(v) + byte, at(w[i]!), at(mo) + byte, at(vo) + byte, at(outs[i]!)];
      // element by element: the same values whichever thread computes which range
      split(backend, "adam", n, 1, (lo, hi) => [gi + lo * 4, mi + lo * 4, vi + lo * 4, wi + lo * 4, moi + lo * 4, voi + lo * 4, woi + lo * 4, hi - lo, b1, c1, b2, c2, oma1, oma2, eps, nlr]);
      offset += n;
    }
    if (offset !== size(m)) throw new Error(`${GANC_ADAM}: the variables hold ${offset} values, the moments ${m.shape}`);
    b.typedArrayFromHeap(outs[a.count + 2]!)[0] = f32(accBeta1 * b1);
    b.typedArrayFromHeap(outs[a.count + 3]!)[0] = f32(accBeta2 * b2);
    return outs;
  }) as unknown as tf.KernelFunc;
}


/** Kernel name of batch norm's backward factors for the layers of one forward pass (makeBnFactorsKernel). */
export const GANC_BN_FACTORS = "GancBnFactors";

export interface BnFactorsAttrs {
  /** One epsilon per input v0..v{k-1} (the layers' batch variances). */
  epsilons: number[];
}

/**
 * For each batch variance v_i: r_i = rsqrt(v_i + eps_i) and ((r_i * r_i) * r_i) * -0.5, the factors
 * tfjs's FusedBatchNorm gradient computes; outputs r_0..r_{k-1}, then the second factors. Bit for bit
 * the Add, Rsqrt and Multiply kernels of the chain it replaces.
 */
export function makeBnFactorsKernel(): tf.KernelFunc {
  return (({ inputs, backend, attrs }: { inputs: tf.NamedTensorInfoMap; backend: tf.KernelBackend; attrs: tf.NamedAttrMap }): tf.TensorInfo[] => {
    const b = wasmBackend(backend);
    const { epsilons } = attrs as unknown as BnFactorsAttrs;
    const vs = epsilons.map((_, i) => (inputs as Record<string, tf.TensorInfo>)[`v${i}`]!);
    const rs = vs.map((v) => b.makeOutput([...v.shape], "float32"));
    const mhs = vs.map((v) => b.makeOutput([...v.shape], "float32"));
    const k = gancWasm(backend);
    vs.forEach((v, i) =>
      k.bn_factors(b.getMemoryOffset(v.dataId), b.getMemoryOffset(rs[i]!.dataId), b.getMemoryOffset(mhs[i]!.dataId), size(v), f32(epsilons[i]!)),
    );
    return [...rs, ...mhs];
  }) as unknown as tf.KernelFunc;
}

/**
 * Spectral norm's power-iteration step for w [n, out] and u [1, out] (float32): outputs v [1, n] and u' [1, out],
 * computed in float64 by ganc.wat power_step with the operations of powerStep64 (src/runtime/ops.ts) in its order,
 * so the same bits, on the tensors where they lie: no read-back of w and u and no upload of the two results, and
 * the rows and columns two at a time.
 */
export function makePowerStepKernel(): tf.KernelFunc {
  return (({ inputs, backend }: { inputs: tf.NamedTensorInfoMap; backend: tf.KernelBackend }): tf.TensorInfo[] => {
    const { w, u } = inputs as Record<string, tf.TensorInfo | undefined>;
    if (w?.dtype !== "float32" || u?.dtype !== "float32" || w.shape.length !== 2 || size(u) !== w.shape[1] || size(w) === 0) {
      throw new Error(`${GANC_POWER_STEP}: w must be a non-empty float32 [n, out] and u float32 with out values`);
    }
    const [n, out] = w.shape as [number, number];
    const b = wasmBackend(backend);
    const v = b.makeOutput([1, n], "float32");
    const un = b.makeOutput([1, out], "float32");
    const scratch = b.makeOutput([2 * (n + out)], "float32"); // n + out doubles
    const at = (t: tf.TensorInfo) => b.getMemoryOffset(t.dataId);
    if (at(scratch) % 8 !== 0) throw new Error(`${GANC_POWER_STEP}: scratch memory is not 8-byte aligned`);
    gancWasm(backend).power_step(at(w), at(u), n, out, at(scratch), at(scratch) + 8 * n, at(v), at(un));
    backend.disposeData(scratch.dataId);
    return [v, un];
  }) as unknown as tf.KernelFunc;
}

/** Kernel name of the moving-average update of a forward pass's batch-norm layers (makeMovingAveragesKernel). */
export const GANC_MOVING_AVERAGES = "GancMovingAverages";

export interface MovingAveragesAttrs {
  /** Inputs moving0, batch0, ..., moving{count-1}, batch{count-1}. */
  count: number;
  decay: number;
  /** How many updates with the same batch statistics (2: a pass and its replay). */
  times: number;
}

/**
 * moving_i' = moving_i * decay + batch_i * (1 - decay), `times` times, for every pair; outputs the new
 * moving values in input order. Bit for bit the Multiply and Add kernels of the chain it replaces.
 */
export function makeMovingAveragesKernel(): tf.KernelFunc {
  return (({ inputs, backend, attrs }: { inputs: tf.NamedTensorInfoMap; backend: tf.KernelBackend; attrs: tf.NamedAttrMap }): tf.TensorInfo[] => {
    const b = wasmBackend(backend);
    const { count, decay, times } = attrs as unknown as MovingAveragesAttrs;
    const ins = inputs as Record<string, tf.TensorInfo>;
    const moving = Array.from({ length: count }, (_, i) => ins[`moving${i}`]!);
    const batch = Array.from({ length: count }, (_, i) => ins[`batch${i}`]!);
    const outs = moving.map((m) => b.makeOutput([...m.shape], "float32"));
    const k = gancWasm(backend);
    moving.forEach((m, i) => {
      if (size(batch[i]!) !== size(m)) throw new Error(`${GANC_MOVING_AVERAGES}: batch${i} and moving${i} differ in size`);
      k.moving_average(
        b.getMemoryOffset(m.dataId),
        b.getMemoryOffset(batch[i]!.dataId),
        b.getMemoryOffset(outs[i]!.dataId),
        size(m),
        f32(decay),
        f32(1 - decay),
        times,
      );
    });
    return outs;
  }) as unknown as tf.KernelFunc;
}

/**
 * x's shape with the reduced axes `axes` as [a, r1, b, r2, c] (strided_sum's view: kept, reduced, kept,
 * reduced, kept), or null when the reduction is not of that form (it reduces the last axis, or its
 * reduced axes form more than two runs). Axes of size 1 are left out; adjacent axes of the same kind
 * merge, since they lie together in memory.
 */
export function stridedReduceView(shape: readonly number[], axes: readonly number[]): [number, number, number, number, number] | null {
  const runs: { reduced: boolean; size: number }[] = [];
  shape.forEach((d, i) => {
    if (d === 1) return;
    const reduced = axes.includes(i);
    const last = runs[runs.length - 1];
    if (last !== undefined && last.reduced === reduced) last.size *= d;
    else runs.push({ reduced, size: d });
  });
  if (runs.length === 0 || runs[runs.length - 1]!.reduced || !runs.some((r) => r.reduced)) return null;
  if (runs[0]!.reduced) runs.unshift({ reduced: false, size: 1 });
  const s = runs.map((r) => r.size);
  if (s.length === 3) return [s[0]!, s[1]!, 1, 1, s[2]!];
  if (s.length === 5) return [s[0]!, s[1]!, s[2]!, s[3]!, s[4]!];
  return null;
}

/**
 * Sum (and Mean) that keeps the last axis: bias and batch-norm gradients and batch statistics (every
 * axis but the last), 2x2 average pooling written as a mean over [n, h/2, 2, w/2, 2, c], and the
 * gradient of a nearest-neighbour upsampling (a sum over the same view). Summed where the tensor
 * lies, a row of channels at a time, instead of the stock kernel's transpose of the reduced axes to
 * the inside and its row sums: each output is still added up from 0 in the same order (the reduced
 * axes' row-major order), and Mean divides the sum by the count in float32 as the stock kernel does,
 * so results are bit for bit the stock ones. Other reductions and dtypes go to the stock kernel.
 */
export function makeColumnReduceKernel(kind: "sum" | "mean", stock: tf.KernelFunc): tf.KernelFunc {
  return (({ inputs, backend, attrs }: { inputs: tf.NamedTensorInfoMap; backend: tf.KernelBackend; attrs: tf.NamedAttrMap }): tf.TensorInfo => {
    const { x } = inputs as { x: tf.TensorInfo };
    const { axis, keepDims } = attrs as unknown as tf.SumAttrs;
    const axes = tf.util.parseAxisParam(axis, x.shape);
    const view = x.dtype === "float32" && size(x) > 0 ? stridedReduceView(x.shape, axes) : null;
    if (view === null) return stock({ inputs, backend, attrs }) as tf.TensorInfo;
    const [a, r1, bb, r2, cols] = view;
    const b = wasmBackend(backend);
    const outShape = keepDims ? x.shape.map((d, i) => (axes.includes(i) ? 1 : d)) : x.shape.filter((_, i) => !axes.includes(i));
    const out = b.makeOutput(outShape, "float32");
    const k = gancWasm(backend);
    const xAt = b.getMemoryOffset(x.dataId);
    const outAt = b.getMemoryOffset(out.dataId);
    if (a === 1 && bb === 1) k.column_sum(xAt, outAt, r1, cols);
    else k.strided_sum(xAt, outAt, a, r1, bb, r2, cols);
    if (kind === "mean") divideBy(backend, out, size(x) / size(out));
    return out;
  }) as unknown as tf.KernelFunc;
}

/**
 * out = out / count in float32, in place: Mean's division of its sums, as the stock kernel divides (float32
 * division is correctly rounded, as float32(x / count) computed in doubles is). In wasm (ganc.wat divide) where
 * the count is a float32 (below 2^24 always), else in doubles here.
 */
function divideBy(backend: tf.KernelBackend, out: tf.TensorInfo, count: number): void {
  const b = wasmBackend(backend);
  if (f32(count) === count) gancWasm(backend).divide(b.getMemoryOffset(out.dataId), size(out), count);
  else {
    const values = b.typedArrayFromHeap(out) as Float32Array;
    for (let i = 0; i < values.length; i++) values[i] = f32(values[i]! / count);
  }
}

/**
 * Batch norm's forward pass (FusedBatchNorm) over channels-last x, with the mean, variance, offset and
 * scale of its last axis: one SIMD pass (ganc.wat batch_norm) instead of the stock kernel's element-by-
 * element loop with its modulo indices. The same arithmetic in the same precisions: nf = sqrt(variance
 * + eps) in float32, kept as a double, and out = float32(offset + float32((x - mean) * scale) / nf) with
 * the division and the sum in float64, so results are bit for bit the stock ones. Anything else
 * (per-element statistics, other dtypes) goes to the stock kernel.
 */
export function makeBatchNormKernel(stock: tf.KernelFunc): tf.KernelFunc {
  return (({ inputs, backend, attrs }: { inputs: tf.NamedTensorInfoMap; backend: tf.KernelBackend; attrs: tf.NamedAttrMap }): tf.TensorInfo => {
    const { x, mean, variance, offset, scale } = inputs as Record<string, tf.TensorInfo | undefined>;
    const { varianceEpsilon } = attrs as unknown as tf.FusedBatchNormAttrs;
    const cols = x!.shape[x!.shape.length - 1] ?? 0;
    const perChannel = (t: tf.TensorInfo | undefined, optional: boolean) => (t === undefined || t === null ? optional : t.dtype === "float32" && size(t) === cols);
    if (x!.dtype !== "float32" || cols === 0 || size(x!) === 0 || !perChannel(mean, false) || !perChannel(variance, false) || !perChannel(offset, true) || !perChannel(scale, true)) {
      return stock({ inputs, backend, attrs }) as tf.TensorInfo;
    }
    const out = wasmBackend(backend).makeOutput([...x!.shape], "float32");
    normalize(backend, x!, out, mean!, variance!, offset ?? null, scale ?? null, varianceEpsilon, false);
    return out;
  }) as unknown as tf.KernelFunc;
}

/** out = batch norm of x [.., cols] with these per-channel values, as the stock FusedBatchNorm computes it (ganc.wat batch_norm). */
function normalize(
  backend: tf.KernelBackend,
  x: tf.TensorInfo,
  out: tf.TensorInfo,
  mean: tf.TensorInfo,
  variance: tf.TensorInfo,
  offset: tf.TensorInfo | null,
  scale: tf.TensorInfo | null,
  varianceEpsilon: number,
  /** Whether each value then goes through the stock Relu (batch norm hosting a relu layer). */
  relu: boolean,
): void {
  const b = wasmBackend(backend);
  const cols = x.shape[x.shape.length - 1]!;
  const params = b.makeOutput([6 * cols], "float32");
  // views after the last allocation: a grown heap detaches earlier ones
  const M = b.typedArrayFromHeap(mean) as Float32Array;
  const V = b.typedArrayFromHeap(variance) as Float32Array;
  const O = offset ? (b.typedArrayFromHeap(offset) as Float32Array) : null;
  const S = scale ? (b.typedArrayFromHeap(scale) as Float32Array) : null;
  const P = b.typedArrayFromHeap(params) as Float32Array;
  const doubles = new DataView(P.buffer, P.byteOffset + 8 * cols, 16 * cols);
  const eps = f32(varianceEpsilon);
  for (let c = 0; c < cols; c++) {
    P[c] = M[c]!;
    P[cols + c] = S ? S[c]! : 1;
    doubles.setFloat64(8 * c, f32(Math.sqrt(f32(V[c]! + eps))), true);
    doubles.setFloat64(8 * (cols + c), O ? O[c]! : 0, true);
  }
  const [xAt, outAt, paramsAt] = [b.getMemoryOffset(x.dataId), b.getMemoryOffset(out.dataId), b.getMemoryOffset(params.dataId)];
  split(backend, "batch_norm", size(x) / cols, cols, (lo, hi) => [xAt + 4 * lo * cols, outAt + 4 * lo * cols, hi - lo, cols, paramsAt, relu ? 1 : 0]);
  backend.disposeData(params.dataId);
}

/**
 * Batch norm's forward pass in training over channels-last x [.., cols], with its optional scale and offset:
 * outputs y and the batch mean and variance [cols]. The kernels it replaces in a fused net were Mean, Sub,
 * Square, Mean and FusedBatchNorm (tf.moments and tf.batchNorm, what the layer-by-layer trainer runs); here
 * three passes over x: its column sums (column_sum), the column sums of (x - mean)^2 (bn_sumsq), and the
 * normalization (batch_norm). Each value is the float32 operation of the stock kernel, summed in the same
 * order and divided by the count as Mean does, so every output is bit for bit that chain's. With the attribute
 * activation "relu", y is the stock Relu of that (a batch-norm layer hosting the relu layer after it). The centred
 * copy x - mean that the chain makes is not written: the backward pass (makeBatchNormGradKernel) reads x and
 * the mean and subtracts again, the same float32 Sub, which saves a write of x's size and the buffer.
 */
export function makeBatchNormTrainKernel(): tf.KernelFunc {
  return (({ inputs, backend, attrs }: { inputs: tf.NamedTensorInfoMap; backend: tf.KernelBackend; attrs: tf.NamedAttrMap }): tf.TensorInfo[] => {
    const { x, scale, offset } = inputs as Record<string, tf.TensorInfo | undefined>;
    const { varianceEpsilon } = attrs as unknown as tf.FusedBatchNormAttrs;
    const cols = x!.shape[x!.shape.length - 1] ?? 0;
    if (x!.dtype !== "float32" || cols === 0 || size(x!) === 0) throw new Error(`${GANC_BN_TRAIN}: x must be a non-empty float32 tensor`);
    const rows = size(x!) / cols;
    const b = wasmBackend(backend);
    const mean = b.makeOutput([cols], "float32");
    const variance = b.makeOutput([cols], "float32");
    const y = b.makeOutput([...x!.shape], "float32");
    const k = gancWasm(backend);
    k.column_sum(b.getMemoryOffset(x!.dataId), b.getMemoryOffset(mean.dataId), rows, cols);
    divideBy(backend, mean, rows);
    k.bn_sumsq(b.getMemoryOffset(x!.dataId), b.getMemoryOffset(mean.dataId), b.getMemoryOffset(variance.dataId), rows, cols);
    divideBy(backend, variance, rows);
    normalize(backend, x!, y, mean, variance, offset ?? null, scale ?? null, varianceEpsilon, (attrs as { activation?: string }).activation === "relu");
    return [y, mean, variance];
  }) as unknown as tf.KernelFunc;
}

export interface BatchNormGradAttrs {
  /** Whether to compute dx (outputs dgamma, dbeta, dx) or only the two sums (dgamma, dbeta). */
  needDx: boolean;
}

/**
 * Batch norm's backward pass over channels-last dy and x [.., cols] (xc = x - mean computed in each pass from x
 * and the batch mean, as the forward pass's chain computes it), from the per-channel r = rsqrt(var + eps),
 * mh = -0.5 r^3 and the optional gamma, adding dx to the optional `into` (the gradient x already has): outputs
 * dgamma = sum(dy * (xc * r)), dbeta = sum(dy) and, with needDx, dx. The chain of about 20 kernels written out in
 * src/layers/batchnorm.ts (tfjs's tape through tf.moments and tf.batchNorm) in three passes: the four column
 * sums together (bn_grad_sums), the sum of dxc = xc * ((dvar / n) * 2) (bn_grad_center_sum), and dx
 * (bn_grad_dx); the per-channel steps between them in float32 here. Same operations, operand order and
 * summation order, so bit for bit that chain.
 */
export function makeBatchNormGradKernel(): tf.KernelFunc {
  return (({ inputs, backend, attrs }: { inputs: tf.NamedTensorInfoMap; backend: tf.KernelBackend; attrs: tf.NamedAttrMap }): tf.TensorInfo[] => {
    const { dy, x, mean, r, mh, gamma, into } = inputs as Record<string, tf.TensorInfo | undefined>;
    const { needDx } = attrs as unknown as BatchNormGradAttrs;
    const cols = x!.shape[x!.shape.length - 1] ?? 0;
    if (cols === 0 || size(x!) === 0 || size(dy!) !== size(x!) || (into && size(into) !== size(x!)) || size(mean!) !== cols) throw new Error(`${GANC_BN_GRAD}: dy, x and into must be non-empty and of one size, and mean one value per channel`);
    const rows = size(x!) / cols;
    const b = wasmBackend(backend);
    const k = gancWasm(backend);
    const pc = b.makeOutput([4 * cols], "float32");
    const acc = b.makeOutput([4 * cols], "float32");
    const dgamma = b.makeOutput([cols], "float32");
    const dbeta = b.makeOutput([cols], "float32");
    const sumDxc = needDx ? b.makeOutput([cols], "float32") : null;
    const dx = needDx ? b.makeOutput([...x!.shape], "float32") : null;
    const heap = (t: tf.TensorInfo) => b.typedArrayFromHeap(t) as Float32Array;
    const at = (t: tf.TensorInfo) => b.getMemoryOffset(t.dataId);
    let P = heap(pc);
    P.set(heap(r!), 0);
    P.set(heap(mh!), cols);
    if (gamma) P.set(heap(gamma), 2 * cols);
    k.bn_grad_sums(at(dy!), at(x!), at(mean!), at(pc), at(acc), rows, cols, gamma ? 1 : 0);
    const A = heap(acc);
    heap(dgamma).set(A.subarray(0, cols));
    heap(dbeta).set(A.subarray(cols, 2 * cols));
    if (needDx) {
      // pc becomes r (as it is), gamma, k = (dvar / n) * 2, then dx3 = (sum(r * dyg) + sum(xc * k)) / -n
      P = heap(pc);
      if (gamma) P.set(heap(gamma), cols);
      for (let c = 0; c < cols; c++) P[2 * cols + c] = f32(f32(A[2 * cols + c]! / rows) * 2);
      k.bn_grad_center_sum(at(x!), at(mean!), at(pc) + 8 * cols, at(sumDxc!), rows, cols);
      const S = heap(sumDxc!);
      const A2 = heap(acc);
      const P2 = heap(pc);
      for (let c = 0; c < cols; c++) P2[3 * cols + c] = f32(f32(A2[3 * cols + c]! + S[c]!) / -rows);
      const [dyAt, xAt, meanAt, intoAt, dxAt, pcAt] = [at(dy!), at(x!), at(mean!), into ? at(into) : 0, at(dx!), at(pc)];
      split(backend, "bn_grad_dx", rows, cols, (lo, hi) => {
        const o = 4 * lo * cols;
        return [dyAt + o, xAt + o, meanAt, intoAt === 0 ? 0 : intoAt + o, dxAt + o, pcAt, hi - lo, cols, gamma ? 1 : 0];
      });
      backend.disposeData(sumDxc!.dataId);
    }
    backend.disposeData(pc.dataId);
    backend.disposeData(acc.dataId);
    return dx ? [dgamma, dbeta, dx] : [dgamma, dbeta];
  }) as unknown as tf.KernelFunc;
}

let expTable: BigUint64Array | undefined;

/**
 * The table of ganc.wat's expf, as musl's expf has it: for i < 32, the bits of the double nearest 2^(i/32) minus
 * (i << 52) / 32. Computed exactly in integers (the 32nd root of 2^(32 * 68 + i), rounded to 53 bits).
 */
export function expfTable(): BigUint64Array {
  if (expTable !== undefined) return expTable;
  const root32 = (a: bigint): bigint => {
    let lo = 0n;
    let hi = 1n;
    while (hi ** 32n <= a) hi <<= 1n;
    while (hi - lo > 1n) {
      const mid = (lo + hi) >> 1n;
      if (mid ** 32n <= a) lo = mid;
      else hi = mid;
    }
    return lo;
  };
  const t = new BigUint64Array(32);
  for (let i = 0; i < 32; i++) {
    const f = root32(1n << (68n * 32n + BigInt(i))); // floor(2^(68 + i/32)), never a tie (irrational for i > 0)
    const m = (f >> 16n) + ((f >> 15n) & 1n); // 2^(i/32) * 2^52 to the nearest integer, in [2^52, 2^53)
    t[i] = ((0x3ffn << 52n) | (m - (1n << 52n))) - (BigInt(i) << 47n);
  }
  return (expTable = t);
}

/** A tensor's byte offset on the wasm heap. */
const heapAt = (b: WasmBackendLike, t: tf.TensorInfo): number => b.getMemoryOffset(t.dataId);

/** Runs `fn` with expfTable()'s 32 entries on the heap (ganc.wat's expf reads them there), freed after. */
function withExpTable(backend: tf.KernelBackend, fn: (tabAt: number) => void): void {
  const b = wasmBackend(backend);
  const tab = b.makeOutput([64], "float32");
  const T = b.typedArrayFromHeap(tab) as Float32Array;
  new BigUint64Array(T.buffer, T.byteOffset, 32).set(expfTable());
  try {
    fn(heapAt(b, tab));
  } finally {
    backend.disposeData(tab.dataId);
  }
}

/**
 * Exp on float32 tensors as the stock kernel computes it, 4 values a step (ganc.wat expf: musl's expf, the
 * function the stock kernel calls per element, in float64 pairs): 10-20x faster on large tensors (attention's
 * softmax), bit for bit the stock kernel on every input (test/runtime/wasm-kernels.test.ts compares all 2^32
 * floats with ganc's port of expf in JavaScript, and millions of them with the stock kernel). Other dtypes go to
 * the stock kernel.
 */
export function makeExpKernel(stock: tf.KernelFunc): tf.KernelFunc {
  return (({ inputs, backend, attrs }: { inputs: tf.NamedTensorInfoMap; backend: tf.KernelBackend; attrs: tf.NamedAttrMap }): tf.TensorInfo => {
    const { x } = inputs as { x: tf.TensorInfo };
    if (x.dtype !== "float32" || size(x) === 0) return stock({ inputs, backend, attrs }) as tf.TensorInfo;
    const b = wasmBackend(backend);
    const out = b.makeOutput([...x.shape], "float32");
    const [xAt, outAt] = [heapAt(b, x), heapAt(b, out)];
    withExpTable(backend, (tabAt) => split(backend, "expf", size(x), 1, (lo, hi) => [xAt + 4 * lo, outAt + 4 * lo, hi - lo, tabAt]));
    return out;
  }) as unknown as tf.KernelFunc;
}

/**
 * relu's gradient from its output: dy * step(y, alpha) (Step, then Multiply, as tfjs's relu gradient and ganc's relu
 * and leakyrelu modules write it: alpha 0 for relu, the slope for leaky relu; attribute `alpha`, default 0) in one
 * pass over the two tensors instead of two kernels and a temporary (ganc.wat relu_grad, bit for bit the pair). dy
 * and y float32 of one size.
 */
export function makeReluGradKernel(): tf.KernelFunc {
  return (({ inputs, backend, attrs }: { inputs: tf.NamedTensorInfoMap; backend: tf.KernelBackend; attrs?: tf.NamedAttrMap }): tf.TensorInfo => {
    const { dy, y } = inputs as Record<string, tf.TensorInfo | undefined>;
    const alpha = Number((attrs as { alpha?: number } | undefined)?.alpha ?? 0); // a float32 parameter of the wasm function, as Step's
    if (dy?.dtype !== "float32" || y?.dtype !== "float32" || size(dy) !== size(y)) throw new Error(`${GANC_RELU_GRAD}: dy and y must be float32 tensors of one size`);
    const b = wasmBackend(backend);
    const out = b.makeOutput([...dy.shape], "float32");
    const [dyAt, yAt, outAt] = [b.getMemoryOffset(dy.dataId), b.getMemoryOffset(y.dataId), b.getMemoryOffset(out.dataId)];
    if (size(dy) > 0) split(backend, "relu_grad", size(dy), 1, (lo, hi) => [dyAt + 4 * lo, yAt + 4 * lo, outAt + 4 * lo, hi - lo, alpha]);
    return out;
  }) as unknown as tf.KernelFunc;
}

/**
 * attention.ts's 2x2 max pooling (a one-hot mask of each window's first largest entry, the window times the mask,
 * summed: differentiable twice, for gradient penalties) as three kernels instead of nine (Reshape, Transpose,
 * ArgMax, OneHot, Cast, Multiply, Sum; and the transposes back in the backward pass), each one pass over the tensors:
 *
 *   GancMaxPool2Index {x} -> idx          int32 [b, h/2, w/2, c]: the mask as the index of its 1
 *   GancMaxPool2 {x, idx} -> y            float32: the window times the mask, summed (ganc.wat max_pool2)
 *   GancMaxPool2Grad {dy, idx} -> dx      float32 [b, 2 h', 2 w', c]: dy times the mask, spread over the window
 *
 * bit for bit the chain's values (ganc.wat says how). x and dy float32 with even height and width. Their
 * gradients (src/runtime/ops.ts) close the set: GancMaxPool2's is GancMaxPool2Grad, GancMaxPool2Grad's is
 * GancMaxPool2 on the same idx, the index's is zero.
 */
export function makeMaxPool2Kernels(): { index: tf.KernelFunc; pool: tf.KernelFunc; grad: tf.KernelFunc } {
  type Args = { inputs: tf.NamedTensorInfoMap; backend: tf.KernelBackend };
  const dims = (t: tf.TensorInfo | undefined, name: string, kernel: string, dtype: string, pooled: boolean) => {
    if (t?.dtype !== dtype || t.shape.length !== 4 || (!pooled && (t.shape[1]! % 2 !== 0 || t.shape[2]! % 2 !== 0))) {
      throw new Error(`${kernel}: ${name} must be a ${dtype} [b, h, w, c] tensor${pooled ? "" : " with h and w even"}`);
    }
    return t.shape as [number, number, number, number];
  };
  const index = (({ inputs, backend }: Args): tf.TensorInfo => {
    const [n, h, w, c] = dims(inputs.x, "x", GANC_MAX_POOL2_INDEX, "float32", false);
    const b = wasmBackend(backend);
    const idx = b.makeOutput([n, h / 2, w / 2, c], "int32");
    if (size(idx) > 0) gancWasm(backend).max_pool2_index(heapAt(b, inputs.x!), heapAt(b, idx), (n * h) / 2, w, c);
    return idx;
  }) as unknown as tf.KernelFunc;
  const pool = (({ inputs, backend }: Args): tf.TensorInfo => {
    const [n, h, w, c] = dims(inputs.x, "x", GANC_MAX_POOL2, "float32", false);
    const idxShape = dims(inputs.idx, "idx", GANC_MAX_POOL2, "int32", true);
    if (idxShape.join() !== [n, h / 2, w / 2, c].join()) throw new Error(`${GANC_MAX_POOL2}: idx must be [${[n, h / 2, w / 2, c]}]`);
    const b = wasmBackend(backend);
    const y = b.makeOutput([...idxShape], "float32");
    if (size(y) > 0) gancWasm(backend).max_pool2(heapAt(b, inputs.x!), heapAt(b, inputs.idx!), heapAt(b, y), (n * h) / 2, w, c);
    return y;
  }) as unknown as tf.KernelFunc;
  const grad = (({ inputs, backend }: Args): tf.TensorInfo => {
    const [n, ho, wo, c] = dims(inputs.dy, "dy", GANC_MAX_POOL2_GRAD, "float32", true);
    const idxShape = dims(inputs.idx, "idx", GANC_MAX_POOL2_GRAD, "int32", true);
    if (idxShape.join() !== [n, ho, wo, c].join()) throw new Error(`${GANC_MAX_POOL2_GRAD}: dy and idx must have one shape`);
    const b = wasmBackend(backend);
    const dx = b.makeOutput([n, 2 * ho, 2 * wo, c], "float32");
    if (size(dx) > 0) gancWasm(backend).max_pool2_grad(heapAt(b, inputs.dy!), heapAt(b, inputs.idx!), heapAt(b, dx), n * ho, 2 * wo, c);
    return dx;
  }) as unknown as tf.KernelFunc;
  return { index, pool, grad };
}

/**
 * attention.ts's softmax over the last axis of the attention scores s, as its chain of kernels computes it (Max off
 * the tape, Sub, Exp, Sum, RealDiv), and its backward pass as the layer writes the tape out (RealDiv's gradient,
 * Multiply, Sum, Square, RealDiv, Neg, Add, Exp's Multiply, the maximum's zero gradient added): two kernels
 * instead of five and nine, each one pass over the rows (ganc.wat softmax_rows, softmax_grad_rows says how the bits
 * stay the chain's).
 *
 *   GancSoftmax {s} -> [e, sums, attn]    e = exp(s - rowmax), sums = its row sums (last axis kept, as 1), attn = e / sums
 *   GancSoftmaxGrad {dy, e, sums} -> ds   the gradient of attn's dy at s
 *
 * Their gradients are in src/runtime/ops.ts. s, dy and e float32 of one shape, rank 1 or more.
 */
export function makeSoftmaxKernels(): { forward: tf.KernelFunc; grad: tf.KernelFunc } {
  type Args = { inputs: tf.NamedTensorInfoMap; backend: tf.KernelBackend };
  const rowsOf = (t: tf.TensorInfo | undefined, name: string, kernel: string) => {
    if (t?.dtype !== "float32" || t.shape.length === 0) throw new Error(`${kernel}: ${name} must be a float32 tensor of rank 1 or more`);
    const cols = t.shape[t.shape.length - 1]!;
    return { rows: cols === 0 ? 0 : size(t) / cols, cols, sumsShape: [...t.shape.slice(0, -1), 1] };
  };
  const forward = (({ inputs, backend }: Args): tf.TensorInfo[] => {
    const { rows, cols, sumsShape } = rowsOf(inputs.s, "s", GANC_SOFTMAX);
    const b = wasmBackend(backend);
    const s = inputs.s!;
    const [e, sums, attn] = [b.makeOutput([...s.shape], "float32"), b.makeOutput(sumsShape, "float32"), b.makeOutput([...s.shape], "float32")];
    if (rows > 0 && cols > 0) withExpTable(backend, (tabAt) => gancWasm(backend).softmax_rows(heapAt(b, s), heapAt(b, e), heapAt(b, sums), heapAt(b, attn), rows, cols, tabAt));
    return [e, sums, attn];
  }) as unknown as tf.KernelFunc;
  const grad = (({ inputs, backend }: Args): tf.TensorInfo => {
    const { rows, cols, sumsShape } = rowsOf(inputs.dy, "dy", GANC_SOFTMAX_GRAD);
    const { dy, e, sums } = inputs as Record<string, tf.TensorInfo>;
    if (e?.dtype !== "float32" || e.shape.join() !== dy!.shape.join() || sums?.dtype !== "float32" || sums.shape.join() !== sumsShape.join()) {
      throw new Error(`${GANC_SOFTMAX_GRAD}: e must be float32 of dy's shape, sums float32 [${sumsShape}]`);
    }
    const b = wasmBackend(backend);
    const ds = b.makeOutput([...dy!.shape], "float32");
    if (rows > 0 && cols > 0) gancWasm(backend).softmax_grad_rows(heapAt(b, dy!), heapAt(b, e), heapAt(b, sums), heapAt(b, ds), rows, cols);
    return ds;
  }) as unknown as tf.KernelFunc;
  return { forward, grad };
}

/**
 * Spectral norm's float32 steps in a fused net (src/runtime/fused/spectral.ts), each the ops it replaces bit for bit
 * (ganc.wat dot_seq and divide_to; the few per-channel values in JavaScript, each rounded to float32 as the ops do):
 *
 *   GancSnNormalize {kernel, s, un} -> [normalized, sigma]   sigma = the sum of s * un (s = v W, [1, out]), normalized = kernel / sigma
 *   GancSnGrad {dy, kernel, sigma, un} -> [dA, dVW]           dA = dy / sigma, dVW = -(sum(dy * kernel) / sigma^2) * un
 *
 * (rt.spectralNorm's Multiply, Sum and RealDiv; the backward pass's RealDiv, Multiply, Sum, Square, RealDiv, Neg and
 * Multiply.) The products v W and v^T dVW stay the backend's BatchMatMul. No gradients: spectral.ts runs them only
 * where no tape records (a second derivative through spectral norm's backward pass takes the ops).
 */
export function makeSpectralNormKernels(): { normalize: tf.KernelFunc; grad: tf.KernelFunc } {
  type Args = { inputs: tf.NamedTensorInfoMap; backend: tf.KernelBackend };
  const check = (kernel: string, ins: Record<string, tf.TensorInfo | undefined>, same: [string, string]) => {
    for (const [k, t] of Object.entries(ins)) if (t?.dtype !== "float32") throw new Error(`${kernel}: ${k} must be a float32 tensor`);
    if (size(ins[same[0]]!) !== size(ins[same[1]]!)) throw new Error(`${kernel}: ${same[0]} and ${same[1]} must have one size`);
  };
  const scalar = (b: WasmBackendLike, t: tf.TensorInfo) => (b.typedArrayFromHeap(t) as Float32Array)[0]!;
  const normalize = (({ inputs, backend }: Args): tf.TensorInfo[] => {
    const { kernel, s, un } = inputs as Record<string, tf.TensorInfo>;
    check(GANC_SN_NORMALIZE, { kernel, s, un }, ["s", "un"]);
    const b = wasmBackend(backend);
    const k = gancWasm(backend);
    const sigma = b.makeOutput([], "float32");
    const normalized = b.makeOutput([...kernel!.shape], "float32");
    const sg = Math.fround(k.dot_seq(heapAt(b, s!), heapAt(b, un!), size(s!)));
    (b.typedArrayFromHeap(sigma) as Float32Array)[0] = sg;
    k.divide_to(heapAt(b, kernel!), heapAt(b, normalized), size(kernel!), sg);
    return [normalized, sigma];
  }) as unknown as tf.KernelFunc;
  const grad = (({ inputs, backend }: Args): tf.TensorInfo[] => {
    const { dy, kernel, sigma, un } = inputs as Record<string, tf.TensorInfo>;
    check(GANC_SN_GRAD, { dy, kernel, sigma, un }, ["dy", "kernel"]);
    const b = wasmBackend(backend);
    const k = gancWasm(backend);
    const sg = scalar(b, sigma!);
    const dA = b.makeOutput([...dy!.shape], "float32");
    k.divide_to(heapAt(b, dy!), heapAt(b, dA), size(dy!), sg);
    const f = Math.fround;
    const dSigma = -f(f(k.dot_seq(heapAt(b, dy!), heapAt(b, kernel!), size(dy!))) / f(sg * sg));
    const dVW = b.makeOutput([...un!.shape], "float32");
    const [u, out] = [b.typedArrayFromHeap(un!) as Float32Array, b.typedArrayFromHeap(dVW) as Float32Array];
    for (let j = 0; j < out.length; j++) out[j] = dSigma * u[j]!;
    return [dA, dVW];
  }) as unknown as tf.KernelFunc;
  return { normalize, grad };
}

/**
 * Tile: x repeated reps[d] times along each axis d, as block copies on the heap. The stock kernel computes each
 * output element's source index with a division and a remainder per axis: 56 ms for the [1,1,1,128] -> [64,7,7,128]
 * tile that tfjs's batch-norm gradient makes (the layer-by-layer nets inside gradient penalties run it). Here
 * x's innermost rows are copied once each and every repetition is a copy of what is already written, doubling
 * (copyWithin), from the innermost axis out: a few dozen copies. Copies of the 4-byte values as integers, so bit
 * for bit the stock kernel's; other dtypes go to it.
 */
export function makeTileKernel(stock: tf.KernelFunc): tf.KernelFunc {
  return (({ inputs, backend, attrs }: { inputs: tf.NamedTensorInfoMap; backend: tf.KernelBackend; attrs: tf.NamedAttrMap }): tf.TensorInfo => {
    const { x } = inputs as { x: tf.TensorInfo };
    const { reps } = attrs as unknown as tf.TileAttrs;
    if ((x.dtype !== "float32" && x.dtype !== "int32") || reps.length !== x.shape.length || x.shape.length === 0 || size(x) === 0) {
      return stock({ inputs, backend, attrs }) as tf.TensorInfo;
    }
    const b = wasmBackend(backend);
    const outShape = x.shape.map((d, i) => d * reps[i]!);
    const out = b.makeOutput(outShape, x.dtype);
    if (size(out) === 0) return out;
    const heap = b.typedArrayFromHeap(x);
    const src = new Uint32Array(heap.buffer, heap.byteOffset, size(x));
    const outHeap = b.typedArrayFromHeap(out);
    const dst = new Uint32Array(outHeap.buffer, outHeap.byteOffset, size(out));
    tileInto(src, x.shape, reps, dst);
    return out;
  }) as unknown as tf.KernelFunc;
}

/** dst (row-major, shape[d] * reps[d] along each axis) = src (row-major, `shape`) tiled; see makeTileKernel. */
export function tileInto(src: Uint32Array, shape: readonly number[], reps: readonly number[], dst: Uint32Array): void {
  const r = shape.length;
  // elements of one index of axis d: of the input (strides) and of the output (blocks)
  const inStride = new Array<number>(r).fill(1);
  const outBlock = new Array<number>(r).fill(1);
  for (let d = r - 2; d >= 0; d--) {
    inStride[d] = inStride[d + 1]! * shape[d + 1]!;
    outBlock[d] = outBlock[d + 1]! * shape[d + 1]! * reps[d + 1]!;
  }
  /** Writes the output block for input offset `at` on axis d at `to`; it is shape[d] * reps[d] * outBlock[d] long. */
  const fill = (d: number, at: number, to: number): void => {
    const one = shape[d]! * outBlock[d]!;
    if (d === r - 1) dst.set(src.subarray(at, at + shape[d]!), to);
    else for (let i = 0; i < shape[d]!; i++) fill(d + 1, at + i * inStride[d]!, to + i * outBlock[d]!);
    // the repetitions along axis d: copies of what is written, each doubling it
    const total = one * reps[d]!;
    for (let done = one; done < total; done *= 2) dst.copyWithin(to + done, to, to + Math.min(done, total - done));
  };
  fill(0, 0, 0);
}

/**
 * Greater with a scalar b (x > 0 in tfjs's gradients of relu-like activations, where the activation's input is
 * large): one SIMD pass (ganc.wat greater_scalar) instead of the stock kernel's element-by-element broadcast, 2.6 ms
 * for 800K values. A comparison, so bit for bit; anything else goes to the stock kernel.
 */
export function makeGreaterKernel(stock: tf.KernelFunc): tf.KernelFunc {
  return (({ inputs, backend, attrs }: { inputs: tf.NamedTensorInfoMap; backend: tf.KernelBackend; attrs: tf.NamedAttrMap }): tf.TensorInfo => {
    const { a, b: s } = inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
    if (a.dtype !== "float32" || s.dtype !== "float32" || size(s) !== 1 || s.shape.length > a.shape.length || size(a) === 0) return stock({ inputs, backend, attrs }) as tf.TensorInfo;
    const b = wasmBackend(backend);
    const out = b.makeOutput([...a.shape], "bool");
    const value = (b.typedArrayFromHeap(s) as Float32Array)[0]!;
    const [aAt, outAt] = [b.getMemoryOffset(a.dataId), b.getMemoryOffset(out.dataId)];
    split(backend, "greater_scalar", size(a), 1, (lo, hi) => [aAt + 4 * lo, value, outAt + lo, hi - lo]); // bool: a byte each
    return out;
  }) as unknown as tf.KernelFunc;
}

/**
 * Select (tf.where) where the condition and both branches have one shape and the branches are float32 or int32:
 * one SIMD pass (ganc.wat select), the chosen value's bits as they are. Anything else goes to the stock kernel.
 */
export function makeSelectKernel(stock: tf.KernelFunc): tf.KernelFunc {
  return (({ inputs, backend, attrs }: { inputs: tf.NamedTensorInfoMap; backend: tf.KernelBackend; attrs: tf.NamedAttrMap }): tf.TensorInfo => {
    const { condition, t, e } = inputs as { condition: tf.TensorInfo; t: tf.TensorInfo; e: tf.TensorInfo };
    const n = size(t);
    const sameShape = (x: tf.TensorInfo) => x.shape.length === t.shape.length && x.shape.every((d, i) => d === t.shape[i]);
    if (condition.dtype !== "bool" || (t.dtype !== "float32" && t.dtype !== "int32") || e.dtype !== t.dtype || !sameShape(condition) || !sameShape(e) || n === 0) {
      return stock({ inputs, backend, attrs }) as tf.TensorInfo;
    }
    const b = wasmBackend(backend);
    const out = b.makeOutput([...t.shape], t.dtype);
    const at = (x: tf.TensorInfo) => b.getMemoryOffset(x.dataId);
    const [cAt, tAt, eAt, outAt] = [at(condition), at(t), at(e), at(out)];
    split(backend, "select", n, 1, (lo, hi) => [cAt + lo, tAt + 4 * lo, eAt + 4 * lo, outAt + 4 * lo, hi - lo]); // the condition: a byte each
    return out;
  }) as unknown as tf.KernelFunc;
}

/** A whole factor from `from` to `to` that is a power of two (so the stock kernel's scale, 1 / factor, is exact), or 0. */
function powerOfTwoFactor(from: number, to: number): number {
  const f = to / from;
  return Number.isInteger(f) && f >= 1 && (f & (f - 1)) === 0 ? f : 0;
}

/**
 * ResizeNearestNeighbor for upsampling by whole factors that are powers of two (nearest-neighbour `upsample`
 * layers), without aligned corners: every output pixel is the input pixel (floor(y / fh), floor(x / fw)), with
 * or without half-pixel centers (floor((y + 0.5) / f) is the same pixel), computed by the stock kernel from a
 * scale of 1 / f that is exact for these factors. Copied a row at a time (ganc.wat upsample_nearest) instead of
 * pixel by pixel. Anything else goes to the stock kernel.
 */
export function makeResizeNearestKernel(stock: tf.KernelFunc): tf.KernelFunc {
  return (({ inputs, backend, attrs }: { inputs: tf.NamedTensorInfoMap; backend: tf.KernelBackend; attrs: tf.NamedAttrMap }): tf.TensorInfo => {
    const { images } = inputs as { images: tf.TensorInfo };
    const { alignCorners, size: newSize } = attrs as unknown as tf.ResizeNearestNeighborAttrs;
    const [batch, h, w, c] = images.shape as [number, number, number, number];
    const fh = powerOfTwoFactor(h, newSize[0]);
    const fw = powerOfTwoFactor(w, newSize[1]);
    if (images.dtype !== "float32" || alignCorners || fh === 0 || fw === 0 || size(images) === 0) return stock({ inputs, backend, attrs }) as tf.TensorInfo;
    const b = wasmBackend(backend);
    const out = b.makeOutput([batch, h * fh, w * fw, c], "float32");
    const [inAt, outAt] = [b.getMemoryOffset(images.dataId), b.getMemoryOffset(out.dataId)];
    // by input rows: each writes its fh output rows
    split(backend, "upsample_nearest", batch * h, w * c * fh * fw, (lo, hi) => [inAt + 4 * lo * w * c, outAt + 4 * lo * fh * w * fw * c, hi - lo, w, c, fh, fw]);
    return out;
  }) as unknown as tf.KernelFunc;
}
