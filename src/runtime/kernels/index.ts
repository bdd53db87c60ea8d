import * as tf from "@tensorflow/tfjs";
import { makeBatchMatMul, makeFusedMatMul } from "./batch_mat_mul.ts";
import { makeConv2DBackpropFilter } from "./conv2d_backprop_filter.ts";
import { makeConv2DBackpropInput } from "./conv2d_backprop_input.ts";
import { makeSplitV } from "./split_v.ts";
import {
  GANC_ADAM,
  GANC_BN_FACTORS,
  GANC_BN_GRAD,
  GANC_BN_TRAIN,
  GANC_MOVING_AVERAGES,
  GANC_POWER_STEP,
  GANC_RELU_GRAD,
  makeAdamKernel,
  makeBatchNormGradKernel,
  makeBatchNormKernel,
  makeBatchNormTrainKernel,
  makeExpKernel,
  makeReluGradKernel,
  makeTileKernel,
  makeGreaterKernel,
  makeSelectKernel,
  makeBnFactorsKernel,
  makeResizeNearestKernel,
  makeColumnReduceKernel,
  makeMovingAveragesKernel,
  makePowerStepKernel,
  makeMaxPool2Kernels,
  makeSoftmaxKernels,
  makeSpectralNormKernels,
} from "./wasm/index.ts";
import { makeCpuAdamKernel, makeCpuBnFactorsKernel, makeCpuMaxPool2Kernels, makeCpuMovingAveragesKernel, makeCpuSoftmaxKernels, makeCpuSpectralNormKernels } from "./cpu_kernels.ts";
import { GANC_MAX_POOL2, GANC_MAX_POOL2_GRAD, GANC_MAX_POOL2_INDEX, GANC_SN_GRAD, GANC_SN_NORMALIZE, GANC_SOFTMAX, GANC_SOFTMAX_GRAD } from "./names.ts";
import type { TrainingKernelFunc } from "./primitives.ts";
import { makeWebgpuAdamKernel } from "./webgpu/adam.ts";
import { makeWebgpuBatchNormGradKernel, makeWebgpuBatchNormTrainKernel } from "./webgpu/batchnorm.ts";
import { makeWebgpuReluGradKernel } from "./webgpu/relu-grad.ts";
import { makeWebgpuBnFactorsKernel, makeWebgpuMovingAveragesKernel } from "./webgpu/bn-bookkeeping.ts";
import { makeWebgpuPowerStepKernel, makeWebgpuSpectralNormKernels } from "./webgpu/spectral.ts";
import { makeWebgpuColumnReduceKernel } from "./webgpu/column-reduce.ts";
import type { Blas } from "./blas.ts";
import type { Dnnl } from "./dnnl.ts";
import {
  makeBlasBatchMatMul,
  makeBlasConv2D,
  makeBlasConv2DBackpropFilter,
  makeBlasConv2DBackpropInput,
  makeBlasFusedConv2D,
  makeBlasFusedMatMul,
} from "./blas_kernels.ts";

export { makeBatchMatMul, makeConv2DBackpropFilter, makeConv2DBackpropInput, makeSplitV };
export { loadBlas, probeBlas, productThreads, SMALL_PRODUCT, type Blas, type BlasResult } from "./blas.ts";
export { loadDnnl, probeDnnl, type Dnnl, type DnnlResult } from "./dnnl.ts";
export {
  GANC_ADAM,
  GANC_BN_FACTORS,
  GANC_BN_GRAD,
  GANC_BN_TRAIN,
  GANC_MOVING_AVERAGES,
  GANC_POWER_STEP,
  type AdamKernelAttrs,
  type BatchNormGradAttrs,
  type BnFactorsAttrs,
  type MovingAveragesAttrs,
} from "./wasm/index.ts";

export type PackBackend = "wasm" | "cpu" | "webgpu";

interface Replacement {
  kernelName: string;
  /** `stock` is the kernel registered before ours (undefined when the backend has none). */
  make(
    backendName: PackBackend,
    stock: tf.KernelConfig | undefined,
    /** The pure pack's kernel of that name, or the stock one (for the BLAS kernels' fallbacks). */
    packOrStock: (kernelName: string) => tf.KernelFunc,
  ): TrainingKernelFunc;
}

const conv2DBackpropFilter: Replacement = {
  kernelName: tf.Conv2DBackpropFilter,
  make: (backendName, stock) => makeConv2DBackpropFilter(backendName, stock?.kernelFunc),
};
const conv2DBackpropInput: Replacement = {
  kernelName: tf.Conv2DBackpropInput,
  make: (backendName, stock) => makeConv2DBackpropInput(backendName, stock?.kernelFunc),
};
const batchMatMul: Replacement = {
  kernelName: tf.BatchMatMul,
  make: (backendName, stock) => {
    if (stock === undefined) throw new Error(`no stock BatchMatMul kernel for '${backendName}' to wrap`);
    return makeBatchMatMul(backendName, stock.kernelFunc);
  },
};

const fusedMatMul: Replacement = {
  kernelName: tf._FusedMatMul,
  make: (backendName, stock, packOrStock) => {
    if (stock === undefined) throw new Error(`no stock _FusedMatMul kernel for '${backendName}' to wrap`);
    return makeFusedMatMul(backendName, stock.kernelFunc, packOrStock(tf.BatchMatMul));
  },
};

const adam: Replacement = {
  kernelName: GANC_ADAM,
  make: (backendName) =>
    (backendName === "cpu" ? makeCpuAdamKernel() : backendName === "webgpu" ? makeWebgpuAdamKernel() : makeAdamKernel()) as unknown as TrainingKernelFunc,
};

const bnFactors: Replacement = {
  kernelName: GANC_BN_FACTORS,
  make: (backendName) => (backendName === "cpu" ? makeCpuBnFactorsKernel() : makeBnFactorsKernel()) as unknown as TrainingKernelFunc,
};

const movingAverages: Replacement = {
  kernelName: GANC_MOVING_AVERAGES,
  make: (backendName) =>
    (backendName === "cpu" ? makeCpuMovingAveragesKernel() : makeMovingAveragesKernel()) as unknown as TrainingKernelFunc,
};

/** A kernel that handles what it can and hands the rest to the stock kernel of its name. */
function wrapsStock(kernelName: string, make: (stock: tf.KernelFunc) => tf.KernelFunc): Replacement {
  return {
    kernelName,
    make: (backendName, stock) => {
      if (stock === undefined) throw new Error(`no stock ${kernelName} kernel for '${backendName}' to wrap`);
      return make(stock.kernelFunc) as unknown as TrainingKernelFunc;
    },
  };
}

/** Sum or Mean over all axes but the last, down the columns in place (wasm/index.ts). */
function columnReduce(kernelName: string, kind: "sum" | "mean"): Replacement {
  return wrapsStock(kernelName, (stock) => makeColumnReduceKernel(kind, stock));
}

const batchNorm = wrapsStock(tf.FusedBatchNorm, makeBatchNormKernel);

/** Batch norm with batch statistics, forward and backward, each as one kernel (wasm only; elsewhere the fused net runs the chain). */
const batchNormTrain: Replacement = { kernelName: GANC_BN_TRAIN, make: () => makeBatchNormTrainKernel() as unknown as TrainingKernelFunc };
const batchNormGrad: Replacement = { kernelName: GANC_BN_GRAD, make: () => makeBatchNormGradKernel() as unknown as TrainingKernelFunc };
const reluGrad: Replacement = { kernelName: GANC_RELU_GRAD, make: () => makeReluGradKernel() as unknown as TrainingKernelFunc };
/** Spectral norm's power-iteration step on the wasm heap (wasm only; elsewhere powerStep64 in JavaScript, or tensor ops). */
const powerStep: Replacement = { kernelName: GANC_POWER_STEP, make: () => makePowerStepKernel() as unknown as TrainingKernelFunc };

/** One kernel of a set that ganc makes for each backend (wasm: on the tfjs heap; cpu: JavaScript loops). */
function ofSet<P extends string>(kernelName: string, part: P, wasm: () => Record<P, unknown>, cpu: () => Record<P, unknown>): Replacement {
  return { kernelName, make: (backendName) => (backendName === "cpu" ? cpu() : wasm())[part] as TrainingKernelFunc };
}

/** attention.ts's 2x2 max pooling: the window's first largest entry, the pooling by it, and its gradient. */
const maxPool2Index = ofSet(GANC_MAX_POOL2_INDEX, "index", makeMaxPool2Kernels, makeCpuMaxPool2Kernels);
const maxPool2Pool = ofSet(GANC_MAX_POOL2, "pool", makeMaxPool2Kernels, makeCpuMaxPool2Kernels);
const maxPool2Grad = ofSet(GANC_MAX_POOL2_GRAD, "grad", makeMaxPool2Kernels, makeCpuMaxPool2Kernels);

/** attention.ts's softmax and its backward pass. */
const softmaxForward = ofSet(GANC_SOFTMAX, "forward", makeSoftmaxKernels, makeCpuSoftmaxKernels);
const softmaxGrad = ofSet(GANC_SOFTMAX_GRAD, "grad", makeSoftmaxKernels, makeCpuSoftmaxKernels);

/** Spectral norm's float32 steps in a fused net. */
const snNormalize = ofSet(GANC_SN_NORMALIZE, "normalize", makeSpectralNormKernels, makeCpuSpectralNormKernels);
const snGrad = ofSet(GANC_SN_GRAD, "grad", makeSpectralNormKernels, makeCpuSpectralNormKernels);

const exp = wrapsStock(tf.Exp, makeExpKernel);

const resizeNearest = wrapsStock(tf.ResizeNearestNeighbor, makeResizeNearestKernel);

const tile = wrapsStock(tf.Tile, makeTileKernel);
const greater = wrapsStock(tf.Greater, makeGreaterKernel);
const select = wrapsStock(tf.Select, makeSelectKernel);

const columnSum = columnReduce(tf.Sum, "sum");
const columnMean = columnReduce(tf.Mean, "mean");

/**
 * A kernel whose output is its input `x` unchanged where `shares` says so: the output shares x's buffer (nothing in
 * tfjs or ganc writes into a tensor's buffer after it is made); elsewhere the stock kernel runs.
 */
function sharesBuffer(kernelName: string, shares: (x: tf.TensorInfo, attrs: tf.NamedAttrMap) => boolean): Replacement {
  return {
    kernelName,
    make: (backendName, stock) => ({ inputs, backend, attrs }) => {
      const { x } = inputs as { x: tf.TensorInfo };
      if (x.dtype === "string" || typeof backend.incRef !== "function" || !shares(x, attrs)) {
        if (stock === undefined) throw new Error(`no stock ${kernelName} kernel for '${backendName}'`);
        return stock.kernelFunc({ inputs, backend, attrs }) as tf.TensorInfo;
      }
      backend.incRef(x.dataId);
      return { dataId: x.dataId, shape: [...x.shape], dtype: x.dtype };
    },
  };
}

/**
 * Identity without the copy, as Reshape already does on wasm and Identity does on cpu. tfjs's gradients and
 * tf.clone issue hundreds of these per iteration in gradient-penalty specs.
 */
const identity = sharesBuffer(tf.Identity, () => true);

/**
 * Cast to the dtype the tensor already has, without the copy the stock wasm kernel makes. tfjs's gradients cast
 * their operands to float32 where they already are: 25 copies of [64,7,7,128] per wgan_gp iteration. Casts that
 * change the dtype go to the stock kernel.
 */
const cast = sharesBuffer(tf.Cast, (x, attrs) => x.dtype === (attrs as unknown as tf.CastAttrs).dtype);

const splitV: Replacement = {
  kernelName: tf.SplitV,
  make: () => makeSplitV(),
};

/**
 * Which kernels each backend gets, kept only where bench/kernels.ts showed a win on the seed GAN's
 * shapes. On cpu only the filter gradient does (20-64x): the cpu Conv2D that the input gradient
 * would be rewritten into is 2-3x slower than tfjs-backend-cpu's own Conv2DBackpropInput, and its
 * BatchMatMul handles transposes at full speed already. Both get ganc's one-kernel Adam and batch-norm
 * bookkeeping (wasm: SIMD on the tfjs heap; cpu: JavaScript loops), bit for bit the chains they replace.
 */
const PACKS: Record<PackBackend, Replacement[]> = {
  wasm: [conv2DBackpropFilter, conv2DBackpropInput, batchMatMul, fusedMatMul, splitV, adam, bnFactors, movingAverages, columnSum, columnMean, batchNorm, batchNormTrain, batchNormGrad, reluGrad, powerStep, exp, resizeNearest, tile, greater, select, identity, cast, maxPool2Index, maxPool2Pool, maxPool2Grad, softmaxForward, softmaxGrad, snNormalize, snGrad],
  cpu: [conv2DBackpropFilter, adam, bnFactors, movingAverages, maxPool2Index, maxPool2Pool, maxPool2Grad, softmaxForward, softmaxGrad, snNormalize, snGrad],
  // WGSL shaders recorded in tfjs-backend-webgpu's command stream (webgpu/program.ts)
  webgpu: [
    adam,
    { kernelName: GANC_BN_TRAIN, make: () => makeWebgpuBatchNormTrainKernel() as unknown as TrainingKernelFunc },
    { kernelName: GANC_BN_GRAD, make: () => makeWebgpuBatchNormGradKernel() as unknown as TrainingKernelFunc },
    { kernelName: GANC_RELU_GRAD, make: () => makeWebgpuReluGradKernel() as unknown as TrainingKernelFunc },
    { kernelName: GANC_BN_FACTORS, make: () => makeWebgpuBnFactorsKernel() as unknown as TrainingKernelFunc },
    { kernelName: GANC_MOVING_AVERAGES, make: () => makeWebgpuMovingAveragesKernel() as unknown as TrainingKernelFunc },
    { kernelName: GANC_POWER_STEP, make: () => makeWebgpuPowerStepKernel() as unknown as TrainingKernelFunc },
    { kernelName: GANC_SN_NORMALIZE, make: () => makeWebgpuSpectralNormKernels().normalize as unknown as TrainingKernelFunc },
    { kernelName: GANC_SN_GRAD, make: () => makeWebgpuSpectralNormKernels().grad as unknown as TrainingKernelFunc },
    wrapsStock(tf.Sum, (stock) => makeWebgpuColumnReduceKernel("sum", stock)),
    wrapsStock(tf.Mean, (stock) => makeWebgpuColumnReduceKernel("mean", stock)),
  ],
};

/** The kernels registered before ours, per backend and kernel name (captured on first registration). */
const stockKernels = new Map<string, Map<string, tf.KernelConfig | undefined>>();
/** What each backend has now: the BLAS and oneDNN it was registered with (null: none). */
const registered = new Map<string, { blas: Blas | null; dnnl: Dnnl | null }>();

/** The BLAS kernels for wasm, each given the pure pack's (or stock) kernel of its name to fall back to. */
const BLAS_KERNELS: Record<string, (blas: Blas, backendName: PackBackend, fallback: tf.KernelFunc, dnnl: Dnnl | null) => TrainingKernelFunc> = {
  [tf.BatchMatMul]: (blas, _b, fallback) => makeBlasBatchMatMul(blas, fallback),
  [tf._FusedMatMul]: (blas, b, fallback) => makeBlasFusedMatMul(blas, b, fallback),
  [tf.Conv2D]: (blas, _b, fallback, dnnl) => makeBlasConv2D(blas, fallback, dnnl),
  [tf.FusedConv2D]: (blas, b, fallback, dnnl) => makeBlasFusedConv2D(blas, b, fallback, dnnl),
  [tf.Conv2DBackpropFilter]: (blas, _b, fallback, dnnl) => makeBlasConv2DBackpropFilter(blas, fallback, dnnl),
  [tf.Conv2DBackpropInput]: (blas, _b, fallback, dnnl) => makeBlasConv2DBackpropInput(blas, fallback, dnnl),
};
const BLAS_KERNEL_NAMES = Object.keys(BLAS_KERNELS);

export interface KernelOptions {
  /**
   * A native BLAS for the wasm backend's products and convolutions (see blas.ts); false or absent:
   * the pure wasm kernels. Ignored on cpu.
   */
  blas?: Blas | false;
  /**
   * oneDNN for the convolutions of the BLAS kernels (dnnl.ts); false or absent: im2col and sgemm. Used only
   * with a BLAS (the kernels that call it are the BLAS ones).
   */
  dnnl?: Dnnl | false;
}

/**
 * Registers the training kernels for `backend` in tfjs's kernel registry, replacing the stock
 * kernel where there is one. The backend package must already be loaded (its stock kernels are
 * wrapped or replaced). Idempotent; registering again with another BLAS setting swaps the kernels.
 * Returns the kernel names the pack provides.
 */
export function registerTrainingKernels(backend: PackBackend, opts: KernelOptions = {}): string[] {
  if (tf.getKernel(tf.Conv2D, backend) === undefined) {
    throw new Error(`registerTrainingKernels('${backend}'): the ${backend} backend is not loaded`);
  }
  const blas = backend === "wasm" && opts.blas ? opts.blas : null;
  const dnnl = blas !== null && opts.dnnl ? opts.dnnl : null;
  const names = trainingKernelNames(backend, opts);
  const now = registered.get(backend);
  if (now !== undefined && now.blas === blas && now.dnnl === dnnl) return names;

  let stock = stockKernels.get(backend);
  if (stock === undefined) {
    stock = new Map();
    stockKernels.set(backend, stock);
  }
  const allNames = new Set([...PACKS[backend].map((r) => r.kernelName), ...(backend === "wasm" ? BLAS_KERNEL_NAMES : [])]);
  for (const kernelName of allNames) {
    if (!stock.has(kernelName)) stock.set(kernelName, tf.getKernel(kernelName, backend));
  }
  const stockOf = (name: string): tf.KernelConfig | undefined => stock.get(name);

  // The pure wasm/cpu pack first, then the BLAS kernels over it (they fall back to it).
  const pack = new Map<string, tf.KernelFunc>();
  const packOrStock = (name: string): tf.KernelFunc => {
    const f = pack.get(name) ?? stockOf(name)?.kernelFunc;
    if (f === undefined) throw new Error(`no ${name} kernel for '${backend}' to fall back to`);
    return f;
  };
  for (const replacement of PACKS[backend]) {
    const made = replacement.make(backend, stockOf(replacement.kernelName), packOrStock);
    pack.set(replacement.kernelName, made as unknown as tf.KernelFunc);
  }
  const chosen = new Map(pack);
  if (blas !== null) {
    for (const [kernelName, make] of Object.entries(BLAS_KERNELS)) {
      chosen.set(kernelName, make(blas, backend, packOrStock(kernelName), dnnl) as unknown as tf.KernelFunc);
    }
  }
  for (const kernelName of allNames) {
    const original = stockOf(kernelName);
    const kernelFunc = chosen.get(kernelName) ?? original?.kernelFunc;
    if (tf.getKernel(kernelName, backend) !== undefined) tf.unregisterKernel(kernelName, backend);
    if (kernelFunc === undefined) continue;
    // Keep the stock setupFunc: a kernel we wrap may still need it when the backend initialises later.
    tf.registerKernel({ kernelName, backendName: backend, kernelFunc, setupFunc: original?.setupFunc });
  }
  registered.set(backend, { blas, dnnl });
  return names;
}

/** The kernel that was registered for `kernelName` on `backend` before ganc's (undefined before the first registration or where there was none). */
export function stockKernel(backend: PackBackend, kernelName: string): tf.KernelConfig | undefined {
  return stockKernels.get(backend)?.get(kernelName);
}

/** Kernel names the pack would register for `backend`, without registering anything. */
export function trainingKernelNames(backend: PackBackend, opts: KernelOptions = {}): string[] {
  const names = PACKS[backend].map((r) => r.kernelName);
  if (backend === "wasm" && opts.blas) for (const n of BLAS_KERNEL_NAMES) if (!names.includes(n)) names.push(n);
  return names;
}
