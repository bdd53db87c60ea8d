/*
 * A record of a run's first iteration, for comparing two trainers of one spec (the TypeScript trainer and
 * the PyTorch one, `ganc compile --target pytorch`): with GANC_TRACE_FIRST_ITERATION=<dir> in the
 * environment, a trainer writes there, as .npy files named after ganc's variables,
 *
 *   init/<variable>.npy        every variable's value before the first update (ganc's layout)
 *   batch/<input>.npy          the first batch: data, labels, noise (images NHWC)
 *   grad/<step>/<variable>.npy the gradients each step of the first iteration computed (before clipping)
 *   value/<k>-<name>.npy       the losses and logged values each step returned, in schedule order
 *   after/<step>/<variable>.npy every variable after the step's update (the TypeScript trainer)
 *
 * and nothing in later iterations. Both trainers write the same layout (the Python one in its runtime).
 * With GANC_TRACE_REPLAY=<the TypeScript trainer's trace> as well, the Python trainer takes its variables
 * from after/<step> once each step of the first iteration is done, so that every step's gradients are
 * compared on the same weights (two float32 engines drift apart by rounding, and Adam's first update,
 * about lr * sign(g), turns a rounding-sized gradient into a full step).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import * as tf from "@tensorflow/tfjs";
import { recordingKinks } from "./kink-record.ts";

/** The bytes of a little-endian .npy file (format 1.0) of `data` with `shape`. */
export function npyBytes(data: Float32Array | Int32Array, shape: readonly number[]): Buffer {
  const descr = data instanceof Float32Array ? "<f4" : "<i4";
  const dims = shape.length === 1 ? `${shape[0]},` : shape.join(", ");
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': (${dims}), }`;
  const total = 10 + header.length + 1;
  header += " ".repeat((64 - (total % 64)) % 64) + "\n";
  const head = Buffer.alloc(10);
  head.write("\x93NUMPY", 0, "latin1");
  head[6] = 1;
  head[7] = 0;
  head.writeUInt16LE(header.length, 8);
  return Buffer.concat([head, Buffer.from(header, "latin1"), Buffer.from(data.buffer, data.byteOffset, data.byteLength)]);
}

/** The trace folder, when the environment asks for one. */
export function traceDir(): string | null {
  const d = process.env.GANC_TRACE_FIRST_ITERATION;
  return d ? d : null;
}

/** Writes one array of the trace (`name` may hold slashes: ganc's variable names). */
export function traceWrite(dir: string, part: string, name: string, data: Float32Array | Int32Array, shape: readonly number[]): void {
  const file = path.join(dir, part, `${name}.npy`);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, npyBytes(data, shape));
}

/**
 * The kinks the first iteration passed near, for telling rounding from a difference of meaning: with a
 * trace, every ReLU and leaky ReLU the trainer evaluates in its first iteration (forward passes of every
 * step, in order) writes kink/<call>-<op>-<size>/{index,value}.npy, the entries of its input (ganc's layout,
 * flattened) within KINK_BAND of the input's largest magnitude of 0, and their values. Two float32 engines
 * can put such an entry on opposite sides of 0 by rounding alone; the gate then passes a gradient in one
 * engine only, and through batch norm's backward pass that one entry moves every gradient upstream by ~1e-3
 * of its size. The PyTorch trainer's float64 evaluation (GANC_TRACE_KINKS, see the Python runtime) takes
 * each recorded entry's side from this record, so that the two programs are compared on the same branches.
 */
export const KINK_BAND = 1e-4;

const KINK_KERNELS: [kernel: string, op: string][] = [
  ["Relu", "relu"],
  ["LeakyRelu", "leaky_relu"],
];

export function traceKinks(dir: string, active: () => boolean): void {
  const backend = tf.getBackend();
  let call = 0;
  for (const [kernel, op] of KINK_KERNELS) {
    const config = tf.getKernel(kernel, backend);
    if (!config) continue;
    tf.unregisterKernel(kernel, backend);
    tf.registerKernel({
      ...config,
      kernelFunc: (args) => {
        if (active() && recordingKinks()) {
          const x = args.inputs.x as tf.TensorInfo;
          const values = (args.backend as tf.KernelBackend).readSync(x.dataId) as Float32Array;
          let largest = 0;
          for (let i = 0; i < values.length; i++) largest = Math.max(largest, Math.abs(values[i]!));
          const band = KINK_BAND * largest;
          const index: number[] = [];
          for (let i = 0; i < values.length; i++) if (Math.abs(values[i]!) <= band) index.push(i);
          const name = `${String(call++).padStart(5, "0")}-${op}-${values.length}`;
          traceWrite(dir, "kink", `${name}/index`, Int32Array.from(index), [index.length]);
          traceWrite(dir, "kink", `${name}/value`, Float32Array.from(index, (i) => values[i]!), [index.length]);
        }
        return config.kernelFunc(args);
      },
    });
  }
}
