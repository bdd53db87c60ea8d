import type * as tf from "@tensorflow/tfjs";
import { GANC_BN_GRAD, GANC_BN_TRAIN } from "../names.ts";
import type { BatchNormGradAttrs } from "../wasm/index.ts";
import { columnTree, dispatch, elementwiseMain, f32, grid, LANES, output, size, u32 } from "./program.ts";

/**
 * Batch norm with batch statistics on webgpu, forward and backward, as the wasm kernel pair computes it (see
 * makeBatchNormTrainKernel and makeBatchNormGradKernel in ../wasm/index.ts, and src/layers/batchnorm.ts for the
 * chain written out): two dispatches each way instead of the chain's stock kernels (tfjs's webgpu Mean and Sum
 * over the channels-last axes transpose first: about 7 dispatches forward and 26 backward).
 *
 * The per-channel dispatch gives each workgroup 16 channels whole, 16 threads down the rows of each (adjacent
 * threads read adjacent channels), and finishes every per-channel step there: both passes of the statistics, or
 * the backward pass's four sums, the factor k = (dvar / n) * 2, the sum of xc * k and dx3. The elementwise
 * dispatch then writes y, or dx. Each value is the float32 operation the chain's kernels apply, in their operand
 * order; the sums add in another order than tfjs's reductions (each thread strides down its column, then a tree
 * over the 16), and a shader compiler may fuse a product into a sum, so the results are float32 roundings of the
 * same formulas, not always the chain's bits (test/runtime/webgpu-kernels.test.ts holds them to float64).
 */

/** Workgroups of the per-channel dispatches: 16 channels each. */
function channelGroups(cols: number, kernel: string): { x: number; y: number } {
  const x = Math.ceil(cols / LANES);
  if (x > 65535) throw new Error(`${kernel}: ${cols} channels is more than this kernel handles (${65535 * LANES})`);
  return { x, y: 1 };
}

const STATS = () => /* wgsl */ `
@group(0) @binding(0) var<storage, read_write> mean: array<f32>;
@group(0) @binding(1) var<storage, read_write> variance: array<f32>;
@group(0) @binding(2) var<storage, read> x: array<f32>;
struct U { rows: u32, cols: u32 }
@group(0) @binding(3) var<uniform> u: U;
var<workgroup> part: array<f32, ${LANES * LANES}>;
@compute @workgroup_size(${LANES}, ${LANES}) fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let lx = lid.x;
  let ly = lid.y;
  let c = wg.x * ${LANES}u + lx;
  let live = c < u.cols;
  var s = 0.0;
  if (live) { for (var r = ly; r < u.rows; r = r + ${LANES}u) { s = s + x[r * u.cols + c]; } }
  part[ly * ${LANES}u + lx] = s;
  workgroupBarrier();
  ${columnTree(["part"])}
  let m = part[lx] / f32(u.rows);
  workgroupBarrier();
  var q = 0.0;
  if (live) { for (var r = ly; r < u.rows; r = r + ${LANES}u) { let d = x[r * u.cols + c] - m; q = q + d * d; } }
  part[ly * ${LANES}u + lx] = q;
  workgroupBarrier();
  ${columnTree(["part"])}
  if (ly == 0u && live) {
    mean[c] = m;
    variance[c] = part[lx] / f32(u.rows);
  }
}`;

function normalize(scale: boolean, offset: boolean, relu: boolean): string {
  const extra = [...(scale ? ["scale"] : []), ...(offset ? ["offset"] : [])];
  return /* wgsl */ `
@group(0) @binding(0) var<storage, read_write> y: array<f32>;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> mean: array<f32>;
@group(0) @binding(3) var<storage, read> variance: array<f32>;
${extra.map((name, i) => `@group(0) @binding(${4 + i}) var<storage, read> ${name}: array<f32>;`).join("\n")}
struct U { size: u32, cols: u32, eps: f32, groupsX: u32 }
@group(0) @binding(${4 + extra.length}) var<uniform> u: U;
${elementwiseMain("u")}
  if (i >= u.size) { return; }
  let c = i % u.cols;
  // tfjs's FusedBatchNorm (BatchNormProgram), then its Relu
  let inv = ${scale ? "scale[c]" : "1.0"} * inverseSqrt(variance[c] + u.eps);
  let v = dot(vec3<f32>(x[i], -mean[c], ${offset ? "offset[c]" : "0.0"}), vec3<f32>(inv, inv, 1.0));
  y[i] = ${relu ? "select(v, 0.0, v < 0.0)" : "v"};
}`;
}

type Args = { inputs: tf.NamedTensorInfoMap; backend: tf.KernelBackend; attrs: tf.NamedAttrMap };

export function makeWebgpuBatchNormTrainKernel(): tf.KernelFunc {
  return (({ inputs, backend, attrs }: Args): tf.TensorInfo[] => {
    const { x, scale, offset } = inputs as Record<string, tf.TensorInfo | undefined>;
    const { varianceEpsilon } = attrs as unknown as tf.FusedBatchNormAttrs;
    const relu = (attrs as { activation?: string }).activation === "relu";
    const cols = x!.shape[x!.shape.length - 1] ?? 0;
    if (x!.dtype !== "float32" || cols === 0 || size(x!) === 0) throw new Error(`${GANC_BN_TRAIN}: x must be a non-empty float32 tensor`);
    const rows = size(x!) / cols;
    const mean = output(backend, [cols]);
    const variance = output(backend, [cols]);
    dispatch(backend, `${GANC_BN_TRAIN}.stats`, STATS, [mean, variance], [x!], [u32(rows), u32(cols)], channelGroups(cols, GANC_BN_TRAIN));
    const y = output(backend, [...x!.shape]);
    const groups = grid(size(x!));
    const key = `${GANC_BN_TRAIN}.normalize ${scale ? 1 : 0}${offset ? 1 : 0}${relu ? 1 : 0}`;
    const extra = [...(scale ? [scale] : []), ...(offset ? [offset] : [])];
    dispatch(backend, key, () => normalize(!!scale, !!offset, relu), [y], [x!, mean, variance, ...extra], [u32(size(x!)), u32(cols), f32(varianceEpsilon), u32(groups.x)], groups);
    return [y, mean, variance];
  }) as unknown as tf.KernelFunc;
}

/**
 * The backward pass's per-channel dispatch: dgamma = sum(dy * (xc * r)), dbeta = sum(dy), dvar = sum((mh * xc) * dyg)
 * and sum(r * dyg) with dyg = dy * gamma (or dy), then k = (dvar / n) * 2, sum(xc * k), and
 * dx3 = (sum(r * dyg) + sum(xc * k)) / -n, written to coef as [k.., dx3..].
 */
function gradSums(gamma: boolean): string {
  return /* wgsl */ `
@group(0) @binding(0) var<storage, read_write> dgamma: array<f32>;
@group(0) @binding(1) var<storage, read_write> dbeta: array<f32>;
@group(0) @binding(2) var<storage, read_write> coef: array<f32>;
@group(0) @binding(3) var<storage, read> dy: array<f32>;
@group(0) @binding(4) var<storage, read> x: array<f32>;
@group(0) @binding(5) var<storage, read> mean: array<f32>;
@group(0) @binding(6) var<storage, read> rmh: array<f32>;
${gamma ? "@group(0) @binding(7) var<storage, read> gamma: array<f32>;" : ""}
struct U { rows: u32, cols: u32 }
@group(0) @binding(${gamma ? 8 : 7}) var<uniform> u: U;
var<workgroup> sDy: array<f32, ${LANES * LANES}>;
var<workgroup> sG: array<f32, ${LANES * LANES}>;
var<workgroup> sVar: array<f32, ${LANES * LANES}>;
var<workgroup> sR: array<f32, ${LANES * LANES}>;
@compute @workgroup_size(${LANES}, ${LANES}) fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let lx = lid.x;
  let ly = lid.y;
  let c = wg.x * ${LANES}u + lx;
  let live = c < u.cols;
  var a0 = 0.0;
  var a1 = 0.0;
  var a2 = 0.0;
  var a3 = 0.0;
  var m = 0.0;
  var r = 0.0;
  var mh = 0.0;
  if (live) {
    m = mean[c];
    r = rmh[c];
    mh = rmh[u.cols + c];
    ${gamma ? "let g = gamma[c];" : ""}
    for (var row = ly; row < u.rows; row = row + ${LANES}u) {
      let i = row * u.cols + c;
      let d = dy[i];
      let xc = x[i] - m;
      let dyg = ${gamma ? "d * g" : "d"};
      a0 = a0 + d;
      a1 = a1 + d * (xc * r);
      a2 = a2 + (mh * xc) * dyg;
      a3 = a3 + r * dyg;
    }
  }
  let at = ly * ${LANES}u + lx;
  sDy[at] = a0;
  sG[at] = a1;
  sVar[at] = a2;
  sR[at] = a3;
  workgroupBarrier();
  ${columnTree(["sDy", "sG", "sVar", "sR"])}
  let n = f32(u.rows);
  let k = (sVar[lx] / n) * 2.0;
  let sumR = sR[lx];
  if (ly == 0u && live) {
    dgamma[c] = sG[lx];
    dbeta[c] = sDy[lx];
  }
  workgroupBarrier();
  var s = 0.0;
  if (live) { for (var row = ly; row < u.rows; row = row + ${LANES}u) { s = s + (x[row * u.cols + c] - m) * k; } }
  sDy[at] = s;
  workgroupBarrier();
  ${columnTree(["sDy"])}
  if (ly == 0u && live) {
    coef[c] = k;
    coef[u.cols + c] = (sumR + sDy[lx]) / -n;
  }
}`;
}

/** dx = ((into + (dy * r) * gamma) + xc * k) + dx3, the chain's additions in its order (into and gamma optional). */
function gradDx(gamma: boolean, into: boolean): string {
  const extra = [...(gamma ? ["gamma"] : []), ...(into ? ["into"] : [])];
  return /* wgsl */ `
@group(0) @binding(0) var<storage, read_write> dx: array<f32>;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read> mean: array<f32>;
@group(0) @binding(4) var<storage, read> rmh: array<f32>;
@group(0) @binding(5) var<storage, read> coef: array<f32>;
${extra.map((name, i) => `@group(0) @binding(${6 + i}) var<storage, read> ${name}: array<f32>;`).join("\n")}
struct U { size: u32, cols: u32, groupsX: u32 }
@group(0) @binding(${6 + extra.length}) var<uniform> u: U;
${elementwiseMain("u")}
  if (i >= u.size) { return; }
  let c = i % u.cols;
  let dx1 = ${gamma ? "(dy[i] * rmh[c]) * gamma[c]" : "dy[i] * rmh[c]"};
  let first = ${into ? "into[i] + dx1" : "dx1"};
  dx[i] = (first + (x[i] - mean[c]) * coef[c]) + coef[u.cols + c];
}`;
}

export function makeWebgpuBatchNormGradKernel(): tf.KernelFunc {
  return (({ inputs, backend, attrs }: Args): tf.TensorInfo[] => {
    const { dy, x, mean, r, mh, gamma, into } = inputs as Record<string, tf.TensorInfo | undefined>;
    const { needDx } = attrs as unknown as BatchNormGradAttrs;
    const cols = x!.shape[x!.shape.length - 1] ?? 0;
    if (cols === 0 || size(x!) === 0 || size(dy!) !== size(x!) || (into && size(into) !== size(x!)) || size(mean!) !== cols) {
      throw new Error(`${GANC_BN_GRAD}: dy, x and into must be non-empty and of one size, and mean one value per channel`);
    }
    const rows = size(x!) / cols;
    // r and mh side by side: one binding (a dispatch may bind 8 storage buffers)
    const rmh = output(backend, [2 * cols]);
    dispatch(backend, `${GANC_BN_GRAD}.rmh`, PACK2, [rmh], [r!, mh!], [u32(cols), u32(grid(cols).x)], grid(cols));
    const dgamma = output(backend, [cols]);
    const dbeta = output(backend, [cols]);
    const coef = output(backend, [2 * cols]);
    const g = gamma ? [gamma] : [];
    dispatch(backend, `${GANC_BN_GRAD}.sums ${gamma ? 1 : 0}`, () => gradSums(!!gamma), [dgamma, dbeta, coef], [dy!, x!, mean!, rmh, ...g], [u32(rows), u32(cols)], channelGroups(cols, GANC_BN_GRAD));
    let dx: tf.TensorInfo | null = null;
    if (needDx) {
      dx = output(backend, [...x!.shape]);
      const groups = grid(size(x!));
      const key = `${GANC_BN_GRAD}.dx ${gamma ? 1 : 0}${into ? 1 : 0}`;
      dispatch(backend, key, () => gradDx(!!gamma, !!into), [dx], [dy!, x!, mean!, rmh, coef, ...g, ...(into ? [into] : [])], [u32(size(x!)), u32(cols), u32(groups.x)], groups);
    }
    backend.disposeData(rmh.dataId);
    backend.disposeData(coef.dataId);
    return dx ? [dgamma, dbeta, dx] : [dgamma, dbeta];
  }) as unknown as tf.KernelFunc;
}

/** Two tensors of `cols` values into one of 2 * cols. */
const PACK2 = () => /* wgsl */ `
@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
struct U { cols: u32, groupsX: u32 }
@group(0) @binding(3) var<uniform> u: U;
${elementwiseMain("u")}
  if (i >= u.cols) { return; }
  out[i] = a[i];
  out[u.cols + i] = b[i];
}`;
