/**
 * Names of ganc's own kernels that the fused engine hands to layer modules (which import the runtime as types
 * only): registered on some backends only (src/runtime/kernels/index.ts, PACKS). No imports, so that anything
 * may load it.
 */
export const GANC_KERNELS = {
  /** Batch norm's forward pass with batch statistics: y, mean and variance (wasm/index.ts, makeBatchNormTrainKernel). */
  bnTrain: "GancBatchNormTrain",
  /** Batch norm's backward pass from dy, x and the batch mean: dgamma, dbeta and dx (wasm/index.ts, makeBatchNormGradKernel). */
  bnGrad: "GancBatchNormGrad",
  /** relu's (and, with attribute alpha, leaky relu's) gradient from its output, dy * step(y, alpha), in one pass (wasm/index.ts, makeReluGradKernel). */
  reluGrad: "GancReluGrad",
} as const;

export type GancKernelKind = keyof typeof GANC_KERNELS;

export const GANC_BN_TRAIN = GANC_KERNELS.bnTrain;
export const GANC_BN_GRAD = GANC_KERNELS.bnGrad;
export const GANC_RELU_GRAD = GANC_KERNELS.reluGrad;

/** Spectral norm's power-iteration step in float64 on the wasm heap (wasm/index.ts, makePowerStepKernel); the runtime calls it directly. */
export const GANC_POWER_STEP = "GancPowerStep";

/**
 * attention.ts's 2x2 max pooling as three kernels (wasm/index.ts, makeMaxPool2Kernels; cpu_kernels.ts): the index of
 * each window's first largest entry, the pooling by that index, and its gradient. Gradients in src/runtime/ops.ts.
 */
export const GANC_MAX_POOL2_INDEX = "GancMaxPool2Index";
export const GANC_MAX_POOL2 = "GancMaxPool2";
export const GANC_MAX_POOL2_GRAD = "GancMaxPool2Grad";

/** attention.ts's softmax and its backward pass as two kernels (wasm/index.ts, makeSoftmaxKernels; cpu_kernels.ts). Gradients in src/runtime/ops.ts. */
export const GANC_SOFTMAX = "GancSoftmax";
export const GANC_SOFTMAX_GRAD = "GancSoftmaxGrad";

/** Spectral norm's float32 steps in a fused net (wasm/index.ts, makeSpectralNormKernels; cpu_kernels.ts): no gradients, used only where no tape records. */
export const GANC_SN_NORMALIZE = "GancSnNormalize";
export const GANC_SN_GRAD = "GancSnGrad";

/**
 * Backends where a fused net's spectral-norm op hands its kernel one gradient, dA + dW, from GancSnGrad with the
 * attribute `sum` (one dispatch instead of two and the tape's addition), rather than the two the tape adds in the
 * layer-by-layer trainer's order: webgpu, whose sums already differ from that trainer's in the last bits.
 */
export const SN_ONE_GRADIENT_BACKENDS: ReadonlySet<string> = new Set(["webgpu"]);
