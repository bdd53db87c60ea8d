import * as tf from "@tensorflow/tfjs";
import { gancWasm, size, wasmBackend } from "./wasm/index.ts";

/**
 * Building blocks for the training kernels: each one calls a kernel already registered for the
 * backend directly (no engine, no tape), the way tfjs's own backends compose kernels. Every
 * TensorInfo they return is owned by the caller and must be released with `release`.
 */
export class Primitives {
  constructor(
    readonly backend: tf.KernelBackend,
    readonly backendName: string,
  ) {}

  run(kernelName: string, inputs: Record<string, tf.TensorInfo>, attrs: tf.NamedAttrMap = {}): tf.TensorInfo {
    const config = tf.getKernel(kernelName, this.backendName);
    if (config === undefined) {
      throw new Error(`kernel ${kernelName} is not registered for backend '${this.backendName}'`);
    }
    return config.kernelFunc({ inputs, backend: this.backend, attrs }) as tf.TensorInfo;
  }

  reshape(x: tf.TensorInfo, shape: number[]): tf.TensorInfo {
    return this.run(tf.Reshape, { x }, { shape });
  }

  transpose(x: tf.TensorInfo, perm: number[]): tf.TensorInfo {
    return this.run(tf.Transpose, { x }, { perm });
  }

  slice(x: tf.TensorInfo, begin: number[], size: number[]): tf.TensorInfo {
    return this.run(tf.Slice, { x }, { begin, size });
  }

  /** NHWC stride-1 convolution with explicit [top, bottom] / [left, right] padding. */
  conv2d(
    x: tf.TensorInfo,
    filter: tf.TensorInfo,
    padH: [number, number],
    padW: [number, number],
    dilations: [number, number] = [1, 1],
  ): tf.TensorInfo {
    return this.run(
      tf.Conv2D,
      { x, filter },
      {
        strides: [1, 1],
        pad: [[0, 0], padH, padW, [0, 0]],
        dataFormat: "NHWC",
        dilations,
        dimRoundingMode: undefined as unknown as string,
      } as unknown as tf.NamedAttrMap,
    );
  }

  read(x: tf.TensorInfo): Float32Array {
    return this.backend.readSync(x.dataId) as Float32Array;
  }

  write(values: Float32Array, shape: number[]): tf.TensorInfo {
    return { dataId: this.backend.write(values, shape, "float32"), shape, dtype: "float32" };
  }

  release(...infos: tf.TensorInfo[]): void {
    for (const info of infos) this.backend.disposeData(info.dataId);
  }
}

export type TrainingKernelFunc = (args: {
  inputs: tf.NamedTensorInfoMap;
  backend: tf.KernelBackend;
  attrs: tf.NamedAttrMap;
}) => tf.TensorInfo;

/** Whether nothing but `y` refers to its buffer (a reshape on wasm shares its input's), so that it may be written in place. */
function soleOwner(backend: tf.KernelBackend, y: tf.TensorInfo): boolean {
  const data = (backend as unknown as { dataIdMap?: { get(id: object): { refCount?: number } | undefined } }).dataIdMap?.get(y.dataId);
  return data?.refCount === 1;
}

const ACTIVATION_KERNELS: Record<string, string> = {
  relu: tf.Relu,
  relu6: tf.Relu6,
  elu: tf.Elu,
  sigmoid: tf.Sigmoid,
  tanh: tf.Tanh,
  leakyrelu: tf.LeakyRelu,
  prelu: tf.Prelu,
};

/**
 * y + bias, then the activation, each by the backend's own kernel. Takes ownership of `y`. On wasm a bias
 * of y's last axis is added in place (ganc.wat bias_add: the float32 sums the stock Add computes, without
 * its per-element broadcast indexing and a second buffer; 4x faster on [16,32,32,32]).
 */
export function biasActivation(
  p: Primitives,
  y: tf.TensorInfo,
  bias: tf.TensorInfo | undefined,
  activation: string | undefined,
  leakyreluAlpha: number | undefined,
  preluActivationWeights: tf.TensorInfo | undefined,
): tf.TensorInfo {
  let out = y;
  if (bias !== undefined && p.backendName === "wasm" && y.dtype === "float32" && bias.dtype === "float32" && y.shape.length >= 1 && size(bias) === y.shape[y.shape.length - 1] && size(y) > 0 && soleOwner(p.backend, y)) {
    const b = wasmBackend(p.backend);
    const cols = y.shape[y.shape.length - 1]!;
    gancWasm(p.backend).bias_add(b.getMemoryOffset(y.dataId), b.getMemoryOffset(bias.dataId), size(y) / cols, cols);
  } else if (bias !== undefined) {
    const added = p.run(tf.Add, { a: out, b: bias });
    p.release(out);
    out = added;
  }
  const act = activation ?? "linear";
  if (act === "linear") return out;
  const kernel = ACTIVATION_KERNELS[act];
  if (kernel === undefined) {
    p.release(out);
    throw new Error(`fused activation '${act}' is not supported`);
  }
  let activated: tf.TensorInfo;
  if (act === "leakyrelu") activated = p.run(kernel, { x: out }, { alpha: leakyreluAlpha ?? 0.2 });
  else if (act === "prelu") activated = p.run(kernel, { x: out, alpha: preluActivationWeights! });
  else activated = p.run(kernel, { x: out });
  p.release(out);
  return activated;
}
