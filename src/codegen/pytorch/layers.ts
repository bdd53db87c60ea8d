/*
 * What each layer kind is in the PyTorch trainer: one entry per kind of the registry (src/layers/index.ts).
 * The table's type requires an entry for every kind, so a new kind does not compile until it says how it
 * runs here, or that it does not run here yet (`unsupported`, which `ganc compile --target pytorch` reports
 * as E0240 at the layer, instead of writing wrong code).
 *
 * The trainer keeps every variable in ganc's own layout (dense kernels [in, out], conv kernels
 * [kh, kw, in, out], deconv kernels [kh, kw, out, in]), so checkpoints and gradients compare name for name
 * with the TypeScript trainer's; images flow NCHW, as PyTorch's convolutions want them, and the layers whose
 * meaning depends on the layout (flatten, reshape, concat, slice) read the samples as ganc's NHWC.
 */
import type { LayerInfo, NetIR } from "../../ir/types.ts";
import type { LayerIR, LayerKind } from "../../layers/index.ts";
import { pyNum } from "./writer.ts";
import { pyLayerIn } from "./refusals.ts";
import type { WeightScale } from "../../layers/weights.ts";

export interface PyLayerContext {
  readonly net: NetIR;
  readonly info: LayerInfo;
  /** A variable of the layer as the net's module holds it (`self.conv1_kernel`). */
  v(name: string): string;
  /** A named value of the net (an input, or an earlier `-> name`) as a local of the forward function. */
  local(name: string): string;
}

export interface PyLayer<L> {
  /** Statements of the net's forward function that transform `h` (NCHW), in mode `mode`. */
  forward(l: L, c: PyLayerContext): string;
  /** Why this layer, as configured, cannot run in the PyTorch trainer yet; null when it can. */
  refuse?(l: L): string | null;
}

/** A kind the PyTorch trainer does not run yet, and why. */
export interface Unsupported {
  readonly unsupported: string;
}

type IRof<K extends LayerKind> = Extract<LayerIR, { readonly op: K }>;
export type PyLayerTable = { readonly [K in LayerKind]: PyLayer<IRof<K>> | Unsupported };

const act = (code: string): PyLayer<unknown> => ({ forward: () => `h = ${code}` });
/** A kernel as the layer uses it: spectrally normalized (sn=true) through its u vector, in ganc's layout. */
const kernel = (c: PyLayerContext, k: string, sn: string | null) => (sn ? `spectral_norm(${c.v(k)}, ${c.v(sn)}, mode)` : c.v(k));
/**
 * A stored kernel or bias times its weight modifier's scale (lr_mul, equalized: src/layers/weights.ts), as the
 * layer uses it; the stored values are what the optimizer moves and what checkpoints hold.
 */
const scaled = (code: string, k: number | undefined) => (k === undefined || k === 1 ? code : `${code} * ${pyNum(k)}`);
type Scaled = { readonly scale?: WeightScale };
const bias = (c: PyLayerContext, b: string | null, l?: Scaled) => (b ? scaled(c.v(b), l?.scale?.b) : "None");

/** An operand of `@`: a product in parentheses. */
const paren = (code: string) => (code.includes(" * ") ? `(${code})` : code);

/** TensorFlow's `same` padding of one axis: (before, after), uneven for even kernels. */
export function samePads(size: number, kernel: number, stride: number): [number, number] {
  const out = Math.ceil(size / stride);
  const total = Math.max((out - 1) * stride + kernel - size, 0);
  return [Math.floor(total / 2), total - Math.floor(total / 2)];
}

export const PY_LAYERS: PyLayerTable = {
  dense: {
    // addmm: the product and the bias in one kernel (and one node of the autograd graph).
    forward: (l, c) =>
      l.bias
        ? `h = torch.addmm(${scaled(c.v(l.bias), l.scale?.b)}, h, ${scaled(kernel(c, l.kernel, l.sn), l.scale?.w)})  # h @ kernel + bias`
        : `h = h @ ${paren(scaled(kernel(c, l.kernel, l.sn), l.scale?.w))}`,
  },
  conv2d: {
    forward(l, c) {
      const [hIn, wIn] = c.info.inShape as [number, number, number];
      const [top, bottom] = l.padding === "same" ? samePads(hIn, l.kernelSize, l.stride) : [0, 0];
      const [left, right] = l.padding === "same" ? samePads(wIn, l.kernelSize, l.stride) : [0, 0];
      return `h = conv2d(h, ${scaled(kernel(c, l.kernel, l.sn), l.scale?.w)}, ${bias(c, l.bias, l)}, ${l.stride}, (${top}, ${bottom}, ${left}, ${right}))`;
    },
  },
  conv2dTranspose: {
    forward(l, c) {
      const [hIn, wIn] = c.info.inShape as [number, number, number];
      const [hOut, wOut] = c.info.outShape as [number, number, number];
      // TensorFlow's transposed convolution is the gradient of the convolution from the output's size, whose
      // `same` padding starts `before` rows into the full result.
      const before = (size: number, out: number) => (l.padding === "same" ? Math.floor(Math.max((size - 1) * l.stride + l.kernelSize - out, 0) / 2) : 0);
      return `h = deconv2d(h, ${scaled(kernel(c, l.kernel, l.sn), l.scale?.w)}, ${bias(c, l.bias, l)}, ${l.stride}, (${before(hIn, hOut)}, ${before(wIn, wOut)}), (${hOut}, ${wOut}))`;
    },
  },
  batchnorm: {
    forward: (l, c) =>
      `h = batch_norm(h, ${l.gamma ? c.v(l.gamma) : "None"}, ${l.beta ? c.v(l.beta) : "None"}, ${c.v(l.mean)}, ${c.v(l.variance)}, ${pyNum(l.decay)}, ${pyNum(l.epsilon)}, mode)`,
  },
  layernorm: { forward: (l, c) => `h = layer_norm(h, ${c.v(l.gamma)}, ${c.v(l.beta)}, ${pyNum(l.epsilon)})` },
  // A seed per pass through the layer in every mode (the run's counter), its mask from TensorFlow.js's generator.
  dropout: { forward: (l) => `h = dropout(h, ${pyNum(l.rate)}, mode, dropout_seed())` },
  reshape: { forward: (l) => `h = reshape(h, [${l.shape.join(", ")}])  # row-major over NHWC samples, as ganc reshapes` },
  flatten: { forward: () => "h = flatten(h)  # NHWC order, so the dense kernel after it is ganc's" },
  concat: { forward: (l, c) => `h = ${l.inputs.reduce((acc, x) => `concat_input(${acc}, ${c.local(x)})`, "h")}` },
  add: { forward: (l, c) => `h = ${["h", ...l.values.map((x) => c.local(x))].join(" + ")}` },
  multiply: { forward: (l, c) => `h = ${["h", ...l.values.map((x) => c.local(x))].join(" * ")}` },
  from: { forward: (l, c) => `h = ${c.local(l.value)}` },
  upsample: {
    forward: (l) =>
      l.mode === "bilinear"
        ? `h = upsample_bilinear(h, ${l.factor})  # half-pixel centers`
        : `h = h.repeat_interleave(${l.factor}, 2).repeat_interleave(${l.factor}, 3)`,
  },
  avgpool: {
    forward(l, c) {
      const [hIn, wIn] = c.info.inShape as [number, number, number];
      const [top, bottom] = l.padding === "same" ? samePads(hIn, l.size, l.stride) : [0, 0];
      const [left, right] = l.padding === "same" ? samePads(wIn, l.size, l.stride) : [0, 0];
      return `h = avg_pool(h, ${l.size}, ${l.stride}, (${top}, ${bottom}, ${left}, ${right}))`;
    },
  },
  attention: {
    forward(l, c) {
      const k = (name: string, i: number) => kernel(c, name, l.sn ? l.sn[i]! : null);
      return `h = self_attention(h, ${k(l.f, 0)}, ${k(l.g, 1)}, ${k(l.h, 2)}, ${k(l.o, 3)}, ${c.v(l.gamma)})`;
    },
  },
  // A one-hot label times the table: the table's row, with a lookup's gradient. A shared table (share=G) is the
  // owner's variable, read here and trained only by the owner's steps.
  embed: { forward: (l, c) => `h = ${c.local(l.label)} @ ${kernel(c, l.kernel, l.sn)}` },
  cbn: {
    forward: (l, c) =>
      `h = cond_batch_norm(h, ${c.local(l.cond)}, ${kernel(c, l.gain, l.gainSn)}, ${kernel(c, l.bias, l.biasSn)}, ${c.v(l.mean)}, ${c.v(l.variance)}, ${pyNum(l.decay)}, ${pyNum(l.epsilon)}, mode)`,
  },
  chunk: { forward: (l, c) => `h = ${c.local(l.value)}.narrow(1, ${l.index * l.width}, ${l.width})` },
  dot: { forward: (l, c) => `h = torch.sum(h * ${c.local(l.value)}, -1, keepdim=True)` },
  minibatch_stddev: { forward: (l) => `h = minibatch_stddev(h, ${l.group}, ${l.features})` },
  // StyleGAN2's non-fused modulated convolution ('same' padding of an odd kernel, stride 1), as modconv.ts.
  modconv: {
    forward: (l, c) =>
      `h = mod_conv(h, ${c.local(l.style)}, ${c.v(l.kernel)}, ${c.v(l.affine)}, ${c.v(l.affineBias)}, ${bias(c, l.bias)}, ${l.demod ? "True" : "False"})`,
  },
  const: { forward: (l, c) => `h = const_input(${c.v(l.value)}, h.shape[0])  # the learned [${l.shape.join(", ")}] for every sample` },
  // Training draws from the run's seed counter (dropout's); the other modes use the layer's fixed seed.
  noise: { forward: (l, c) => `h = add_noise(h, ${c.v(l.strength)}, dropout_seed() if mode == "train" else ${l.sampleSeed})` },
  pixelnorm: { forward: (l) => `h = pixel_norm(h, ${pyNum(l.epsilon)})` },
  style: { forward: (l, c) => `h = ${c.local(l.value)}[:, ${l.index}, :]` },
  track_avg: { forward: (l, c) => `h = track_average(h, ${c.v(l.avg)}, ${pyNum(l.decay)}, mode)` },
  global_sum: { forward: () => "h = h.sum((2, 3))" },
  global_avg: { forward: () => "h = h.mean((2, 3))" },
  relu: act("F.relu(h)"),
  leakyrelu: { forward: (l) => `h = F.leaky_relu(h, ${pyNum(l.alpha)})` },
  sigmoid: act("torch.sigmoid(h)"),
  tanh: act("torch.tanh(h)"),
  softmax: act("F.softmax(h, 1)  # over the channels"),
  linear: { forward: () => "pass  # linear: the identity" },
};

/** The kind's entry, or why the layer cannot be compiled for PyTorch. */
export function pyLayer(l: LayerIR): { layer: PyLayer<LayerIR> } | { refusal: string } {
  return pyLayerIn(PY_LAYERS, l);
}
