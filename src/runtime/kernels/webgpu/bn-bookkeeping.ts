import type * as tf from "@tensorflow/tfjs";
import { GANC_BN_FACTORS, GANC_MOVING_AVERAGES, type BnFactorsAttrs, type MovingAveragesAttrs } from "../wasm/index.ts";
import { dispatch, elementwiseMain, f32, grid, output, size, u32 } from "./program.ts";

/**
 * Batch norm's per-forward-pass bookkeeping on webgpu (src/runtime/fused/net.ts, bnFactors and
 * updateMovingAverages): one dispatch per layer's tensor instead of the chains over the layers' values laid end to
 * end (a concat, the elementwise kernels and a split into one slice per layer). The same WGSL operations as the
 * stock kernels in their order, so the same bits:
 *
 *   GancBnFactors {v0..} -> r0.., mh0..:      r = inverseSqrt(v + eps) (Add, Rsqrt), mh = ((r * r) * r) * -0.5
 *   GancMovingAverages {moving0.., batch0..} -> moving0..:   (moving * decay + batch * (1 - decay)), `times` times
 */
const FACTORS = () => /* wgsl */ `
@group(0) @binding(0) var<storage, read_write> r: array<f32>;
@group(0) @binding(1) var<storage, read_write> mh: array<f32>;
@group(0) @binding(2) var<storage, read> v: array<f32>;
struct U { size: u32, eps: f32, groupsX: u32 }
@group(0) @binding(3) var<uniform> u: U;
${elementwiseMain("u")}
  if (i >= u.size) { return; }
  let ri = inverseSqrt(v[i] + u.eps);
  r[i] = ri;
  mh[i] = ((ri * ri) * ri) * -0.5;
}`;

const MOVING = () => /* wgsl */ `
@group(0) @binding(0) var<storage, read_write> next: array<f32>;
@group(0) @binding(1) var<storage, read> moving: array<f32>;
@group(0) @binding(2) var<storage, read> batch: array<f32>;
struct U { size: u32, decay: f32, oneMinusDecay: f32, times: u32, groupsX: u32 }
@group(0) @binding(3) var<uniform> u: U;
${elementwiseMain("u")}
  if (i >= u.size) { return; }
  let b = batch[i] * u.oneMinusDecay;
  var x = moving[i];
  for (var t = 0u; t < u.times; t = t + 1u) { x = x * u.decay + b; }
  next[i] = x;
}`;

type Args = { inputs: tf.NamedTensorInfoMap; backend: tf.KernelBackend; attrs: tf.NamedAttrMap };

export function makeWebgpuBnFactorsKernel(): tf.KernelFunc {
  return (({ inputs, backend, attrs }: Args): tf.TensorInfo[] => {
    const { epsilons } = attrs as unknown as BnFactorsAttrs;
    const rs: tf.TensorInfo[] = [];
    const mhs: tf.TensorInfo[] = [];
    epsilons.forEach((eps, i) => {
      const v = (inputs as Record<string, tf.TensorInfo>)[`v${i}`]!;
      const [r, mh] = [output(backend, [...v.shape]), output(backend, [...v.shape])];
      if (size(v) > 0) {
        const groups = grid(size(v));
        dispatch(backend, GANC_BN_FACTORS, FACTORS, [r, mh], [v], [u32(size(v)), f32(eps), u32(groups.x)], groups);
      }
      rs.push(r);
      mhs.push(mh);
    });
    return [...rs, ...mhs];
  }) as unknown as tf.KernelFunc;
}

export function makeWebgpuMovingAveragesKernel(): tf.KernelFunc {
  return (({ inputs, backend, attrs }: Args): tf.TensorInfo[] => {
    const { count, decay, times } = attrs as unknown as MovingAveragesAttrs;
    const ins = inputs as Record<string, tf.TensorInfo>;
    return Array.from({ length: count }, (_, i) => {
      const [moving, batch] = [ins[`moving${i}`]!, ins[`batch${i}`]!];
      if (size(batch) !== size(moving)) throw new Error(`${GANC_MOVING_AVERAGES}: batch${i} and moving${i} differ in size`);
      const next = output(backend, [...moving.shape]);
      if (size(moving) > 0) {
        const groups = grid(size(moving));
        const uniforms = [u32(size(moving)), f32(decay), f32(1 - decay), u32(times), u32(groups.x)];
        dispatch(backend, GANC_MOVING_AVERAGES, MOVING, [next], [moving, batch], uniforms, groups);
      }
      return next;
    });
  }) as unknown as tf.KernelFunc;
}
