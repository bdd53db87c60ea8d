import type * as tfjs from "@tensorflow/tfjs";
import { ident } from "../codegen/writer.ts";
import { GANC_MAX_POOL2, GANC_MAX_POOL2_GRAD, GANC_MAX_POOL2_INDEX, GANC_SOFTMAX, GANC_SOFTMAX_GRAD } from "../runtime/kernels/names.ts";
import { fmt, type LayerModule } from "./layer.ts";
import { INIT_DOC, snKernel } from "./weights.ts";

/**
 * Self-attention (SAGAN, Zhang et al. 2019) as its reference implementation and StudioGAN's CIFAR-10 SAGAN
 * write it: on an image x of C channels, bias-free 1x1 convolutions give queries f(x) (C/8 channels) at
 * every position, keys g(x) (C/8) and values h(x) (C/2), the keys and values max-pooled 2x2; each
 * position attends to the pooled positions (softmax of query . key), the attended values go through a
 * 1x1 convolution o back to C channels, and the layer gives x + gamma * o with gamma a learned scalar
 * that starts at 0 (the layer starts as the identity).
 */
export interface AttentionIR {
  readonly op: "attention";
  /** The input's [height, width, channels]. */
  readonly shape: readonly [number, number, number];
  readonly f: string;
  readonly g: string;
  readonly h: string;
  readonly o: string;
  /** The spectral-norm vectors of f, g, h, o (null without `sn=true`). */
  readonly sn: readonly [string, string, string, string] | null;
  readonly gamma: string;
}

type Tf = typeof tfjs;

/** In a fused net: the kernels and gamma, and the spectral-norm vectors of f, g, h, o with `sn=true`. */
export interface AttentionFused {
  op: "attention";
  f: tfjs.Variable;
  g: tfjs.Variable;
  h: tfjs.Variable;
  o: tfjs.Variable;
  gamma: tfjs.Variable;
  sn?: [tfjs.Variable, tfjs.Variable, tfjs.Variable, tfjs.Variable];
}

/**
 * A 2x2 max pooling's result, and what its backward pass reads: the window and the mask (the chain of ops), or
 * the index of each window's entry (ganc's kernels).
 */
type Pooled = { y: tfjs.Tensor4D; win: tfjs.Tensor; mask: tfjs.Tensor } | { y: tfjs.Tensor4D; idx: tfjs.Tensor };

/**
 * 2x2 max pooling written so that a gradient penalty can differentiate its gradient: each window's values
 * times a one-hot mask of its first largest entry, summed. The mask (argMax, oneHot, cast) has a zero
 * gradient, so the gradient routes dy to that entry, and it is differentiable again. (tfjs's MaxPoolGrad
 * has no gradient, and tf.max's gradient goes through Equal, which has none.) With the window and the mask
 * used, for the fused net's backward pass. Where the backend has ganc's pooling kernels (wasm, cpu), they
 * compute the same values in three passes instead of nine kernels (src/runtime/kernels/wasm/index.ts,
 * makeMaxPool2Kernels), with gradients that are differentiable again too (src/runtime/ops.ts); `masks` (tests
 * that hold the masks fixed) keeps the chain.
 */
function maxPool2Parts(tf: Tf, masks?: (mask: tfjs.Tensor) => tfjs.Tensor) {
  return (x: tfjs.Tensor4D): Pooled => {
    if (masks === undefined && tf.getKernel(GANC_MAX_POOL2, tf.getBackend()) !== undefined) {
      const idx = tf.engine().runKernel(GANC_MAX_POOL2_INDEX, { x }, {}) as tfjs.Tensor;
      return { y: tf.engine().runKernel(GANC_MAX_POOL2, { x, idx }, {}) as tfjs.Tensor4D, idx };
    }
    const [b, h, w, c] = x.shape;
    const win = tf.reshape(tf.transpose(tf.reshape(x, [b, h / 2, 2, w / 2, 2, c]), [0, 1, 3, 5, 2, 4]), [b, h / 2, w / 2, c, 4]);
    // int32 one-hot, then cast: the wasm backend's OneHot writes int32 bits whatever dtype it is asked for
    const cast = tf.cast(tf.oneHot(tf.argMax(win, -1), 4), "float32");
    const mask = masks ? masks(cast) : cast;
    return { y: tf.sum(tf.mul(win, mask), -1) as tfjs.Tensor4D, win, mask };
  };
}

/** maxPool2Parts' pooled values alone. */
export function maxPool2Runtime(tf: Tf, masks?: (mask: tfjs.Tensor) => tfjs.Tensor) {
  const parts = maxPool2Parts(tf, masks);
  return (x: tfjs.Tensor4D): tfjs.Tensor4D => parts(x).y;
}

/**
 * The layer's forward pass on [batch, height, width, C] with kernels f, g [1, 1, C, C/8], h [1, 1, C, C/2],
 * o [1, 1, C/2, C] and gamma [1], and the values its backward pass reads. The softmax is written out (its
 * maximum held constant) so every step has a gradient of its own, for gradient penalties.
 */
function attentionForward(tf: Tf, pool: (x: tfjs.Tensor4D) => Pooled | tfjs.Tensor4D) {
  // The row maximum the softmax subtracts, held constant (its forward runs off the tape, its gradient is 0).
  const rowMax = tf.customGrad(((s: tfjs.Tensor) => ({ value: tf.max(s, -1, true), gradFunc: () => tf.zeros(s.shape) })) as never) as unknown as (
    s: tfjs.Tensor,
  ) => tfjs.Tensor;
  // a pool that gives its values alone (selfAttentionRuntime's) leaves nothing for a backward pass to read
  const parts = (p: Pooled | tfjs.Tensor4D): Pooled => ("y" in p ? p : { y: p, idx: p });
  /** The softmax as ops: e = exp(s - its row maximum), the row sums of e, and e / sums. */
  const softmaxChain = (s: tfjs.Tensor): tfjs.Tensor[] => {
    const e = tf.exp(tf.sub(s, rowMax(s)));
    const sums = tf.sum(e, -1, true);
    return [e, sums, tf.div(e, sums)];
  };
  return (x: tfjs.Tensor4D, f: tfjs.Tensor, g: tfjs.Tensor, h: tfjs.Tensor, o: tfjs.Tensor, gamma: tfjs.Tensor) => {
    const [b, hh, ww, c] = x.shape;
    const n = hh * ww;
    const conv = (t: tfjs.Tensor4D, k: tfjs.Tensor) => tf.conv2d(t, k as tfjs.Tensor4D, 1, "valid");
    const q = tf.reshape(conv(x, f), [b, n, c / 8]);
    const pg = parts(pool(conv(x, g)));
    const k = tf.reshape(pg.y, [b, n / 4, c / 8]);
    const ph = parts(pool(conv(x, h)));
    const v = tf.reshape(ph.y, [b, n / 4, c / 2]);
    const s = tf.matMul(q as tfjs.Tensor3D, k as tfjs.Tensor3D, false, true); // [b, n, n/4]
    // the softmax: ganc's one kernel where the backend has it (the same values, src/runtime/kernels/wasm/index.ts,
    // makeSoftmaxKernels), else the chain
    const [e, sums, attn] = tf.getKernel(GANC_SOFTMAX, tf.getBackend()) !== undefined ? (tf.engine().runKernel(GANC_SOFTMAX, { s }, {}) as tfjs.Tensor[]) : softmaxChain(s);
    const a = tf.reshape(tf.matMul(attn as tfjs.Tensor3D, v as tfjs.Tensor3D), [b, hh, ww, c / 2]) as tfjs.Tensor4D;
    const co = conv(a, o);
    const y = tf.add(x, tf.mul(gamma, co)) as tfjs.Tensor4D;
    return { y, q, k, v, e, sums, attn, a, co, pg, ph };
  };
}

/** The layer's forward pass (attentionForward's result; `maxPool2` is replaceable for tests that hold the pooling masks fixed). */
export function selfAttentionRuntime(tf: Tf, maxPool2 = maxPool2Runtime(tf)) {
  const forward = attentionForward(tf, maxPool2);
  return (x: tfjs.Tensor4D, f: tfjs.Tensor, g: tfjs.Tensor, h: tfjs.Tensor, o: tfjs.Tensor, gamma: tfjs.Tensor): tfjs.Tensor4D => forward(x, f, g, h, o, gamma).y;
}

/** One selfAttentionSaving per tfjs module (the fused form's forward pass). */
const savingOf = new WeakMap<Tf, ReturnType<typeof makeSelfAttentionSaving>>();
export function selfAttentionSaving(tf: Tf): ReturnType<typeof makeSelfAttentionSaving> {
  let a = savingOf.get(tf);
  if (!a) savingOf.set(tf, (a = makeSelfAttentionSaving(tf)));
  return a;
}

/**
 * The layer's forward pass as selfAttentionRuntime runs it (attentionForward: the same ops in the same order, so
 * the same bits), keeping what its backward pass reads, and that backward pass written out: each op's gradient
 * as tfjs's gradient for it computes it, and the gradients of a value read by several ops added in the order
 * tfjs's tape adds them (the last reader's first). So the fused net's backward pass does not run the layer's
 * forward pass again under the tape, and its results are the tape's bit for bit (attention.test.ts checks
 * them against tf.grads of selfAttentionRuntime). Every op is a tfjs op, so a tape around the backward pass
 * (a gradient penalty's) records it.
 */
function makeSelfAttentionSaving(tf: Tf) {
  const forward = attentionForward(tf, maxPool2Parts(tf));
  // Conv2D's gradients as tfjs's conv2d gradient runs them (for the 1x1, stride-1, 'valid' convolutions here)
  const conv = { strides: 1, pad: "valid", dataFormat: "NHWC", dimRoundingMode: undefined };
  const run = (name: string, inputs: tfjs.NamedTensorMap, attrs: object) => tf.engine().runKernel(name, inputs, attrs as tfjs.NamedAttrMap) as tfjs.Tensor;
  const dInput = (inputShape: number[], dy: tfjs.Tensor, filter: tfjs.Tensor) => run("Conv2DBackpropInput", { dy, filter }, { ...conv, inputShape });
  const dFilter = (x: tfjs.Tensor, dy: tfjs.Tensor, filterShape: number[]) => run("Conv2DBackpropFilter", { x, dy }, { ...conv, filterShape });
  /**
   * The pooling's backward pass: Sum's, Multiply's (for the window), the mask's zero gradient added, the reshapes and
   * transpose undone. Sum's gradient is dy times a tensor of ones; here dy is broadcast into the product with the
   * mask instead (x * 1 = x, so the same values).
   */
  const poolGrad = (dy: tfjs.Tensor, p: Pooled, shape: readonly number[]) => {
    const [b, h, w, c] = shape as [number, number, number, number];
    // ganc's kernels: the pooling's gradient, then the index's zero added (as the tape adds it)
    if ("idx" in p) return tf.add(tf.engine().runKernel(GANC_MAX_POOL2_GRAD, { dy, idx: p.idx }, {}) as tfjs.Tensor, tf.zeros(shape as number[]));
    const dWin = tf.add(tf.mul(tf.reshape(dy, [b, h / 2, w / 2, c, 1]), p.mask), tf.zerosLike(p.win));
    const d6 = tf.transpose(tf.reshape(dWin, [b, h / 2, w / 2, c, 2, 2]), [0, 1, 4, 2, 5, 3]);
    return tf.reshape(d6, shape as number[]);
  };
  /** The softmax's backward pass: ganc's kernel where the backend has it (the same values), else the tape's ops. */
  const softmaxGrad = (dAttn: tfjs.Tensor, e: tfjs.Tensor, sums: tfjs.Tensor) => {
    if (tf.getKernel(GANC_SOFTMAX_GRAD, tf.getBackend()) !== undefined) return tf.engine().runKernel(GANC_SOFTMAX_GRAD, { dy: dAttn, e, sums }, {}) as tfjs.Tensor;
    const dE1 = tf.div(dAttn, sums);
    const dSums = tf.neg(tf.div(tf.reshape(tf.sum(tf.mul(dAttn, e), [2]), sums.shape), tf.square(sums)));
    // Sum's gradient (dSums times ones) broadcast into the addition instead: x * 1 = x, the same values
    const dE = tf.add(dE1, tf.reshape(dSums, [...sums.shape]));
    return tf.add(tf.reshape(tf.mul(dE, e), e.shape), tf.zeros(e.shape));
  };
  return (x: tfjs.Tensor4D, f: tfjs.Tensor, g: tfjs.Tensor, h: tfjs.Tensor, o: tfjs.Tensor, gamma: tfjs.Tensor, keep: <T extends tfjs.Tensor>(t: T) => T) => {
    const [b, hh, ww, c] = x.shape;
    const n = hh * ww;
    const fw = forward(x, f, g, h, o, gamma);
    const [q, k, v, e, sums, attn, a, co] = [fw.q, fw.k, fw.v, fw.e, fw.sums, fw.attn, fw.a, fw.co].map(keep) as tfjs.Tensor[];
    const [pg, ph] = [fw.pg, fw.ph].map((p): Pooled => ("idx" in p ? { y: p.y, idx: keep(p.idx) } : { y: p.y, win: keep(p.win), mask: keep(p.mask) }));
    /** dx, and with `weights` the gradients of f, g, h, o and gamma. */
    const backward = (dy: tfjs.Tensor, weights: boolean): { dx: tfjs.Tensor; dw: tfjs.Tensor[] | null } => {
      const dAdd = tf.reshape(dy, x.shape);
      const dMul = tf.reshape(dy, co!.shape);
      const dGamma = weights ? tf.reshape(tf.sum(tf.mul(dMul, co!), [0, 1, 2, 3]), gamma.shape) : null;
      const dCo = tf.mul(dMul, gamma);
      const dA = dInput(a!.shape, dCo, o);
      const dO = weights ? dFilter(a!, dCo, o.shape) : null;
      const dAv = tf.reshape(dA, [b, n, c / 2]);
      const dAttn = tf.matMul(dAv as tfjs.Tensor3D, v as tfjs.Tensor3D, false, true);
      const dV = tf.matMul(attn as tfjs.Tensor3D, dAv as tfjs.Tensor3D, true, false);
      const dS = softmaxGrad(dAttn, e!, sums!);
      const dQ = tf.matMul(dS as tfjs.Tensor3D, k as tfjs.Tensor3D, false, false);
      const dK = tf.matMul(dS as tfjs.Tensor3D, q as tfjs.Tensor3D, true, false);
      const dCh = poolGrad(tf.reshape(dV, [b, hh / 2, ww / 2, c / 2]), ph!, [b, hh, ww, c / 2]);
      const dCg = poolGrad(tf.reshape(dK, [b, hh / 2, ww / 2, c / 8]), pg!, [b, hh, ww, c / 8]);
      const dCf = tf.reshape(dQ, [b, hh, ww, c / 8]);
      let dx = tf.add(dAdd, dInput(x.shape, dCh, h));
      const dH = weights ? dFilter(x, dCh, h.shape) : null;
      dx = tf.add(dx, dInput(x.shape, dCg, g));
      const dG = weights ? dFilter(x, dCg, g.shape) : null;
      dx = tf.add(dx, dInput(x.shape, dCf, f));
      const dF = weights ? dFilter(x, dCf, f.shape) : null;
      return { dx, dw: weights ? [dF!, dG!, dH!, dO!, dGamma!] : null };
    };
    return { y: fw.y, backward };
  };
}

export const attention: LayerModule<AttentionIR, AttentionFused> = {
  kind: "attention",
  doc: "self-attention (SAGAN): 1x1 convs to queries (C/8), keys (C/8) and values (C/2), keys and values max-pooled 2x2, softmax over positions, a 1x1 conv back to C; x + gamma * that, gamma learned from 0",
  params: {
    init: INIT_DOC,
    sn: "spectral normalization of its four convolutions (default false)",
  },
  aliases: ["self_attention"],
  range: null,

  check({ r, layer, shape, variable, init, fail }) {
    const sn = r.bool("sn", false);
    const kernelInit = init({ kind: "truncated_normal", mean: 0, std: 0.02 });
    if (shape.length !== 3) return fail(`${layer.op.name} needs an image input [height, width, channels] per sample, got ${fmt(shape)}; add 'reshape' before it`);
    const [h, w, c] = shape as [number, number, number];
    if (c % 8 !== 0) return fail(`${layer.op.name} needs a multiple of 8 channels (its queries and keys have C/8), got ${c}`, "E0166");
    if (h % 2 !== 0 || w % 2 !== 0) return fail(`${layer.op.name} max-pools its keys and values 2x2, so it needs an even height and width, got ${fmt(shape)}`, "E0166");
    const conv = (name: string, cin: number, cout: number) => variable(`${name}_kernel`, [1, 1, cin, cout], kernelInit);
    const u = (name: string, cout: number) => variable(`${name}_sn_u`, [1, cout], { kind: "normal", mean: 0, std: 1 }, false);
    const f = conv("f", c, c / 8);
    const g = conv("g", c, c / 8);
    const hk = conv("h", c, c / 2);
    const o = conv("o", c / 2, c);
    const snU = sn ? ([u("f", c / 8), u("g", c / 8), u("h", c / 2), u("o", c)] as const) : null;
    const gamma = variable("gamma", [1], { kind: "zeros" });
    return { layer: { op: "attention", shape: [h, w, c], f, g, h: hk, o, sn: snU, gamma }, out: [h, w, c] };
  },

  resolved: (l, { bool, initOf }) => [["init", initOf(l.f)], ["sn", bool(l.sn !== null)]],

  code: (l) => {
    const k = (name: string, i: number) => snKernel(name, l.sn ? l.sn[i]! : null);
    return `h = rt.selfAttention(h as tf.Tensor4D, ${k(l.f, 0)}, ${k(l.g, 1)}, ${k(l.h, 2)}, ${k(l.o, 3)}, ${ident(l.gamma)});`;
  },

  // In a fused net: the forward pass is rt.selfAttention's ops (the same values as layer by layer), keeping
  // what the backward pass reads; the backward pass is tfjs's tape's written out (selfAttentionSaving), bit
  // for bit, without the second forward pass of the layer that running it under the tape (tf.grads) took:
  // the reduced sagan 430 -> 377 ms an iteration, its peak RSS +30 MB (bench/README.md). (Its input's
  // gradient is added to what later readers of the input gave, rather than accumulated term by term as
  // tfjs's tape does: equal to float32 rounding when a shortcut reads the attention's input too; bit for bit
  // otherwise, as in sagan.)
  fused: {
    code: (l) =>
      `{ op: "attention", f: ${ident(l.f)}, g: ${ident(l.g)}, h: ${ident(l.h)}, o: ${ident(l.o)}, gamma: ${ident(l.gamma)}${l.sn ? `, sn: [${l.sn.map(ident).join(", ")}]` : ""} }`,
    runtime: {
      op: "attention",
      weights: (l) => [l.f, l.g, l.h, l.o, l.gamma],
      spectral: (l) => (l.sn ? [l.f, l.g, l.h, l.o].map((k, i) => [k, l.sn![i]!] as const) : []),
      forward(l, { tf, x, keep, view, weight, needDx, train }) {
        const [f, g, h, o] = [l.f, l.g, l.h, l.o].map(weight) as [tfjs.Tensor, tfjs.Tensor, tfjs.Tensor, tfjs.Tensor];
        const x4 = keep(view(x, x.shape)) as tfjs.Tensor4D;
        const { y, backward } = selfAttentionSaving(tf)(x4, f, g, h, o, l.gamma, train || needDx ? keep : (t) => t);
        return {
          y,
          backward: (dy, grads) => {
            if (!train && !needDx) return null;
            const r = backward(dy, train);
            if (r.dw) [l.f, l.g, l.h, l.o, l.gamma].forEach((v, i) => grads.set(v, r.dw![i]!));
            return needDx ? r.dx : null;
          },
        };
      },
    },
  },

  // tfjs layers have no attention layer; it is folded into standard ones: 1x1 convs, 2x2 max pooling,
  // reshapes, two batched Dot products with a Softmax between, and the output conv's kernel times gamma
  // (o has no bias, so gamma * conv(a, o) = conv(a, gamma * o)), added to the input.
  export(l, { tf, apply, h, name, kernelOf, take }) {
    const [hh, ww, c] = l.shape;
    const n = hh * ww;
    const conv = (x: tfjs.SymbolicTensor, tag: string, filters: number, kernel: tfjs.Tensor) =>
      apply(tf.layers.conv2d({ filters, kernelSize: 1, padding: "valid", useBias: false, name: `${name}_${tag}` }), x, [kernel]);
    const pool = (x: tfjs.SymbolicTensor, tag: string) => apply(tf.layers.maxPooling2d({ poolSize: 2, strides: 2, name: `${name}_${tag}_pool` }), x);
    const flat = (x: tfjs.SymbolicTensor, tag: string, rows: number, cols: number) => apply(tf.layers.reshape({ targetShape: [rows, cols], name: `${name}_${tag}_flat` }), x);
    const sn = (i: number) => (l.sn ? l.sn[i]! : null);
    const q = flat(conv(h, "f", c / 8, kernelOf(l.f, sn(0))), "f", n, c / 8);
    const k = flat(pool(conv(h, "g", c / 8, kernelOf(l.g, sn(1))), "g"), "g", n / 4, c / 8);
    const v = flat(pool(conv(h, "h", c / 2, kernelOf(l.h, sn(2))), "h"), "h", n / 4, c / 2);
    const s = apply(tf.layers.dot({ axes: [2, 2], name: `${name}_scores` }), [q, k]); // [n, n/4]
    const attn = apply(tf.layers.softmax({ axis: -1, name: `${name}_softmax` }), s);
    const a = apply(tf.layers.dot({ axes: [2, 1], name: `${name}_attend` }), [attn, v]); // [n, c/2]
    const img = apply(tf.layers.reshape({ targetShape: [hh, ww, c / 2], name: `${name}_image` }), a);
    const oKernel = tf.tidy(() => tf.mul(kernelOf(l.o, sn(3)), take(l.gamma)));
    const o = conv(img, "o", c, oKernel);
    return apply(tf.layers.add({ name }), [h, o]);
  },
};
