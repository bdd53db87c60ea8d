import * as tf from "@tensorflow/tfjs";

/**
 * Runs a WGSL compute shader of ganc's on tfjs-backend-webgpu's device, in its command stream, with any number of
 * outputs. tfjs's own programs (runWebGPUProgram) write one output each; ganc's one-kernel steps (Adam) write
 * several, so this records the dispatch the way tfjs's recordAndSubmit does: the same device, command encoder,
 * compute pass, deferred submission and buffer ownership, so that tfjs orders it with its own kernels and
 * frees the buffers after the queue has read them.
 *
 * The shader declares its bindings in this order: the outputs (storage, read_write), the inputs (storage, read),
 * then one uniform struct of 32-bit scalars in `uniforms`' order. Its entry point is `main`.
 */

/** The parts of tfjs-backend-webgpu's WebGPUBackend (4.x) that a dispatch needs. */
interface WebgpuBackend {
  device: GPUDeviceLike;
  tensorMap: { get(dataId: object): { resource: unknown } | undefined };
  commandQueueOwnedIds: WeakSet<object>;
  commandEncoder: { beginComputePass(d: object): ComputePassLike } | null;
  computePassEncoder: ComputePassLike | null;
  dispatchCountInPass: number;
  makeTensorInfo(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  uploadToGPU(dataId: object): void;
  makeUniforms(u: { type: "float32" | "uint32" | "int32"; data: number[] }[]): { offset: number; size: number; buffer: unknown };
  ensureCommandEncoderReady(): void;
  endComputePassEncoder(): void;
  submitQueue(): void;
}

interface GPUDeviceLike {
  createShaderModule(d: { code: string }): unknown;
  createComputePipeline(d: { layout: "auto"; compute: { module: unknown; entryPoint: string } }): PipelineLike;
  createBindGroup(d: { layout: unknown; entries: { binding: number; resource: unknown }[] }): unknown;
}
interface PipelineLike {
  getBindGroupLayout(i: number): unknown;
}
interface ComputePassLike {
  setPipeline(p: PipelineLike): void;
  setBindGroup(i: number, g: unknown): void;
  dispatchWorkgroups(x: number, y?: number, z?: number): void;
}

export interface Uniform {
  type: "float32" | "uint32";
  value: number;
}

/** Threads per workgroup of ganc's elementwise shaders. */
export const WORKGROUP = 256;
/** WebGPU's guaranteed maximum of workgroups along one dimension. */
const MAX_GROUPS = 65535;

const pipelines = new WeakMap<object, Map<string, PipelineLike>>();

/** Backends already checked by webgpuBackend (the check runs once per backend, not per dispatch). */
const checked = new WeakSet<object>();

/** The backend object of an active webgpu backend, checked for the members this file uses. */
export function webgpuBackend(backend: tf.KernelBackend): WebgpuBackend {
  const b = backend as unknown as Partial<WebgpuBackend>;
  if (checked.has(b)) return b as WebgpuBackend;
  for (const member of ["device", "tensorMap", "makeUniforms", "uploadToGPU", "ensureCommandEncoderReady", "endComputePassEncoder", "submitQueue"] as const) {
    if (b[member] === undefined) throw new Error(`ganc's webgpu kernels: this tfjs-backend-webgpu has no '${member}' (written for 4.x)`);
  }
  checked.add(b);
  return b as WebgpuBackend;
}

/** Elements of a tensor. */
export const size = (t: tf.TensorInfo): number => tf.util.sizeFromShape(t.shape as number[]);
/** A float32 or a uint32 field of a dispatch's uniform struct. */
export const f32 = (value: number): Uniform => ({ type: "float32", value });
export const u32 = (value: number): Uniform => ({ type: "uint32", value });

/**
 * WGSL: the entry point of an elementwise shader over grid(threads) and its element index `i`, from the uniform
 * struct `uniforms` (which holds groupsX); the body follows, and closes the function.
 */
export function elementwiseMain(uniforms: string): string {
  return `@compute @workgroup_size(${WORKGROUP}) fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let i = (wg.y * ${uniforms}.groupsX + wg.x) * ${WORKGROUP}u + li;`;
}

/** Channels per workgroup of the per-channel shaders, and threads down the rows of each: a 16 x 16 workgroup. */
export const LANES = 16;

/**
 * WGSL: the tree over a per-channel workgroup's 16 row lanes of each of `arrays` (array<f32, 256> indexed
 * ly * 16 + lx), leaving each channel's total at index lx (every thread runs it: it holds barriers).
 */
export function columnTree(arrays: string[]): string {
  return `
  for (var stride = ${LANES / 2}u; stride > 0u; stride = stride / 2u) {
    if (ly < stride) {
${arrays.map((a) => `      ${a}[ly * ${LANES}u + lx] = ${a}[ly * ${LANES}u + lx] + ${a}[(ly + stride) * ${LANES}u + lx];`).join("\n")}
    }
    workgroupBarrier();
  }`;
}

/**
 * The workgroup counts for `threads` threads of WORKGROUP each, folded into two dimensions past 65,535 groups; the
 * shader's index is (workgroup_id.y * groupsX + workgroup_id.x) * WORKGROUP + local_invocation_index, and it returns
 * past its size (groupsX is passed as a uniform).
 */
export function grid(threads: number): { x: number; y: number } {
  const groups = Math.max(1, Math.ceil(threads / WORKGROUP));
  const y = Math.ceil(groups / MAX_GROUPS);
  return { x: Math.ceil(groups / y), y };
}

/** Records one dispatch of `code` (cached per device and `key`) over the given output and input tensors. */
export function dispatch(
  backend: tf.KernelBackend,
  key: string,
  code: () => string,
  outputs: tf.TensorInfo[],
  inputs: tf.TensorInfo[],
  uniforms: Uniform[],
  groups: { x: number; y: number },
): void {
  const b = webgpuBackend(backend);
  let cache = pipelines.get(b.device as object);
  if (cache === undefined) pipelines.set(b.device as object, (cache = new Map()));
  let pipeline = cache.get(key);
  if (pipeline === undefined) {
    pipeline = b.device.createComputePipeline({ layout: "auto", compute: { module: b.device.createShaderModule({ code: code() }), entryPoint: "main" } });
    cache.set(key, pipeline);
  }
  const tensors = [...outputs, ...inputs];
  for (const t of tensors) b.uploadToGPU(t.dataId);
  const uniform = b.makeUniforms(uniforms.map((u) => ({ type: u.type, data: [u.value] })));
  const entries = tensors.map((t, i) => ({ binding: i, resource: { buffer: b.tensorMap.get(t.dataId)!.resource } }));
  entries.push({ binding: tensors.length, resource: uniform });
  for (const t of tensors) b.commandQueueOwnedIds.add(t.dataId);
  const bindGroup = b.device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries });
  b.ensureCommandEncoderReady();
  if (b.computePassEncoder === null || b.computePassEncoder === undefined) b.computePassEncoder = b.commandEncoder!.beginComputePass({});
  b.computePassEncoder.setPipeline(pipeline);
  b.computePassEncoder.setBindGroup(0, bindGroup);
  b.computePassEncoder.dispatchWorkgroups(groups.x, groups.y, 1);
  b.dispatchCountInPass++;
  if ((tf.env().get("WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE") as number) <= b.dispatchCountInPass) {
    b.endComputePassEncoder();
    b.submitQueue();
  }
}

/** A new float32 tensor of the webgpu backend, its buffer allocated (for a dispatch to write). */
export function output(backend: tf.KernelBackend, shape: number[]): tf.TensorInfo {
  const b = webgpuBackend(backend);
  const t = b.makeTensorInfo(shape, "float32");
  b.uploadToGPU(t.dataId);
  return t;
}
