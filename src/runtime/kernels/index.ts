import * as tf from "@tensorflow/tfjs";
import { makeBatchMatMul } from "./batch_mat_mul.ts";
import { makeConv2DBackpropFilter } from "./conv2d_backprop_filter.ts";
import { makeConv2DBackpropInput } from "./conv2d_backprop_input.ts";
import { makeSplitV } from "./split_v.ts";
import type { TrainingKernelFunc } from "./primitives.ts";

export { makeBatchMatMul, makeConv2DBackpropFilter, makeConv2DBackpropInput, makeSplitV };

export type PackBackend = "wasm" | "cpu";

interface Replacement {
  kernelName: string;
  /** `stock` is the kernel registered before ours (undefined when the backend has none). */
  make(backendName: PackBackend, stock: tf.KernelConfig | undefined): TrainingKernelFunc;
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

const splitV: Replacement = {
  kernelName: tf.SplitV,
  make: () => makeSplitV(),
};

/**
 * Which kernels each backend gets, kept only where bench/kernels.ts showed a win on the seed GAN's
 * shapes. On cpu only the filter gradient does (20-64x): the cpu Conv2D that the input gradient
 * would be rewritten into is 2-3x slower than tfjs-backend-cpu's own Conv2DBackpropInput, and its
 * BatchMatMul handles transposes at full speed already.
 */
const PACKS: Record<PackBackend, Replacement[]> = {
  wasm: [conv2DBackpropFilter, conv2DBackpropInput, batchMatMul, splitV],
  cpu: [conv2DBackpropFilter],
};

const ours = new WeakSet<tf.KernelFunc>();

/**
 * Registers the training kernels for `backend` in tfjs's kernel registry, replacing the stock
 * kernel where there is one. The backend package must already be loaded (its stock kernels are
 * wrapped or replaced). Idempotent; returns the kernel names the pack provides.
 */
export function registerTrainingKernels(backend: PackBackend): string[] {
  if (tf.getKernel(tf.Conv2D, backend) === undefined) {
    throw new Error(`registerTrainingKernels('${backend}'): the ${backend} backend is not loaded`);
  }
  const names: string[] = [];
  for (const replacement of PACKS[backend]) {
    const { kernelName } = replacement;
    names.push(kernelName);
    const existing = tf.getKernel(kernelName, backend);
    if (existing !== undefined && ours.has(existing.kernelFunc)) continue;
    const kernelFunc = replacement.make(backend, existing) as unknown as tf.KernelFunc;
    ours.add(kernelFunc);
    if (existing !== undefined) tf.unregisterKernel(kernelName, backend);
    // Keep the stock setupFunc: a kernel we wrap may still need it when the backend initialises later.
    tf.registerKernel({ kernelName, backendName: backend, kernelFunc, setupFunc: existing?.setupFunc });
  }
  return names;
}

/** Kernel names the pack would register for `backend`, without registering anything. */
export function trainingKernelNames(backend: PackBackend): string[] {
  return PACKS[backend].map((r) => r.kernelName);
}
