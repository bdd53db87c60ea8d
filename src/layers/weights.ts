import { ident, num } from "../codegen/writer.ts";
import type { Init } from "../ir/types.ts";
import type * as A from "../parser/ast.ts";
import type { CheckContext, ResolvedContext } from "./layer.ts";
import type { Rng } from "../runtime/rng.ts";

/** What the `init` parameter of weighted layers takes. */
export const INIT_DOC =
  "weight initializer: normal(mean, std), truncated_normal(mean, std), uniform(low, high), glorot (xavier_uniform), glorot_normal (xavier_normal), he_normal (kaiming_normal), he_uniform (kaiming_uniform), orthogonal, zeros or ones";

/** The initializers a spec names, with how many numbers each takes; the others take none. */
export const INIT_KINDS = ["normal", "truncated_normal", "uniform", "glorot", "glorot_normal", "he_normal", "he_uniform", "orthogonal", "zeros", "ones"] as const;

/** Other names of initializers (PyTorch's and Keras's spellings). */
export const INIT_ALIASES: Readonly<Record<string, Init["kind"]>> = {
  xavier: "glorot",
  xavier_uniform: "glorot",
  glorot_uniform: "glorot",
  xavier_normal: "glorot_normal",
  he: "he_normal",
  kaiming: "he_normal",
  kaiming_normal: "he_normal",
  kaiming_uniform: "he_uniform",
};

/** The initializer `name(nums...)` stands for, or why it is not one (a message, or null for an unknown name). */
export function parseInit(name: string, nums: readonly number[]): Init | string | null {
  const kind = INIT_ALIASES[name] ?? ((INIT_KINDS as readonly string[]).includes(name) ? (name as Init["kind"]) : null);
  const bad = nums.some(Number.isNaN);
  switch (kind) {
    case null:
      return null;
    case "normal":
    case "truncated_normal":
      if (nums.length !== 2 || bad || nums[1]! <= 0) return `${name} takes (mean, std) with std > 0, like ${name}(0, 0.02)`;
      return { kind, mean: nums[0]!, std: nums[1]! };
    case "uniform":
      if (nums.length !== 2 || bad || nums[1]! <= nums[0]!) return "uniform takes (low, high) with low < high";
      return { kind, low: nums[0]!, high: nums[1]! };
    default:
      if (nums.length > 0) return `${name} takes no arguments: its scale comes from the weight's shape`;
      return { kind };
  }
}

/**
 * Fan-in and fan-out as Keras and PyTorch compute them for a [..., in, out] kernel: the receptive field
 * (the product of the leading axes) times the input and output channels.
 */
export function fans(shape: readonly number[]): { fanIn: number; fanOut: number } {
  const rf = shape.slice(0, -2).reduce((a, b) => a * b, 1);
  return { fanIn: (shape.length >= 2 ? shape[shape.length - 2]! : shape[0] ?? 1) * rf, fanOut: (shape[shape.length - 1] ?? 1) * rf };
}

/**
 * Initial values of a variable of `shape`, drawn from the run's seeded generator. The scaled
 * initializers follow PyTorch's torch.nn.init (gain 1 for Glorot, sqrt(2) for He, fan-in mode):
 * glorot uniform in +-sqrt(6 / (fan_in + fan_out)), glorot_normal normal with std sqrt(2 / (fan_in + fan_out)),
 * he_normal normal with std sqrt(2 / fan_in), he_uniform uniform in +-sqrt(6 / fan_in). orthogonal: the
 * kernel viewed as [prod(leading axes), last axis] has orthonormal columns (or rows, when it is wider than
 * tall), the Q of a Gaussian matrix's QR decomposition with R's diagonal made positive (Saxe et al. 2014;
 * Keras's and PyTorch's orthogonal, gain 1).
 */
export function drawInit(rng: Rng, shape: readonly number[], init: Init): Float32Array {
  const size = shape.reduce((a, b) => a * b, 1);
  const out = new Float32Array(size);
  const { fanIn, fanOut } = fans(shape);
  switch (init.kind) {
    case "zeros":
      return out;
    case "ones":
      return out.fill(1);
    case "normal":
      return rng.fillNormal(out, init.mean, init.std);
    case "truncated_normal":
      return rng.fillTruncatedNormal(out, init.mean, init.std);
    case "uniform":
      return rng.fillUniform(out, init.low, init.high);
    case "glorot": {
      const lim = Math.sqrt(6 / (fanIn + fanOut));
      return rng.fillUniform(out, -lim, lim);
    }
    case "glorot_normal":
      return rng.fillNormal(out, 0, Math.sqrt(2 / (fanIn + fanOut)));
    case "he_normal":
      return rng.fillNormal(out, 0, Math.sqrt(2 / fanIn));
    case "he_uniform": {
      const lim = Math.sqrt(6 / fanIn);
      return rng.fillUniform(out, -lim, lim);
    }
    case "orthogonal":
      return orthogonal(rng, shape, out);
  }
}

function orthogonal(rng: Rng, shape: readonly number[], out: Float32Array): Float32Array {
  const cols = shape[shape.length - 1] ?? 1;
  const rows = out.length / cols;
  const n = Math.max(rows, cols);
  const m = Math.min(rows, cols);
  // Columns of a Gaussian n x m matrix, orthonormalized in order by Gram-Schmidt (twice, for float64
  // orthogonality to ~1e-15): the Q of its QR decomposition with a positive diagonal in R.
  const q = Array.from({ length: m }, () => Float64Array.from({ length: n }, () => rng.normal()));
  for (let j = 0; j < m; j++) {
    const v = q[j]!;
    for (let pass = 0; pass < 2; pass++)
      for (let k = 0; k < j; k++) {
        const u = q[k]!;
        let d = 0;
        for (let i = 0; i < n; i++) d += u[i]! * v[i]!;
        for (let i = 0; i < n; i++) v[i]! -= d * u[i]!;
      }
    let sq = 0;
    for (let i = 0; i < n; i++) sq += v[i]! * v[i]!;
    const norm = Math.sqrt(sq);
    for (let i = 0; i < n; i++) v[i]! /= norm;
  }
  // rows >= cols: W[r][c] = q[c][r] (orthonormal columns); otherwise W = Q^T (orthonormal rows).
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[r * cols + c] = rows >= cols ? q[c]![r]! : q[r]![c]!;
  return out;
}

/** A kernel in the trainer's code: spectrally normalized when the layer has `sn=true`. */
export const snKernel = (k: string, sn: string | null) => (sn ? `rt.spectralNorm(${ident(k)}, ${ident(sn)}, mode)` : ident(k));

/** In a fused net's code: the `sn` field of a dense, conv or deconv layer with `sn=true` (empty without). */
export const snFusedField = (sn: string | null) => (sn ? `, sn: ${ident(sn)}` : "");

/** A fused dense, conv or deconv layer's spectrally normalized kernel, [kernel, u] (FusedOp.spectral). */
export const snFusedKernels = <V>(l: { readonly kernel: V; readonly sn?: V }): (readonly [V, V])[] => (l.sn ? [[l.kernel, l.sn]] : []);

// ---- weight modifiers: lr_mul and equalized (StyleGAN's equalized learning rate) -----------------------

/**
 * How a dense or conv layer scales its stored variables at use time: the kernel times `w`, the bias times
 * `b`. With `equalized`, w = lr_mul / sqrt(fan_in) (Karras et al. 2018's equalized learning rate; StyleGAN2's
 * `runtime_coef`); without, w = lr_mul. The bias is always scaled by lr_mul.
 */
export interface WeightScale {
  readonly lrMul: number;
  readonly equalized: boolean;
  readonly w: number;
  readonly b: number;
}

export const SCALE_PARAMS = {
  lr_mul: "learning-rate multiplier (StyleGAN's lrmul, default 1): the weights are stored divided by it and used times it, so an optimizer's step moves them lr_mul times as far (0.01 in StyleGAN2's mapping network)",
  equalized: "equalized learning rate (default false): the kernel is stored at N(0, 1/lr_mul^2) and used times lr_mul / sqrt(fan_in)",
};

/**
 * Reads `lr_mul` and `equalized` of a layer whose kernel has fan-in `fanIn`, and the kernel's initializer:
 * `init=` when written (it initializes the stored values), else StyleGAN2's default: N(0, 1/lr_mul^2) with
 * `equalized`, the layer's usual default divided by lr_mul without. `scale` is undefined when neither is
 * written (the layer is the plain one), null after an error.
 */
export function readScale(c: CheckContext, fanIn: number, dflt: Init, sn: boolean): { scale: WeightScale | undefined; init: Init } | null {
  const { r } = c;
  const lrArg = r.arg("lr_mul");
  const lrMul = r.number("lr_mul", 1);
  const equalized = r.bool("equalized", false);
  if (!lrArg && !equalized) return { scale: undefined, init: c.init(dflt) };
  if (lrArg && !(lrMul > 0)) {
    c.error("E0184", `lr_mul must be > 0, got ${lrMul}: it multiplies the weights (StyleGAN2's mapping network uses lr_mul=0.01)`, lrArg.value.span);
    return null;
  }
  if (sn) {
    const at = (lrArg ?? r.arg("equalized")!).span;
    c.error("E0184", `${lrArg ? "lr_mul" : "equalized=true"} cannot go with sn=true: spectral normalization divides the kernel by its largest singular value, which undoes any constant scale of it`, at);
    return null;
  }
  const init = c.init(equalized ? { kind: "normal", mean: 0, std: 1 / lrMul } : divideInit(dflt, lrMul));
  const w = equalized ? lrMul / Math.sqrt(fanIn) : lrMul;
  return { scale: { lrMul, equalized, w, b: lrMul }, init };
}

/** A normal, truncated normal or uniform initializer of values divided by `s`. */
function divideInit(i: Init, s: number): Init {
  switch (i.kind) {
    case "normal":
    case "truncated_normal":
      return { ...i, mean: i.mean / s, std: i.std / s };
    case "uniform":
      return { ...i, low: i.low / s, high: i.high / s };
    default:
      return i;
  }
}

/** The `--resolved` arguments of a scaled layer (none for a plain one, so plain specs print as before). */
export const resolvedScale = (s: WeightScale | undefined, { num, bool }: Pick<ResolvedContext, "num" | "bool">): (readonly [string, A.Expr])[] =>
  s ? [["lr_mul", num(s.lrMul)], ["equalized", bool(s.equalized)]] : [];

/** A kernel or bias in the trainer's code, times its scale when it has one. */
export const scaled = (code: string, k: number | undefined) => (k === undefined || k === 1 ? code : `tf.mul(${code}, ${num(k)})`);

/** Whether a layer's scale changes its kernel or bias (lr_mul=1 without equalized does not). */
export const scaledLayer = (l: { readonly scale?: WeightScale }) => !!l.scale && (l.scale.w !== 1 || l.scale.b !== 1);

/** A stored kernel or bias times its scale, as the trainer uses it (what `ganc export` writes). */
export const foldScale = (tf: typeof import("@tensorflow/tfjs"), t: import("@tensorflow/tfjs").Tensor, k: number | undefined) => (k === undefined || k === 1 ? t : tf.mul(t, k));
