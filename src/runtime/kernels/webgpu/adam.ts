import type * as tf from "@tensorflow/tfjs";
import type { AdamKernelAttrs } from "../wasm/index.ts";
import { dispatch, elementwiseMain, f32, grid, output, size, u32 } from "./program.ts";

/**
 * GancAdam on webgpu: FusedAdam's step (src/runtime/fused/adam.ts) as one dispatch per variable plus one for the
 * running products, instead of its chain of stock kernels over the concatenated group (two concats, 14 elementwise
 * kernels, a split into one slice per variable, 4 for the products). Inputs m, v (the group's flat moments), acc1,
 * acc2 (beta1^t, beta2^t), g0.., w0..; outputs the new w0.., m, v, acc1, acc2, as the wasm and cpu kernels.
 *
 * Each element goes through the stock kernels' WGSL operations in their order: m' = m*b1 + g*(1-b1),
 * v' = v*b2 + (g*g)*(1-b2), w' = ((m'/(1-acc1)) / (sqrt(v'/(1-acc2)) + eps)) * -lr + w. The stock kernels round each
 * one to float32 in memory; a shader compiler may contract a product and a sum here into one fused multiply-add,
 * which WGSL allows, so the results are within a rounding or two of the chain's, not always its bits
 * (test/runtime/webgpu-kernels.test.ts measures both against float64).
 */
const ACC = () => /* wgsl */ `
@group(0) @binding(0) var<storage, read_write> acc1Out: array<f32>;
@group(0) @binding(1) var<storage, read_write> acc2Out: array<f32>;
@group(0) @binding(2) var<storage, read_write> oneMinus: array<f32>;
@group(0) @binding(3) var<storage, read> acc1: array<f32>;
@group(0) @binding(4) var<storage, read> acc2: array<f32>;
struct U { b1: f32, b2: f32 }
@group(0) @binding(5) var<uniform> u: U;
@compute @workgroup_size(1) fn main() {
  acc1Out[0] = acc1[0] * u.b1;
  acc2Out[0] = acc2[0] * u.b2;
  oneMinus[0] = 1.0 - acc1[0];
  oneMinus[1] = 1.0 - acc2[0];
}`;

const STEP = () => /* wgsl */ `
@group(0) @binding(0) var<storage, read_write> wOut: array<f32>;
@group(0) @binding(1) var<storage, read_write> mOut: array<f32>;
@group(0) @binding(2) var<storage, read_write> vOut: array<f32>;
@group(0) @binding(3) var<storage, read> g: array<f32>;
@group(0) @binding(4) var<storage, read> w: array<f32>;
@group(0) @binding(5) var<storage, read> m: array<f32>;
@group(0) @binding(6) var<storage, read> v: array<f32>;
@group(0) @binding(7) var<storage, read> oneMinus: array<f32>;
struct U { b1: f32, b2: f32, c1: f32, c2: f32, eps: f32, nlr: f32, offset: u32, size: u32, groupsX: u32 }
@group(0) @binding(8) var<uniform> u: U;
${elementwiseMain("u")}
  if (i >= u.size) { return; }
  let k = u.offset + i;
  let gj = g[i];
  let mj = m[k] * u.b1 + gj * u.c1;
  let vj = v[k] * u.b2 + (gj * gj) * u.c2;
  mOut[k] = mj;
  vOut[k] = vj;
  let denom = sqrt(vj / oneMinus[1]) + u.eps;
  wOut[i] = ((mj / oneMinus[0]) / denom) * u.nlr + w[i];
}`;

type Args = { inputs: tf.NamedTensorInfoMap; backend: tf.KernelBackend; attrs: tf.NamedAttrMap };

export function makeWebgpuAdamKernel(): tf.KernelFunc {
  return (({ inputs, backend, attrs }: Args): tf.TensorInfo[] => {
    const a = attrs as unknown as AdamKernelAttrs;
    const ins = inputs as Record<string, tf.TensorInfo>;
    const total = size(ins.m!);
    const sizes = Array.from({ length: a.count }, (_, i) => size(ins[`w${i}`]!));
    if (sizes.reduce((x, y) => x + y, 0) !== total) {
      throw new Error(`GancAdam: the variables hold ${sizes.reduce((x, y) => x + y, 0)} values, the moments ${total}`);
    }
    const acc1 = output(backend, []);
    const acc2 = output(backend, []);
    const oneMinus = output(backend, [2]);
    dispatch(backend, "GancAdam.acc", ACC, [acc1, acc2, oneMinus], [ins.acc1!, ins.acc2!], [f32(a.beta1), f32(a.beta2)], { x: 1, y: 1 });
    const m = output(backend, [...ins.m!.shape]);
    const v = output(backend, [...ins.v!.shape]);
    const ws: tf.TensorInfo[] = [];
    let offset = 0;
    sizes.forEach((n, i) => {
      const w = ins[`w${i}`]!;
      const out = output(backend, [...w.shape]);
      if (n > 0) {
        const groups = grid(n);
        const uniforms = [f32(a.beta1), f32(a.beta2), f32(1 - a.beta1), f32(1 - a.beta2), f32(a.epsilon), f32(-a.learningRate), u32(offset), u32(n), u32(groups.x)];
        dispatch(backend, "GancAdam.step", STEP, [out, m, v], [ins[`g${i}`]!, w, ins.m!, ins.v!, oneMinus], uniforms, groups);
      }
      ws.push(out);
      offset += n;
    });
    backend.disposeData(oneMinus.dataId);
    return [...ws, m, v, acc1, acc2];
  }) as unknown as tf.KernelFunc;
}
