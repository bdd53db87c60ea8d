import * as tf from "@tensorflow/tfjs";
import { columnTree, dispatch, LANES, output, size, u32 } from "./program.ts";

/**
 * Sum and Mean over every axis but the last on webgpu (bias gradients, batch statistics, a loss's mean over a
 * batch of [n, 1]), as one dispatch: tfjs's reduction transposes first (two dispatches and a copy of x). Each
 * workgroup takes 16 channels, 16 threads down the rows of each (adjacent threads read adjacent channels), then a
 * tree over the 16; Mean divides the sum by the row count, as the stock kernel divides. Other reductions, and other
 * dtypes, go to the stock kernel. Float32 sums in another order than tfjs's: held to float64 in
 * test/runtime/webgpu-kernels.test.ts.
 */
const COLUMN = (mean: boolean) => /* wgsl */ `
@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@group(0) @binding(1) var<storage, read> x: array<f32>;
struct U { rows: u32, cols: u32 }
@group(0) @binding(2) var<uniform> u: U;
var<workgroup> part: array<f32, ${LANES * LANES}>;
@compute @workgroup_size(${LANES}, ${LANES}) fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let lx = lid.x;
  let ly = lid.y;
  let c = wg.x * ${LANES}u + lx;
  var s = 0.0;
  if (c < u.cols) { for (var r = ly; r < u.rows; r = r + ${LANES}u) { s = s + x[r * u.cols + c]; } }
  part[ly * ${LANES}u + lx] = s;
  workgroupBarrier();
  ${columnTree(["part"])}
  if (ly == 0u && c < u.cols) { out[c] = ${mean ? "part[lx] / f32(u.rows)" : "part[lx]"}; }
}`;

export function makeWebgpuColumnReduceKernel(kind: "sum" | "mean", stock: tf.KernelFunc): tf.KernelFunc {
  return (({ inputs, backend, attrs }: { inputs: tf.NamedTensorInfoMap; backend: tf.KernelBackend; attrs: tf.NamedAttrMap }): tf.TensorInfo => {
    const { x } = inputs as { x: tf.TensorInfo };
    const { axis, keepDims } = attrs as unknown as tf.SumAttrs;
    const rank = x.shape.length;
    const axes = [...tf.util.parseAxisParam(axis, x.shape as number[])].sort((a, b) => a - b);
    const n = size(x);
    const cols = x.shape[rank - 1] ?? 0;
    const columns = x.dtype === "float32" && rank >= 2 && n > 0 && axes.length === rank - 1 && axes.every((a, i) => a === i);
    if (!columns || Math.ceil(cols / LANES) > 65535) return stock({ inputs, backend, attrs }) as tf.TensorInfo;
    const out = output(backend, keepDims ? x.shape.map((d, i) => (i < rank - 1 ? 1 : d)) : [cols]);
    dispatch(backend, `GancColumn${kind}`, () => COLUMN(kind === "mean"), [out], [x], [u32(n / cols), u32(cols)], { x: Math.ceil(cols / LANES), y: 1 });
    return out;
  }) as unknown as tf.KernelFunc;
}
