/**
 * ms per call of tfjs's stock training kernels against the ganc kernel pack, on the seed GAN's
 * shapes (batch 64, 28x28x1; conv D 64/128 4x4 stride 2; deconv G; dense 6272x1024).
 *
 *   npx tsx bench/kernels.ts [wasm|cpu ...]      (default: both)
 *
 * Kernels are called directly (no engine) so only the kernel itself is timed. Stock calls that take
 * longer than a few seconds are timed once; on cpu the stock 64->128 filter gradients take over a
 * minute each, so the cpu half runs for about 3-4 minutes.
 */
import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-wasm";
import { makeBatchMatMul, makeConv2DBackpropFilter, makeConv2DBackpropInput } from "../src/runtime/kernels/index.ts";

type Kernel = tf.KernelFunc;
type Inputs = Record<string, tf.TensorInfo>;

interface Case {
  label: string;
  kernelName: string;
  inputs: () => Record<string, tf.Tensor>;
  attrs: tf.NamedAttrMap;
}

const N = 64;
const same = { pad: "same", dataFormat: "NHWC", strides: 2 };

const cases: Case[] = [
  {
    label: "conv 1->64 28x28: dW",
    kernelName: tf.Conv2DBackpropFilter,
    inputs: () => ({ x: tf.randomNormal([N, 28, 28, 1]), dy: tf.randomNormal([N, 14, 14, 64]) }),
    attrs: { ...same, filterShape: [4, 4, 1, 64] },
  },
  {
    label: "conv 1->64 28x28: dx",
    kernelName: tf.Conv2DBackpropInput,
    inputs: () => ({ dy: tf.randomNormal([N, 14, 14, 64]), filter: tf.randomNormal([4, 4, 1, 64]) }),
    attrs: { ...same, inputShape: [N, 28, 28, 1] },
  },
  {
    label: "conv 64->128 14x14: dW",
    kernelName: tf.Conv2DBackpropFilter,
    inputs: () => ({ x: tf.randomNormal([N, 14, 14, 64]), dy: tf.randomNormal([N, 7, 7, 128]) }),
    attrs: { ...same, filterShape: [4, 4, 64, 128] },
  },
  {
    label: "conv 64->128 14x14: dx",
    kernelName: tf.Conv2DBackpropInput,
    inputs: () => ({ dy: tf.randomNormal([N, 7, 7, 128]), filter: tf.randomNormal([4, 4, 64, 128]) }),
    attrs: { ...same, inputShape: [N, 14, 14, 64] },
  },
  // conv2dTranspose runs Conv2DBackpropInput forward; its filter gradient is a Conv2DBackpropFilter.
  {
    label: "deconv 128->64 7->14: fwd",
    kernelName: tf.Conv2DBackpropInput,
    inputs: () => ({ dy: tf.randomNormal([N, 7, 7, 128]), filter: tf.randomNormal([4, 4, 64, 128]) }),
    attrs: { ...same, inputShape: [N, 14, 14, 64] },
  },
  {
    label: "deconv 128->64 7->14: dW",
    kernelName: tf.Conv2DBackpropFilter,
    inputs: () => ({ x: tf.randomNormal([N, 14, 14, 64]), dy: tf.randomNormal([N, 7, 7, 128]) }),
    attrs: { ...same, filterShape: [4, 4, 64, 128] },
  },
  {
    label: "deconv 64->1 14->28: fwd",
    kernelName: tf.Conv2DBackpropInput,
    inputs: () => ({ dy: tf.randomNormal([N, 14, 14, 64]), filter: tf.randomNormal([4, 4, 1, 64]) }),
    attrs: { ...same, inputShape: [N, 28, 28, 1] },
  },
  {
    label: "deconv 64->1 14->28: dW",
    kernelName: tf.Conv2DBackpropFilter,
    inputs: () => ({ x: tf.randomNormal([N, 28, 28, 1]), dy: tf.randomNormal([N, 14, 14, 64]) }),
    attrs: { ...same, filterShape: [4, 4, 1, 64] },
  },
  {
    label: "dense 6272x1024: dx = dy.W^T",
    kernelName: tf.BatchMatMul,
    inputs: () => ({ a: tf.randomNormal([1, N, 1024]), b: tf.randomNormal([1, 6272, 1024]) }),
    attrs: { transposeA: false, transposeB: true },
  },
  {
    label: "dense 6272x1024: dW = x^T.dy",
    kernelName: tf.BatchMatMul,
    inputs: () => ({ a: tf.randomNormal([1, N, 6272]), b: tf.randomNormal([1, N, 1024]) }),
    attrs: { transposeA: true, transposeB: false },
  },
];

/** Mean ms per call: one warm-up call, then repeat until ~1.5 s (once if a call is slower than 3 s). */
function time(kernel: Kernel, inputs: Inputs, attrs: tf.NamedAttrMap, backend: tf.KernelBackend): number {
  const call = () => {
    const out = kernel({ inputs, backend, attrs }) as tf.TensorInfo;
    backend.disposeData(out.dataId);
  };
  let t0 = performance.now();
  call();
  const first = performance.now() - t0;
  if (first > 3000) return first;
  let reps = 0;
  t0 = performance.now();
  do {
    call();
    reps++;
  } while (performance.now() - t0 < 1500 && reps < 50);
  return (performance.now() - t0) / reps;
}

async function benchBackend(name: "wasm" | "cpu"): Promise<void> {
  if (!(await tf.setBackend(name))) throw new Error(`backend ${name} failed to initialise`);
  const backend = tf.backend();
  const stockMatMul = tf.getKernel(tf.BatchMatMul, name)!.kernelFunc;
  const ganc: Record<string, Kernel> = {
    [tf.Conv2DBackpropFilter]: makeConv2DBackpropFilter(name) as unknown as Kernel,
    [tf.Conv2DBackpropInput]: makeConv2DBackpropInput(name) as unknown as Kernel,
    [tf.BatchMatMul]: makeBatchMatMul(name, stockMatMul) as unknown as Kernel,
  };
  console.log(`\n${name}${name === "wasm" ? " (SIMD, 1 thread)" : ""}`);
  console.log(`${"kernel".padEnd(32)}${"stock ms".padStart(12)}${"ganc ms".padStart(12)}${"speed-up".padStart(10)}`);
  for (const c of cases) {
    const tensors = c.inputs();
    const stock = tf.getKernel(c.kernelName, name)?.kernelFunc;
    const stockMs = stock ? time(stock, tensors, c.attrs, backend) : undefined;
    const gancMs = time(ganc[c.kernelName]!, tensors, c.attrs, backend);
    const stockCol = stockMs === undefined ? "missing" : stockMs.toFixed(1);
    const ratio = stockMs === undefined ? "-" : `${(stockMs / gancMs).toFixed(1)}x`;
    console.log(`${c.label.padEnd(32)}${stockCol.padStart(12)}${gancMs.toFixed(1).padStart(12)}${ratio.padStart(10)}`);
    tf.dispose(Object.values(tensors));
  }
}

const wanted = process.argv.slice(2);
for (const name of ["wasm", "cpu"] as const) {
  if (wanted.length === 0 || wanted.includes(name)) await benchBackend(name);
}
