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
/** The weight modifiers (lr_mul, equalized) are not in the PyTorch trainer yet. */
const noScale = (l: { readonly scale?: unknown }) => (l.scale ? "weight modifiers (lr_mul, equalized) are not in the PyTorch trainer yet" : null);
const bias = (c: PyLayerContext, b: string | null) => (b ? c.v(b) : "None");

/** TensorFlow's `same` padding of one axis: (before, after), uneven for even kernels. */
export function samePads(size: number, kernel: number, stride: number): [number, number] {
  const out = Math.ceil(size / stride);
  const total = Math.max((out - 1) * stride + kernel - size, 0);
  return [Math.floor(total / 2), total - Math.floor(total / 2)];
}

export const PY_LAYERS: PyLayerTable = {
  dense: {
    refuse: noScale,
    // addmm: the product and the bias in one kernel (and one node of the autograd graph).
    forward: (l, c) => (l.bias ? `h = torch.addmm(${c.v(l.bias)}, h, ${kernel(c, l.kernel, l.sn)})  # h @ kernel + bias` : `h = h @ ${kernel(c, l.kernel, l.sn)}`),
  },
  conv2d: {
    refuse: noScale,
    forward(l, c) {
      const [hIn, wIn] = c.info.inShape as [number, number, number];
      const [top, bottom] = l.padding === "same" ? samePads(hIn, l.kernelSize, l.stride) : [0, 0];
      const [left, right] = l.padding === "same" ? samePads(wIn, l.kernelSize, l.stride) : [0, 0];
      return `h = conv2d(h, ${kernel(c, l.kernel, l.sn)}, ${bias(c, l.bias)}, ${l.stride}, (${top}, ${bottom}, ${left}, ${right}))`;
    },
  },
  conv2dTranspose: {
    refuse: noScale,
    forward(l, c) {
      const [hIn, wIn] = c.info.inShape as [number, number, number];
      const [hOut, wOut] = c.info.outShape as [number, number, number];
      // TensorFlow's transposed convolution is the gradient of the convolution from the output's size, whose
      // `same` padding starts `before` rows into the full result.
      const before = (size: number, out: number) => (l.padding === "same" ? Math.floor(Math.max((size - 1) * l.stride + l.kernelSize - out, 0) / 2) : 0);
      return `h = deconv2d(h, ${kernel(c, l.kernel, l.sn)}, ${bias(c, l.bias)}, ${l.stride}, (${before(hIn, hOut)}, ${before(wIn, wOut)}), (${hOut}, ${wOut}))`;
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
  modconv: { unsupported: "modulated convolution (modconv) is not in the PyTorch trainer yet" },
  const: { unsupported: "learned constant inputs (const) are not in the PyTorch trainer yet" },
  noise: { unsupported: "noise inputs (noise) draw from TensorFlow.js's generator, which the PyTorch trainer does not reproduce yet" },
  pixelnorm: { unsupported: "pixel normalization (pixelnorm) is not in the PyTorch trainer yet" },
  style: { unsupported: "per-layer style stacks (style) are not in the PyTorch trainer yet" },
  track_avg: { unsupported: "running averages of w (track_avg) are not in the PyTorch trainer yet" },
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
