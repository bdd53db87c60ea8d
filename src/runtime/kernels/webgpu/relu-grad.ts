import type * as tf from "@tensorflow/tfjs";
import { GANC_RELU_GRAD } from "../names.ts";
import { dispatch, elementwiseMain, f32, grid, output, size, u32 } from "./program.ts";

/**
 * GancReluGrad on webgpu: dy * step(y, alpha) in one dispatch instead of tfjs's Step and Multiply. The same WGSL
 * operations as those two stock kernels (Step: a NaN stays NaN, else 1 where y > 0 and alpha elsewhere), so the
 * same bits.
 */
const RELU_GRAD = () => /* wgsl */ `
@group(0) @binding(0) var<storage, read_write> dx: array<f32>;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read> y: array<f32>;
struct U { size: u32, alpha: f32, groupsX: u32 }
@group(0) @binding(3) var<uniform> u: U;
${elementwiseMain("u")}
  if (i >= u.size) { return; }
  let a = y[i];
  var s = select(u.alpha, 1.0, a > 0.0);
  // tfjs's isnan: by the bits, which a compiler cannot assume away
  if ((bitcast<u32>(a) & 0x7fffffffu) > 0x7f800000u) { s = a; }
  dx[i] = dy[i] * s;
}`;

export function makeWebgpuReluGradKernel(): tf.KernelFunc {
  return (({ inputs, backend, attrs }: { inputs: tf.NamedTensorInfoMap; backend: tf.KernelBackend; attrs?: tf.NamedAttrMap }): tf.TensorInfo => {
    const { dy, y } = inputs as Record<string, tf.TensorInfo | undefined>;
    const alpha = Number((attrs as { alpha?: number } | undefined)?.alpha ?? 0);
    const n = dy ? size(dy) : 0;
    if (dy?.dtype !== "float32" || y?.dtype !== "float32" || n !== size(y)) {
      throw new Error(`${GANC_RELU_GRAD}: dy and y must be float32 tensors of one size`);
    }
    const dx = output(backend, [...dy.shape]);
    if (n > 0) {
      const groups = grid(n);
      dispatch(backend, GANC_RELU_GRAD, RELU_GRAD, [dx], [dy, y], [u32(n), f32(alpha), u32(groups.x)], groups);
    }
    return dx;
  }) as unknown as tf.KernelFunc;
}
