import * as tf from "@tensorflow/tfjs";
import type { AdamKernelAttrs, BnFactorsAttrs, MovingAveragesAttrs } from "./wasm/index.ts";

/**
 * ganc's one-kernel Adam and batch-norm bookkeeping for the cpu backend: the same kernels as
 * wasm/index.ts, written as JavaScript loops over the tensors' Float32Arrays. tfjs-backend-cpu
 * computes each elementwise op in double precision and stores it to float32, so every step here is
 * one operation rounded with Math.fround: bit for bit the chain of cpu kernels it replaces. (The one
 * difference from wasm: the cpu Rsqrt is 1 / sqrt(x) rounded once.)
 */

interface CpuBackendLike {
  readSync(dataId: object): tf.TypedArray;
  makeTensorInfo(shape: number[], dtype: tf.DataType, values?: tf.TypedArray): tf.TensorInfo;
}

type Args = { inputs: tf.NamedTensorInfoMap; backend: tf.KernelBackend; attrs: tf.NamedAttrMap };

const f32 = Math.fround;
const cpu = (backend: tf.KernelBackend) => backend as unknown as CpuBackendLike;
const values = (backend: tf.KernelBackend, t: tf.TensorInfo) => cpu(backend).readSync(t.dataId) as Float32Array;

export function makeCpuAdamKernel(): tf.KernelFunc {
  return (({ inputs, backend, attrs }: Args): tf.TensorInfo[] => {
    const a = attrs as unknown as AdamKernelAttrs;
    const ins = inputs as Record<string, tf.TensorInfo>;
    const m = values(backend, ins.m!);
    const v = values(backend, ins.v!);
    const accBeta1 = values(backend, ins.acc1!)[0]!;
    const accBeta2 = values(backend, ins.acc2!)[0]!;
    const b1 = f32(a.beta1);
    const b2 = f32(a.beta2);
    const c1 = f32(1 - a.beta1);
    const c2 = f32(1 - a.beta2);
    const oma1 = f32(1 - accBeta1);
    const oma2 = f32(1 - accBeta2);
    const eps = f32(a.epsilon);
    const nlr = f32(-a.learningRate);
    const mo = new Float32Array(m.length);
    const vo = new Float32Array(v.length);
    const outs: tf.TensorInfo[] = [];
    let offset = 0;
    for (let i = 0; i < a.count; i++) {
      const wInfo = ins[`w${i}`]!;
      const g = values(backend, ins[`g${i}`]!);
      const w = values(backend, wInfo);
      const wo = new Float32Array(w.length);
      for (let j = 0; j < w.length; j++) {
        const k = offset + j;
        const gj = g[j]!;
        const mj = f32(f32(m[k]! * b1) + f32(gj * c1));
        const vj = f32(f32(v[k]! * b2) + f32(f32(gj * gj) * c2));
        mo[k] = mj;
        vo[k] = vj;
        const denom = f32(f32(Math.sqrt(f32(vj / oma2))) + eps);
        wo[j] = f32(f32(f32(f32(mj / oma1) / denom) * nlr) + w[j]!);
      }
      offset += w.length;
      outs.push(cpu(backend).makeTensorInfo([...wInfo.shape], "float32", wo));
    }
    if (offset !== m.length) throw new Error(`GancAdam: the variables hold ${offset} values, the moments ${m.length}`);
    const c = cpu(backend);
    outs.push(
      c.makeTensorInfo([...ins.m!.shape], "float32", mo),
      c.makeTensorInfo([...ins.v!.shape], "float32", vo),
      c.makeTensorInfo([], "float32", new Float32Array([f32(accBeta1 * b1)])),
      c.makeTensorInfo([], "float32", new Float32Array([f32(accBeta2 * b2)])),
    );
    return outs;
  }) as unknown as tf.KernelFunc;
}

export function makeCpuBnFactorsKernel(): tf.KernelFunc {
  return (({ inputs, backend, attrs }: Args): tf.TensorInfo[] => {
    const { epsilons } = attrs as unknown as BnFactorsAttrs;
    const rs: tf.TensorInfo[] = [];
    const mhs: tf.TensorInfo[] = [];
    epsilons.forEach((e, i) => {
      const info = (inputs as Record<string, tf.TensorInfo>)[`v${i}`]!;
      const v = values(backend, info);
      const eps = f32(e);
      const r = new Float32Array(v.length);
      const mh = new Float32Array(v.length);
      for (let j = 0; j < v.length; j++) {
        const rj = f32(1 / Math.sqrt(f32(v[j]! + eps)));
        r[j] = rj;
        mh[j] = f32(f32(f32(rj * rj) * rj) * -0.5);
      }
      rs.push(cpu(backend).makeTensorInfo([...info.shape], "float32", r));
      mhs.push(cpu(backend).makeTensorInfo([...info.shape], "float32", mh));
    });
    return [...rs, ...mhs];
  }) as unknown as tf.KernelFunc;
}

export function makeCpuMovingAveragesKernel(): tf.KernelFunc {
  return (({ inputs, backend, attrs }: Args): tf.TensorInfo[] => {
    const { count, decay, times } = attrs as unknown as MovingAveragesAttrs;
    const d = f32(decay);
    const omd = f32(1 - decay);
    const ins = inputs as Record<string, tf.TensorInfo>;
    return Array.from({ length: count }, (_, i) => {
      const info = ins[`moving${i}`]!;
      const moving = values(backend, info);
      const batch = values(backend, ins[`batch${i}`]!);
      if (batch.length !== moving.length) throw new Error(`GancMovingAverages: batch${i} and moving${i} differ in size`);
      const out = new Float32Array(moving.length);
      for (let j = 0; j < moving.length; j++) {
        const b = f32(batch[j]! * omd);
        let x = moving[j]!;
        for (let t = 0; t < times; t++) x = f32(f32(x * d) + b);
        out[j] = x;
      }
      return cpu(backend).makeTensorInfo([...info.shape], "float32", out);
    });
  }) as unknown as tf.KernelFunc;
}

/**
 * attention.ts's 2x2 max pooling as three kernels on cpu (wasm/index.ts, makeMaxPool2Kernels, says what each
 * computes): the chain of cpu kernels they replace, bit for bit. The cpu ArgMax keeps the first largest entry
 * (only a strictly greater value replaces it); Multiply rounds each product to float32 and Sum adds in double
 * from 0, here in the same order.
 */
export function makeCpuMaxPool2Kernels(): { index: tf.KernelFunc; pool: tf.KernelFunc; grad: tf.KernelFunc } {
  type Args = { inputs: tf.NamedTensorInfoMap; backend: tf.KernelBackend };
  /** The flat offsets of window entry 0 of each output, in output order, and the distances to entries 1-3. */
  const walk = (n: number, h: number, w: number, c: number, each: (o: number, p: number, cb: number, rb: number) => void) => {
    let o = 0;
    for (let i = 0; i < (n * h) / 2; i++) {
      for (let j = 0; j < w / 2; j++) {
        for (let ch = 0; ch < c; ch++) each(o++, (2 * i * w + 2 * j) * c + ch, c, w * c);
      }
    }
  };
  const shape4 = (t: tf.TensorInfo | undefined, kernel: string) => {
    if (t === undefined || t.shape.length !== 4) throw new Error(`${kernel}: expected [b, h, w, c] tensors`);
    return t.shape as [number, number, number, number];
  };
  const index = (({ inputs, backend }: Args): tf.TensorInfo => {
    const [n, h, w, c] = shape4(inputs.x, "GancMaxPool2Index");
    const x = values(backend, inputs.x!);
    const idx = new Int32Array((n * h * w * c) / 4);
    walk(n, h, w, c, (o, p, cb, rb) => {
      let best = x[p]!;
      let k = 0;
      [p + cb, p + rb, p + rb + cb].forEach((q, m) => {
        if (x[q]! > best) {
          best = x[q]!;
          k = m + 1;
        }
      });
      idx[o] = k;
    });
    return cpu(backend).makeTensorInfo([n, h / 2, w / 2, c], "int32", idx);
  }) as unknown as tf.KernelFunc;
  /** The input (x or dy) of a kernel that reads a window index, its shape, and the index. */
  const withIndex = (backend: tf.KernelBackend, t: tf.TensorInfo | undefined, idx: tf.TensorInfo | undefined, kernel: string) => {
    const shape = shape4(t, kernel);
    return [values(backend, t!), shape, cpu(backend).readSync(idx!.dataId) as Int32Array] as const;
  };
  const pool = (({ inputs, backend }: Args): tf.TensorInfo => {
    const [x, [n, h, w, c], idx] = withIndex(backend, inputs.x, inputs.idx, "GancMaxPool2");
    const y = new Float32Array(idx.length);
    walk(n, h, w, c, (o, p, cb, rb) => {
      const k = idx[o]!;
      let acc = 0;
      [p, p + cb, p + rb, p + rb + cb].forEach((q, m) => (acc += f32(x[q]! * (k === m ? 1 : 0))));
      y[o] = acc;
    });
    return cpu(backend).makeTensorInfo([n, h / 2, w / 2, c], "float32", y);
  }) as unknown as tf.KernelFunc;
  const grad = (({ inputs, backend }: Args): tf.TensorInfo => {
    const [dy, [n, ho, wo, c], idx] = withIndex(backend, inputs.dy, inputs.idx, "GancMaxPool2Grad");
    const dx = new Float32Array(dy.length * 4);
    walk(n, 2 * ho, 2 * wo, c, (o, p, cb, rb) => {
      const k = idx[o]!;
      [p, p + cb, p + rb, p + rb + cb].forEach((q, m) => (dx[q] = dy[o]! * (k === m ? 1 : 0)));
    });
    return cpu(backend).makeTensorInfo([n, 2 * ho, 2 * wo, c], "float32", dx);
  }) as unknown as tf.KernelFunc;
  return { index, pool, grad };
}

/**
 * attention.ts's softmax and its backward pass on cpu (wasm/index.ts, makeSoftmaxKernels, says what each
 * computes): the chain of cpu kernels they replace, bit for bit. The cpu Max takes a NaN anywhere in the row;
 * Sub, Exp, RealDiv, Multiply, Square, Neg and Add round each result to float32; Sum adds in double from 0.
 */
export function makeCpuSoftmaxKernels(): { forward: tf.KernelFunc; grad: tf.KernelFunc } {
  type Args = { inputs: tf.NamedTensorInfoMap; backend: tf.KernelBackend };
  const rowsOf = (t: tf.TensorInfo) => {
    const cols = t.shape[t.shape.length - 1] ?? 0;
    return { rows: cols === 0 ? 0 : t.shape.reduce((a, b) => a * b, 1) / cols, cols, sumsShape: [...t.shape.slice(0, -1), 1] };
  };
  const forward = (({ inputs, backend }: Args): tf.TensorInfo[] => {
    const s = values(backend, inputs.s!);
    const { rows, cols, sumsShape } = rowsOf(inputs.s!);
    const e = new Float32Array(s.length);
    const sums = new Float32Array(rows);
    const attn = new Float32Array(s.length);
    for (let r = 0; r < rows; r++) {
      const o = r * cols;
      let m = s[o]!;
      for (let j = 0; j < cols; j++) if (Number.isNaN(s[o + j]!) || s[o + j]! > m) m = s[o + j]!;
      let sum = 0;
      for (let j = 0; j < cols; j++) {
        e[o + j] = Math.exp(f32(s[o + j]! - m));
        sum += e[o + j]!; // the stored float32, added in double
      }
      sums[r] = sum;
      for (let j = 0; j < cols; j++) attn[o + j] = e[o + j]! / sums[r]!;
    }
    const make = (shape: number[], v: Float32Array) => cpu(backend).makeTensorInfo(shape, "float32", v);
    return [make([...inputs.s!.shape], e), make(sumsShape, sums), make([...inputs.s!.shape], attn)];
  }) as unknown as tf.KernelFunc;
  const grad = (({ inputs, backend }: Args): tf.TensorInfo => {
    const [dy, e, sums] = [values(backend, inputs.dy!), values(backend, inputs.e!), values(backend, inputs.sums!)];
    const { rows, cols } = rowsOf(inputs.dy!);
    const ds = new Float32Array(dy.length);
    for (let r = 0; r < rows; r++) {
      const o = r * cols;
      let t = 0;
      for (let j = 0; j < cols; j++) t += f32(dy[o + j]! * e[o + j]!);
      const sm = sums[r]!;
      const g = -f32(f32(t) / f32(sm * sm));
      for (let j = 0; j < cols; j++) ds[o + j] = f32(f32(f32(f32(dy[o + j]! / sm) + g) * e[o + j]!) + 0);
    }
    return cpu(backend).makeTensorInfo([...inputs.dy!.shape], "float32", ds);
  }) as unknown as tf.KernelFunc;
  return { forward, grad };
}

/**
 * Spectral norm's float32 steps on cpu (wasm/index.ts, makeSpectralNormKernels, says what each computes): the chain
 * of cpu kernels they replace, bit for bit (Sum adds the float32 products in double from 0, then rounds once).
 */
export function makeCpuSpectralNormKernels(): { normalize: tf.KernelFunc; grad: tf.KernelFunc } {
  type Args = { inputs: tf.NamedTensorInfoMap; backend: tf.KernelBackend };
  const dot = (a: Float32Array, b: Float32Array) => {
    let acc = 0;
    for (let i = 0; i < a.length; i++) acc += f32(a[i]! * b[i]!);
    return f32(acc);
  };
  const make = (backend: tf.KernelBackend, shape: readonly number[], v: Float32Array) => cpu(backend).makeTensorInfo([...shape], "float32", v);
  const normalize = (({ inputs, backend }: Args): tf.TensorInfo[] => {
    const { kernel, s, un } = inputs as Record<string, tf.TensorInfo>;
    const sigma = dot(values(backend, s!), values(backend, un!));
    const k = values(backend, kernel!);
    return [make(backend, kernel!.shape, Float32Array.from(k, (v) => v / sigma)), make(backend, [], Float32Array.of(sigma))];
  }) as unknown as tf.KernelFunc;
  const grad = (({ inputs, backend }: Args): tf.TensorInfo[] => {
    const { dy, kernel, sigma, un } = inputs as Record<string, tf.TensorInfo>;
    const d = values(backend, dy!);
    const sg = values(backend, sigma!)[0]!;
    const dSigma = -f32(dot(d, values(backend, kernel!)) / f32(sg * sg));
    return [make(backend, dy!.shape, Float32Array.from(d, (v) => v / sg)), make(backend, un!.shape, Float32Array.from(values(backend, un!), (v) => dSigma * v))];
  }) as unknown as tf.KernelFunc;
  return { normalize, grad };
}
