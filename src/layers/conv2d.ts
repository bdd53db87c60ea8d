import type * as tf from "@tensorflow/tfjs";
import { ident } from "../codegen/writer.ts";
import type { Init } from "../ir/types.ts";
import type { Activation } from "../runtime/fused/net.ts";
import { fmt, type CheckContext, type Checked, type ExportEnv, type LayerModule, type ResolvedContext } from "./layer.ts";
import { INIT_DOC, SCALE_PARAMS, foldScale, readScale, resolvedScale, scaled, scaledLayer, snFusedField, snFusedKernels, snKernel, type WeightScale } from "./weights.ts";

/** A convolution or a transposed one (they share arguments, variables and most of the shape rule). */
export interface ConvIR<K extends "conv2d" | "conv2dTranspose"> {
  readonly op: K;
  readonly filters: number;
  readonly kernelSize: number;
  readonly stride: number;
  readonly padding: "same" | "valid";
  readonly kernel: string;
  readonly bias: string | null;
  readonly sn: string | null;
  /** lr_mul / equalized: the kernel and bias are used times these (absent: as stored). */
  readonly scale?: WeightScale;
}

export interface Conv2dFused {
  op: "conv2d";
  kernel: tf.Variable;
  bias: tf.Variable | null;
  stride: number;
  pad: "same" | "valid";
  act: Activation | null;
  /** Spectral norm's power-iteration vector: the layer reads its kernel normalized (FusedOp.spectral). */
  sn?: tf.Variable;
}

export const CONV_PARAMS = {
  filters: "number of output channels",
  kernel: "kernel size (square)",
  stride: "stride (default 1)",
  padding: "same or valid (default same)",
  init: INIT_DOC,
  bias: "add a learned bias (default true)",
  sn: "spectral normalization of the weights (default false)",
  ...SCALE_PARAMS,
};
export const CONV_PARAM_ALIASES = { k: "kernel", s: "stride", p: "padding" };

/** The shape rule of both convolutions: an image in, an image out; variables kernel, bias and the spectral-norm vector. */
export function checkConv<K extends "conv2d" | "conv2dTranspose">(op: K, c: CheckContext): Checked<ConvIR<K>> | null {
  const { r, layer: l, shape, variable, fail } = c;
  const filters = r.posInt("filters", null);
  const k = r.posInt("kernel", null);
  const stride = r.posInt("stride", 1)!;
  const padding = r.word("padding", "same", ["same", "valid"]) as "same" | "valid";
  if (filters === null || k === null) {
    if (filters === null) r.required("filters", l.span);
    if (k === null) r.required("kernel", l.span);
    return null;
  }
  if (shape.length !== 3) return fail(`${l.op.name} needs an image input [height, width, channels] per sample, got ${fmt(shape)}; add 'reshape' before it`);
  const [h, w, ch] = shape as [number, number, number];
  const isT = op === "conv2dTranspose";
  const dim = (n: number) =>
    isT ? (padding === "same" ? n * stride : (n - 1) * stride + k) : padding === "same" ? Math.ceil(n / stride) : Math.floor((n - k) / stride) + 1;
  const oh = dim(h);
  const ow = dim(w);
  if (oh <= 0 || ow <= 0) return fail(`${l.op.name} with kernel ${k} and padding 'valid' does not fit an input of ${fmt(shape)}`, "E0222");
  const dflt: Init = isT ? { kind: "normal", mean: 0, std: 0.02 } : { kind: "truncated_normal", mean: 0, std: 0.02 };
  const useSn = r.bool("sn", false);
  // fan-in k * k * input channels, for the transposed convolution too (StyleGAN2's upsampling conv)
  const mods = readScale(c, k * k * ch, dflt, useSn);
  if (!mods) return null;
  const kernel = variable("kernel", isT ? [k, k, filters, ch] : [k, k, ch, filters], mods.init);
  const bias = r.bool("bias", true) ? variable("bias", [filters], { kind: "zeros" }) : null;
  // Spectral norm's u spans the kernel's last axis (rt.spectralNorm views the kernel as [-1, last]): a
  // conv's output channels, a deconv's input channels.
  const sn = useSn ? variable("sn_u", [1, isT ? ch : filters], { kind: "normal", mean: 0, std: 1 }, false) : null;
  return { layer: { op, filters, kernelSize: k, stride, padding, kernel, bias, sn, ...(mods.scale ? { scale: mods.scale } : {}) }, out: [oh, ow, filters] };
}

export const resolvedConv = (l: ConvIR<"conv2d" | "conv2dTranspose">, c: ResolvedContext) =>
  [["stride", c.num(l.stride)], ["padding", c.name(l.padding)], ["init", c.initOf(l.kernel)], ["bias", c.bool(l.bias !== null)], ["sn", c.bool(l.sn !== null)], ...resolvedScale(l.scale, c)] as const;

/** The kernel and bias of a convolution in the trainer's code (spectrally normalized, scaled). */
export const convKernel = (l: ConvIR<"conv2d" | "conv2dTranspose">) => scaled(snKernel(l.kernel, l.sn), l.scale?.w);
export const convBias = (l: ConvIR<"conv2d" | "conv2dTranspose">) => scaled(ident(l.bias!), l.scale?.b);

/** The kernel and bias `ganc export` writes: lr_mul and equalized folded in. */
export const convExportWeights = (l: ConvIR<"conv2d" | "conv2dTranspose">, { tf, kernelOf, take }: Pick<ExportEnv, "tf" | "kernelOf" | "take">) => [
  foldScale(tf, kernelOf(l.kernel, l.sn), l.scale?.w),
  ...(l.bias ? [foldScale(tf, take(l.bias), l.scale?.b)] : []),
];

export const conv2d: LayerModule<ConvIR<"conv2d">, Conv2dFused> = {
  kind: "conv2d",
  doc: "2-D convolution, NHWC",
  params: CONV_PARAMS,
  paramAliases: CONV_PARAM_ALIASES,
  aliases: ["conv"],
  prefix: "conv",
  range: null,
  check: (c) => checkConv("conv2d", c),
  resolved: (l, c) => [...resolvedConv(l, c)],

  code: (l) =>
    l.bias
      ? // tf.fused.conv2d's kernel, with only the gradients a backward pass needs (src/runtime/lazy-bias.ts)
        `h = rt.conv2dBias(h as tf.Tensor4D, ${convKernel(l)} as tf.Tensor4D, ${convBias(l)}, ${l.stride}, "${l.padding}");`
      : `h = tf.conv2d(h as tf.Tensor4D, ${convKernel(l)} as tf.Tensor4D, ${l.stride}, "${l.padding}");`,

  // (a scaled layer has no fused form yet: its net runs layer by layer)
  fused: {
    available: (l) => !scaledLayer(l),
    hostsActivation: (l) => l.bias !== null,
    code: (l, _c, act) =>
      `{ op: "conv2d", kernel: ${ident(l.kernel)}, bias: ${l.bias ? ident(l.bias) : "null"}, stride: ${l.stride}, pad: "${l.padding}", act: ${act}${snFusedField(l.sn)} }`,
    runtime: {
      op: "conv2d",
      weights: (l) => (l.bias ? [l.kernel, l.bias] : [l.kernel]),
      spectral: snFusedKernels,
      forward(l, { x, keep, kernel, view, needDx, train, activationAttrs, activationGrad, weight }) {
        const conv = { strides: l.stride, pad: l.pad, dataFormat: "NHWC", dimRoundingMode: undefined };
        // (grads are keyed by the variable; with sn they are the normalized kernel's, which the tape carries on)
        const filter = weight(l.kernel);
        const y = l.bias
          ? kernel("FusedConv2D", { x, filter, bias: l.bias }, { ...conv, dilations: [1, 1], ...activationAttrs(l.act) })
          : kernel("Conv2D", { x, filter }, { ...conv, dilations: [1, 1] });
        const xs4 = keep(view(x, x.shape)); // a view: x may be a tensor this op does not own
        if (l.act) keep(y);
        return {
          y,
          backward: (dy, grads) => {
            const dz = l.act ? activationGrad(l.act, dy, y) : dy;
            if (train) {
              grads.set(l.kernel, kernel("Conv2DBackpropFilter", { x: xs4, dy: dz }, { ...conv, filterShape: l.kernel.shape }));
              if (l.bias) grads.set(l.bias, kernel("Sum", { x: dz }, { axis: [0, 1, 2], keepDims: false }));
            }
            return needDx ? kernel("Conv2DBackpropInput", { dy: dz, filter }, { ...conv, inputShape: x.shape }) : null;
          },
        };
      },
    },
  },

  export: (l, e) =>
    e.apply(e.tf.layers.conv2d({ filters: l.filters, kernelSize: l.kernelSize, strides: l.stride, padding: l.padding, useBias: !!l.bias, name: e.name }), e.h, convExportWeights(l, e)),
};
