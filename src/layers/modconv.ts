import type * as tfjs from "@tensorflow/tfjs";
import { ident } from "../codegen/writer.ts";
import { fmt, type LayerModule } from "./layer.ts";
import { INIT_DOC } from "./weights.ts";

export interface ModconvIR {
  readonly op: "modconv";
  readonly filters: number;
  readonly kernelSize: number;
  /** The style vector w (a named value of the net, [wdim] per sample). */
  readonly style: string;
  readonly demod: boolean;
  /** [k, k, in, filters], stored at unit variance; used times 1 / sqrt(k * k * in). */
  readonly kernel: string;
  /** The style's affine map: [wdim, in] (used times 1 / sqrt(wdim)) and its bias [in], initialized to 1. */
  readonly affine: string;
  readonly affineBias: string;
  readonly bias: string | null;
}

/** The constant under demodulation's square root (StyleGAN2's). */
export const DEMOD_EPSILON = 1e-8;

/**
 * StyleGAN2's modulated convolution (Karras et al. 2020): a style s = w A / sqrt(wdim) + b (b starts at 1)
 * scales the input channels of a convolution whose weight is used as W / sqrt(k * k * in) (equalized
 * learning rate: W is stored at unit variance); with demodulation, each output channel o of sample n is
 * then divided by sqrt(sum over (i, kh, kw) of (W'[kh, kw, i, o] s[n, i])^2 + 1e-8), W' the scaled weight,
 * which makes it the convolution with each sample's own modulated and demodulated kernel. tfjs has no
 * grouped convolution, so it runs as StyleGAN2's non-fused form: conv(x * s, W') * d, with d per sample and
 * output channel from (s^2) (sum over kh, kw of W'^2). "same" padding, stride 1 (upsample before it), an
 * odd kernel, a bias added after demodulation.
 */
export const modconv: LayerModule<ModconvIR> = {
  kind: "modconv",
  doc: "StyleGAN2's modulated convolution: a style from w (an affine map, bias 1) scales the input channels, demodulation normalizes each output filter per sample; equalized learning rate: modconv(filters, k, w)",
  params: {
    filters: "number of output channels",
    kernel: "kernel size (square, odd; 'same' padding, stride 1)",
    style: "the style vector w: a named value of the net, [wdim] per sample (the mapping network's output, a net input, ...)",
    demod: "demodulate: normalize each output filter per sample (default true; StyleGAN2's toRGB is modconv(3, 1, w, demod=false))",
    init: `initializer of the stored convolution weight (default normal(0, 1); it is used times 1 / sqrt(k * k * in)): ${INIT_DOC}`,
    bias: "add a learned bias after demodulation (default true)",
  },
  paramAliases: { k: "kernel" },
  aliases: ["modulated_conv"],
  range: null,

  check({ r, layer: l, shape, value, variable, init, fail, error }) {
    const filters = r.posInt("filters", null);
    const k = r.posInt("kernel", null);
    const demod = r.bool("demod", true);
    const useBias = r.bool("bias", true);
    if (filters === null || k === null) {
      if (filters === null) r.required("filters", l.span);
      if (k === null) r.required("kernel", l.span);
      return null;
    }
    const a = r.arg("style");
    if (!a)
      return fail(`${l.op.name} needs a style vector: modconv(${filters}, ${k}, w), with w a named value of the net (the mapping network's output: dense 64, lrelu 0.2 -> w)`, "E0190");
    if (a.value.kind !== "Name") {
      error("E0190", `${l.op.name} takes the name of a style vector of the net, like modconv(${filters}, ${k}, w)`, a.value.span);
      return null;
    }
    if (k % 2 === 0) {
      error("E0192", `${l.op.name} takes an odd kernel size ('same' padding centered on each pixel, as StyleGAN2's 3x3 and 1x1), got ${k}`, r.arg("kernel")!.value.span);
      return null;
    }
    const v = value(a.value.name, a.value.span);
    if (!v) return null;
    if (v.shape.length !== 1) {
      error("E0191", `the style of ${l.op.name} must be a vector per sample, and '${a.value.name}' is ${fmt(v.shape)}`, a.value.span);
      return null;
    }
    if (shape.length !== 3) return fail(`${l.op.name} needs an image input [height, width, channels] per sample, got ${fmt(shape)}; add 'reshape' before it`);
    const c = shape[2]!;
    const kernel = variable("kernel", [k, k, c, filters], init({ kind: "normal", mean: 0, std: 1 }));
    const affine = variable("affine", [v.shape[0]!, c], { kind: "normal", mean: 0, std: 1 });
    const affineBias = variable("affine_bias", [c], { kind: "ones" });
    const bias = useBias ? variable("bias", [filters], { kind: "zeros" }) : null;
    return { layer: { op: "modconv", filters, kernelSize: k, style: v.ref, demod, kernel, affine, affineBias, bias }, out: [shape[0]!, shape[1]!, filters] };
  },

  resolved: (l, { bool, initOf }) => [["demod", bool(l.demod)], ["init", initOf(l.kernel)], ["bias", bool(l.bias !== null)]],

  code: (l, { local }) =>
    `h = rt.modConv(h as tf.Tensor4D, ${local(l.style)}, ${ident(l.kernel)}, ${ident(l.affine)}, ${ident(l.affineBias)}, ${l.bias ? ident(l.bias) : "null"}, ${l.demod});`,

  // No fused form: it reads a second value of the net (the style), which the fused network's ops do not;
  // a net with modconv runs layer by layer in the optimized trainer too.
  fused: null,

  // Keras has no modulated convolution: the custom layer GancModConv of the export's ganc-layers.mjs.
  export: (l, { apply, h, name, net, input, take, fail, custom }) =>
    apply(
      custom("GancModConv", { filters: l.filters, kernelSize: l.kernelSize, demod: l.demod, useBias: l.bias !== null, name }),
      [h, input(l.style) ?? fail(`export: ${net.name}.${name} reads ${l.style}, which ${net.name} does not define`)],
      [take(l.kernel), take(l.affine), take(l.affineBias), ...(l.bias ? [take(l.bias)] : [])],
    ),
};

/**
 * The layer's arithmetic on tensors of any tfjs build (the runtime's rt.modConv; ganc-layers.mjs's
 * GancModConv writes the same ops): x [n, h, w, in], style [n, wdim].
 */
export function modConvOf(
  tf: typeof tfjs,
  x: tfjs.Tensor4D,
  style: tfjs.Tensor,
  kernel: tfjs.Tensor,
  affine: tfjs.Tensor,
  affineBias: tfjs.Tensor,
  bias: tfjs.Tensor | null,
  demod: boolean,
): tfjs.Tensor4D {
  return tf.tidy(() => {
    const [n] = x.shape;
    const [kh, kw, cin, cout] = kernel.shape as [number, number, number, number];
    const wdim = affine.shape[0]!;
    const s = tf.add(tf.matMul(style as tfjs.Tensor2D, tf.mul(affine, 1 / Math.sqrt(wdim)) as tfjs.Tensor2D), affineBias); // [n, in]
    const w = tf.mul(kernel, 1 / Math.sqrt(kh * kw * cin)) as tfjs.Tensor4D;
    let y: tfjs.Tensor = tf.conv2d(tf.mul(x, tf.reshape(s, [n, 1, 1, cin])) as tfjs.Tensor4D, w, 1, "same");
    if (demod) {
      const d = tf.rsqrt(tf.add(tf.matMul(tf.square(s), tf.sum(tf.square(w), [0, 1]) as tfjs.Tensor2D), DEMOD_EPSILON)); // [n, out]
      y = tf.mul(y, tf.reshape(d, [n, 1, 1, cout]));
    }
    if (bias) y = tf.add(y, bias);
    return y as tfjs.Tensor4D;
  });
}
