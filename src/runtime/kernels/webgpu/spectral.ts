import type * as tf from "@tensorflow/tfjs";
import { GANC_POWER_STEP, GANC_SN_GRAD, GANC_SN_NORMALIZE } from "../names.ts";
import { dispatch, elementwiseMain, grid, output, size, u32, WORKGROUP } from "./program.ts";

/**
 * Spectral norm's steps on webgpu (src/runtime/ops.ts spectralNormVectors, src/runtime/fused/spectral.ts), where the
 * stock chain took about 40 dispatches per weight and application (two products, two tf.norm chains of Abs, Pow,
 * Sum and Sqrt, the divisions, sigma, and the tape's stopGradient copies): 121 applications per reduced
 * sngan_resnet iteration.
 *
 *   GancPowerStep {w [n, out], u [1, out]} -> v [1, n], u' [1, out], v w [1, out]:
 *     v = l2(u w^T), u' = l2(v w) with l2(t) = t / (sqrt(sum(t * t)) + 1e-12): one workgroup, one dispatch; v w
 *     too, which the fused net's normalization takes instead of a product of its own
 *   GancSnNormalize {kernel, s [1, out], un [1, out]} -> kernel / sigma, sigma = sum(s * un): one dispatch (each
 *     workgroup sums sigma itself, in the same order)
 *   GancSnGrad {dy, kernel, sigma, un, vv} -> dA = dy / sigma, d(v w) = -(sum(dy * kernel) / (sigma * sigma)) * un,
 *     and dW = v^T d(v w) in the kernel's shape: two dispatches (the wasm and cpu kernels give the first two; the
 *     net multiplies v^T d(v w) out itself). With the attribute `sum`: dA + dW, d(v w) (names.ts,
 *     SN_ONE_GRADIENT_BACKENDS)
 *
 * In float32, as the stock chain on webgpu (WGSL has no float64; the wasm and cpu steps run the power iteration in
 * float64), summed in another order than tfjs's reductions: held to float64 in test/runtime/webgpu-kernels.test.ts.
 */

/** WGSL: the tree sum of part[] over the workgroup, leaving the total in part[0] (every thread calls it). */
const TREE = `
fn treeSum(li: u32) {
  for (var stride = ${WORKGROUP / 2}u; stride > 0u; stride = stride / 2u) {
    if (li < stride) { part[li] = part[li] + part[li + stride]; }
    workgroupBarrier();
  }
}`;

const POWER_STEP = () => /* wgsl */ `
@group(0) @binding(0) var<storage, read_write> v: array<f32>;
@group(0) @binding(1) var<storage, read_write> un: array<f32>;
@group(0) @binding(2) var<storage, read_write> vw: array<f32>;
@group(0) @binding(3) var<storage, read> w: array<f32>;
@group(0) @binding(4) var<storage, read> u: array<f32>;
struct U { n: u32, out: u32 }
@group(0) @binding(5) var<uniform> dims: U;
var<workgroup> part: array<f32, ${WORKGROUP}>;
${TREE}
@compute @workgroup_size(${WORKGROUP}) fn main(@builtin(local_invocation_index) li: u32) {
  // v = u w^T: each thread its rows of w
  var q = 0.0;
  for (var i = li; i < dims.n; i = i + ${WORKGROUP}u) {
    var acc = 0.0;
    for (var j = 0u; j < dims.out; j = j + 1u) { acc = acc + u[j] * w[i * dims.out + j]; }
    v[i] = acc;
    q = q + acc * acc;
  }
  part[li] = q;
  workgroupBarrier();
  treeSum(li);
  let nv = sqrt(part[0]) + 1e-12;
  workgroupBarrier();
  for (var i = li; i < dims.n; i = i + ${WORKGROUP}u) { v[i] = v[i] / nv; }
  storageBarrier();
  workgroupBarrier();
  // u' = v w: each thread its columns
  q = 0.0;
  for (var j = li; j < dims.out; j = j + ${WORKGROUP}u) {
    var acc = 0.0;
    for (var i = 0u; i < dims.n; i = i + 1u) { acc = acc + v[i] * w[i * dims.out + j]; }
    vw[j] = acc;
    un[j] = acc;
    q = q + acc * acc;
  }
  part[li] = q;
  workgroupBarrier();
  treeSum(li);
  let nu = sqrt(part[0]) + 1e-12;
  for (var j = li; j < dims.out; j = j + ${WORKGROUP}u) { un[j] = un[j] / nu; }
}`;

const NORMALIZE = () => /* wgsl */ `
@group(0) @binding(0) var<storage, read_write> normalized: array<f32>;
@group(0) @binding(1) var<storage, read_write> sigma: array<f32>;
@group(0) @binding(2) var<storage, read> kernel: array<f32>;
@group(0) @binding(3) var<storage, read> s: array<f32>;
@group(0) @binding(4) var<storage, read> un: array<f32>;
struct U { size: u32, out: u32, groupsX: u32 }
@group(0) @binding(5) var<uniform> dims: U;
var<workgroup> part: array<f32, ${WORKGROUP}>;
${TREE}
@compute @workgroup_size(${WORKGROUP}) fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  var q = 0.0;
  for (var j = li; j < dims.out; j = j + ${WORKGROUP}u) { q = q + s[j] * un[j]; }
  part[li] = q;
  workgroupBarrier();
  treeSum(li);
  let sg = part[0];
  let i = (wg.y * dims.groupsX + wg.x) * ${WORKGROUP}u + li;
  if (i == 0u) { sigma[0] = sg; }
  if (i < dims.size) { normalized[i] = kernel[i] / sg; }
}`;

/**
 * dA = dy / sigma and dW = v^T d(v W) (the outer product: one product per element, as a k = 1 matMul) together, or
 * (`sum`) their sum dA + dW as the kernel's one gradient.
 */
const DA_DW = (sum: boolean) => /* wgsl */ `
@group(0) @binding(0) var<storage, read_write> dA: array<f32>;
${sum ? "" : "@group(0) @binding(1) var<storage, read_write> dW: array<f32>;"}
@group(0) @binding(${sum ? 1 : 2}) var<storage, read> dy: array<f32>;
@group(0) @binding(${sum ? 2 : 3}) var<storage, read> sigma: array<f32>;
@group(0) @binding(${sum ? 3 : 4}) var<storage, read> vv: array<f32>;
@group(0) @binding(${sum ? 4 : 5}) var<storage, read> dVW: array<f32>;
struct U { size: u32, out: u32, groupsX: u32 }
@group(0) @binding(${sum ? 5 : 6}) var<uniform> dims: U;
${elementwiseMain("dims")}
  if (i < dims.size) {
    let a = dy[i] / sigma[0];
    let w = vv[i / dims.out] * dVW[i % dims.out];
    ${sum ? "dA[i] = a + w;" : "dA[i] = a; dW[i] = w;"}
  }
}`;

const DSIGMA = () => /* wgsl */ `
@group(0) @binding(0) var<storage, read_write> dVW: array<f32>;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read> kernel: array<f32>;
@group(0) @binding(3) var<storage, read> sigma: array<f32>;
@group(0) @binding(4) var<storage, read> un: array<f32>;
struct U { size: u32, out: u32 }
@group(0) @binding(5) var<uniform> dims: U;
var<workgroup> part: array<f32, ${WORKGROUP}>;
${TREE}
@compute @workgroup_size(${WORKGROUP}) fn main(@builtin(local_invocation_index) li: u32) {
  var q = 0.0;
  for (var i = li; i < dims.size; i = i + ${WORKGROUP}u) { q = q + dy[i] * kernel[i]; }
  part[li] = q;
  workgroupBarrier();
  treeSum(li);
  let sg = sigma[0];
  let dSigma = -(part[0] / (sg * sg));
  for (var j = li; j < dims.out; j = j + ${WORKGROUP}u) { dVW[j] = dSigma * un[j]; }
}`;

type Args = { inputs: tf.NamedTensorInfoMap; backend: tf.KernelBackend };

function check(kernel: string, ins: Record<string, tf.TensorInfo | undefined>, same: [string, string]): void {
  for (const [k, t] of Object.entries(ins)) if (t?.dtype !== "float32") throw new Error(`${kernel}: ${k} must be a float32 tensor`);
  if (size(ins[same[0]]!) !== size(ins[same[1]]!)) throw new Error(`${kernel}: ${same[0]} and ${same[1]} must have one size`);
}

export function makeWebgpuPowerStepKernel(): tf.KernelFunc {
  return (({ inputs, backend }: Args): tf.TensorInfo[] => {
    const { w, u } = inputs as Record<string, tf.TensorInfo | undefined>;
    if (w?.dtype !== "float32" || u?.dtype !== "float32" || w.shape.length !== 2 || size(u) !== w.shape[1] || size(w) === 0) {
      throw new Error(`${GANC_POWER_STEP}: w must be a non-empty float32 [n, out] and u float32 with out values`);
    }
    const [n, out] = w.shape as [number, number];
    const [v, un, vw] = [output(backend, [1, n]), output(backend, [1, out]), output(backend, [1, out])];
    dispatch(backend, GANC_POWER_STEP, POWER_STEP, [v, un, vw], [w, u], [u32(n), u32(out)], { x: 1, y: 1 });
    return [v, un, vw];
  }) as unknown as tf.KernelFunc;
}

export function makeWebgpuSpectralNormKernels(): { normalize: tf.KernelFunc; grad: tf.KernelFunc } {
  const normalize = (({ inputs, backend }: Args): tf.TensorInfo[] => {
    const { kernel, s, un } = inputs as Record<string, tf.TensorInfo>;
    check(GANC_SN_NORMALIZE, { kernel, s, un }, ["s", "un"]);
    const [normalized, sigma] = [output(backend, [...kernel!.shape]), output(backend, [])];
    const groups = grid(size(kernel!));
    dispatch(backend, GANC_SN_NORMALIZE, NORMALIZE, [normalized, sigma], [kernel!, s!, un!], [u32(size(kernel!)), u32(size(s!)), u32(groups.x)], groups);
    return [normalized, sigma];
  }) as unknown as tf.KernelFunc;
  const grad = (({ inputs, backend, attrs }: Args & { attrs?: tf.NamedAttrMap }): tf.TensorInfo[] => {
    const sum = (attrs as { sum?: boolean } | undefined)?.sum === true;
    const { dy, kernel, sigma, un } = inputs as Record<string, tf.TensorInfo>;
    check(GANC_SN_GRAD, { dy, kernel, sigma, un }, ["dy", "kernel"]);
    const { vv } = inputs as Record<string, tf.TensorInfo | undefined>;
    if (vv === undefined || vv.dtype !== "float32" || size(vv) * size(un!) !== size(kernel!)) {
      throw new Error(`${GANC_SN_GRAD}: on webgpu it takes vv [1, n] too (n * out = the kernel's size)`);
    }
    const [dA, dVW] = [output(backend, [...dy!.shape]), output(backend, [...un!.shape])];
    const dW = sum ? null : output(backend, [...kernel!.shape]);
    const groups = grid(size(dy!));
    dispatch(backend, `${GANC_SN_GRAD}.dsigma`, DSIGMA, [dVW], [dy!, kernel!, sigma!, un!], [u32(size(dy!)), u32(size(un!))], { x: 1, y: 1 });
    dispatch(backend, `${GANC_SN_GRAD}.dadw ${sum ? 1 : 0}`, () => DA_DW(sum), dW ? [dA, dW] : [dA], [dy!, sigma!, vv, dVW], [u32(size(dy!)), u32(size(un!)), u32(groups.x)], groups);
    return dW ? [dA, dVW, dW] : [dA, dVW];
  }) as unknown as tf.KernelFunc;
  return { normalize, grad };
}
