import type { NetIR, NoiseIR } from "../../src/ir/types.ts";

/*
 * Float64 arithmetic for the tests of test/variants: a seeded generator of float32-exact test values, the
 * forward pass of small dense networks read off the checked program's layer list, the input gradient of
 * a scalar output, power iteration and the largest singular value, and the loss formulas written out.
 * Nothing here calls tfjs or the runtime: it is the independent side of the comparison.
 */

/** mulberry32, seeded from a string: the same values on every run and machine. */
export function rng(seed: string): () => number {
  let h = 2166136261;
  for (let i = 0; i < seed.length; i++) h = Math.imul(h ^ seed.charCodeAt(i), 16777619);
  let a = h >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `n` values uniform in [low, high), rounded to float32 (so both sides see exactly the same numbers). */
export function uniform(seed: string, n: number, low: number, high: number): Float32Array {
  const r = rng(seed);
  return Float32Array.from({ length: n }, () => low + (high - low) * r());
}

/** A batch of noise as the runtime draws it (values differ, distributions are the spec's). */
export function noiseValues(n: NoiseIR, batch: number, seed: string): { data: Float32Array; shape: number[] } {
  const r = rng(seed);
  if (n.dist === "categorical") {
    const data = new Float32Array(batch * n.classes);
    for (let i = 0; i < batch; i++) data[i * n.classes + Math.floor(r() * n.classes)] = 1;
    return { data, shape: [batch, n.classes] };
  }
  const size = n.shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(batch * size);
  for (let i = 0; i < data.length; i++) {
    if (n.dist === "uniform") data[i] = n.a + (n.b - n.a) * r();
    else data[i] = n.a + n.b * Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());
  }
  return { data, shape: [batch, ...n.shape] };
}

/** Rows of a [batch, ...] float32 tensor as float64 arrays, one per sample. */
export function rows(data: ArrayLike<number>, batch: number): number[][] {
  const per = data.length / batch;
  return Array.from({ length: batch }, (_, i) => Array.from({ length: per }, (_, j) => data[i * per + j]!));
}

export type Weights = (name: string) => ArrayLike<number>;

/** One sample through a net, every layer's output kept (and each dense layer's input, for gradients). */
interface Trace {
  outputs: number[][];
  taps: Record<string, number[]>;
}

/** sigma of a dense kernel [n, out] as the runtime's spectral norm estimates it from `u`: one power-iteration step. */
export function powerStep(kernel: ArrayLike<number>, n: number, out: number, u: ArrayLike<number>): { v: number[]; u: number[]; sigma: number } {
  const unit = (x: number[]) => {
    const s = Math.sqrt(x.reduce((a, b) => a + b * b, 0)) + 1e-12;
    return x.map((e) => e / s);
  };
  // v = u W^T / ||u W^T||, u' = v W / ||v W||, sigma = v W u'^T
  const v = unit(Array.from({ length: n }, (_, i) => {
    let s = 0;
    for (let j = 0; j < out; j++) s += u[j]! * kernel[i * out + j]!;
    return s;
  }));
  const vw = Array.from({ length: out }, (_, j) => {
    let s = 0;
    for (let i = 0; i < n; i++) s += v[i]! * kernel[i * out + j]!;
    return s;
  });
  const u2 = unit(vw);
  return { v, u: u2, sigma: vw.reduce((a, x, j) => a + x * u2[j]!, 0) };
}

/** The largest singular value of a [n, out] matrix: power iteration on W^T W to convergence, in float64. */
export function largestSingularValue(kernel: ArrayLike<number>, n: number, out: number): number {
  let x = Array.from({ length: out }, (_, j) => 1 + 0.1 * Math.sin(j + 1));
  let sigma = 0;
  for (let it = 0; it < 10_000; it++) {
    const wx = Array.from({ length: n }, (_, i) => {
      let s = 0;
      for (let j = 0; j < out; j++) s += kernel[i * out + j]! * x[j]!;
      return s;
    });
    const y = Array.from({ length: out }, (_, j) => {
      let s = 0;
      for (let i = 0; i < n; i++) s += kernel[i * out + j]! * wx[i]!;
      return s;
    });
    const ny = Math.sqrt(y.reduce((a, b) => a + b * b, 0));
    const next = Math.sqrt(ny);
    x = y.map((e) => e / ny);
    if (Math.abs(next - sigma) <= 1e-15 * next) return next;
    sigma = next;
  }
  return sigma;
}

/**
 * The forward pass of a net of dense, concat, flatten, reshape, relu, leakyrelu, sigmoid, tanh, linear and track_avg layers,
 * one sample at a time, in float64. `inputs[k][i]` is sample i of the net's k-th input (flattened, NHWC).
 * `kernelScale(layerIndex)` divides a dense kernel (spectral norm); default 1.
 */
export function forward(net: NetIR, inputs: number[][][], w: Weights, kernelScale: (layer: number, sample: number) => number = () => 1): Trace[] {
  const byName = new Map(net.params.map((p, k) => [p.name, k]));
  return inputs[0]!.map((x0, i) => {
    let h = x0;
    const outputs: number[][] = [];
    const taps: Record<string, number[]> = {};
    net.layers.forEach((info, li) => {
      const l = info.layer;
      switch (l.op) {
        case "dense": {
          const k = w(l.kernel);
          const b = l.bias ? w(l.bias) : null;
          const scale = kernelScale(li, i);
          const n = h.length;
          h = Array.from({ length: l.units }, (_, j) => {
            let s = 0;
            for (let r = 0; r < n; r++) s += h[r]! * k[r * l.units + j]!;
            return s / scale + (b ? b[j]! : 0);
          });
          break;
        }
        case "concat":
          for (const name of l.inputs) {
            const y = inputs[byName.get(name)!]![i]!;
            const shape = info.inShape;
            if (shape.length === 1) h = [...h, ...y];
            else {
              // an image [H, W, C] and a vector: the vector is appended at every position
              const c = shape[shape.length - 1]!;
              const next: number[] = [];
              for (let p = 0; p < h.length / c; p++) next.push(...h.slice(p * c, p * c + c), ...y);
              h = next;
            }
          }
          break;
        case "flatten":
        case "reshape":
        case "linear":
        case "track_avg": // the identity (its running average is not a value of the pass)
          break; // per-sample values are kept flat, in NHWC order
        case "relu":
          h = h.map((v) => Math.max(v, 0));
          break;
        case "leakyrelu":
          h = h.map((v) => (v < 0 ? l.alpha * v : v));
          break;
        case "sigmoid":
          h = h.map((v) => 1 / (1 + Math.exp(-v)));
          break;
        case "tanh":
          h = h.map(Math.tanh);
          break;
        default:
          throw new Error(`reference forward: no ${l.op} layer here`);
      }
      outputs.push(h);
      if (info.tap) taps[info.tap] = h;
    });
    taps.out = h;
    return { outputs, taps };
  });
}

/**
 * d out / d input for a net whose output is one number per sample and whose layers are dense and
 * elementwise activations (after flatten / reshape): the chain rule written out, in float64.
 */
export function inputGradient(net: NetIR, xs: number[][], w: Weights): number[][] {
  const traces = forward(net, [xs], w);
  return traces.map((t, i) => {
    let g = [1];
    for (let li = net.layers.length - 1; li >= 0; li--) {
      const l = net.layers[li]!.layer;
      const input = li === 0 ? xs[i]! : t.outputs[li - 1]!;
      switch (l.op) {
        case "dense": {
          const k = w(l.kernel);
          g = input.map((_, r) => g.reduce((s, gj, j) => s + k[r * l.units + j]! * gj, 0));
          break;
        }
        case "leakyrelu":
          g = g.map((gj, j) => (input[j]! < 0 ? l.alpha * gj : gj));
          break;
        case "relu":
          g = g.map((gj, j) => (input[j]! > 0 ? gj : 0));
          break;
        case "sigmoid":
          g = g.map((gj, j) => {
            const s = 1 / (1 + Math.exp(-input[j]!));
            return gj * s * (1 - s);
          });
          break;
        case "tanh":
          g = g.map((gj, j) => gj * (1 - Math.tanh(input[j]!) ** 2));
          break;
        case "flatten":
        case "reshape":
        case "linear":
          break;
        default:
          throw new Error(`reference gradient: no ${l.op} layer here`);
      }
    }
    return g;
  });
}

// ---- loss formulas -------------------------------------------------------------------------------------

export const sum = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0);
export const mean = (xs: readonly number[]) => sum(xs) / xs.length;
export const relu = (x: number) => Math.max(x, 0);

/** Mean sigmoid cross-entropy on logits: max(l, 0) - l t + log(1 + exp(-|l|)). */
export const bce = (ls: readonly number[], t: number) => mean(ls.map((l) => Math.max(l, 0) - l * t + Math.log1p(Math.exp(-Math.abs(l)))));

/** Batch mean of -sum_j y_j log softmax(l)_j. */
export function softmaxCe(logits: readonly number[][], labels: readonly number[][]): number {
  return mean(logits.map((row, i) => {
    const m = Math.max(...row);
    const lse = m + Math.log(sum(row.map((x) => Math.exp(x - m))));
    return -sum(row.map((x, j) => labels[i]![j]! * (x - lse)));
  }));
}

/** The L2 norm of every element of a batch. */
export const norm = (xs: readonly number[][]) => Math.sqrt(sum(xs.map((r) => sum(r.map((x) => x * x)))));

/** EBGAN's pull-away term: mean cosine similarity over the n (n - 1) ordered pairs of distinct samples. */
export function pullaway(xs: readonly number[][]): number {
  const n = xs.length;
  const unit = xs.map((r) => {
    const s = Math.sqrt(sum(r.map((x) => x * x)));
    return r.map((x) => x / s);
  });
  let total = 0;
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) if (i !== j) total += sum(unit[i]!.map((x, k) => x * unit[j]![k]!));
  return total / (n * (n - 1));
}
