import type * as tfjs from "@tensorflow/tfjs";
import { ident } from "../codegen/writer.ts";
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
 * 2x2 max pooling written so that a gradient penalty can differentiate its gradient: each window's values
 * times a one-hot mask of its first largest entry, summed. The mask (argMax, oneHot, cast) has a zero
 * gradient, so the gradient routes dy to that entry, and it is differentiable again. (tfjs's MaxPoolGrad
 * has no gradient, and tf.max's gradient goes through Equal, which has none.)
 */
export function maxPool2Runtime(tf: Tf, masks?: (mask: tfjs.Tensor) => tfjs.Tensor) {
  return (x: tfjs.Tensor4D): tfjs.Tensor4D => {
    const [b, h, w, c] = x.shape;
    const win = tf.reshape(tf.transpose(tf.reshape(x, [b, h / 2, 2, w / 2, 2, c]), [0, 1, 3, 5, 2, 4]), [b, h / 2, w / 2, c, 4]);
    // int32 one-hot, then cast: the wasm backend's OneHot writes int32 bits whatever dtype it is asked for
    const mask = tf.cast(tf.oneHot(tf.argMax(win, -1), 4), "float32");
    return tf.sum(tf.mul(win, masks ? masks(mask) : mask), -1) as tfjs.Tensor4D;
  };
}

/**
 * The layer's forward pass on [batch, height, width, C] with kernels f, g [1, 1, C, C/8], h [1, 1, C, C/2],
 * o [1, 1, C/2, C] and gamma [1]. The softmax is written out (its maximum held constant) so every step
 * has a gradient of its own, for gradient penalties. (`maxPool2` is replaceable for tests that hold the
 * pooling masks fixed.)
 */
export function selfAttentionRuntime(tf: Tf, maxPool2 = maxPool2Runtime(tf)) {
  // The row maximum the softmax subtracts, held constant (its forward runs off the tape, its gradient is 0).
  const rowMax = tf.customGrad(((s: tfjs.Tensor) => ({ value: tf.max(s, -1, true), gradFunc: () => tf.zeros(s.shape) })) as never) as unknown as (
    s: tfjs.Tensor,
  ) => tfjs.Tensor;
  return (x: tfjs.Tensor4D, f: tfjs.Tensor, g: tfjs.Tensor, h: tfjs.Tensor, o: tfjs.Tensor, gamma: tfjs.Tensor): tfjs.Tensor4D => {
    const [b, hh, ww, c] = x.shape;
    const n = hh * ww;
    const conv = (t: tfjs.Tensor4D, k: tfjs.Tensor) => tf.conv2d(t, k as tfjs.Tensor4D, 1, "valid");
    const q = tf.reshape(conv(x, f), [b, n, c / 8]);
    const k = tf.reshape(maxPool2(conv(x, g)), [b, n / 4, c / 8]);
    const v = tf.reshape(maxPool2(conv(x, h)), [b, n / 4, c / 2]);
    const s = tf.matMul(q as tfjs.Tensor3D, k as tfjs.Tensor3D, false, true); // [b, n, n/4]
    const e = tf.exp(tf.sub(s, rowMax(s)));
    const attn = tf.div(e, tf.sum(e, -1, true));
    const a = tf.reshape(tf.matMul(attn as tfjs.Tensor3D, v as tfjs.Tensor3D), [b, hh, ww, c / 2]) as tfjs.Tensor4D;
    return tf.add(x, tf.mul(gamma, conv(a, o))) as tfjs.Tensor4D;
  };
}

/**
 * The layer's forward pass as selfAttentionRuntime runs it (the same ops in the same order, so the same bits),
 * keeping what its backward pass reads, and that backward pass written out: each op's gradient as tfjs's
 * gradient for it computes it, and the gradients of a value read by several ops added in the order tfjs's tape
 * adds them (the last reader's first). So the fused net's backward pass no longer runs the layer's forward pass
 * again under the tape, and its results are the tape's bit for bit (test/opt/equivalence.test.ts: the
 * optimized trainers against the layer-by-layer ones, which differentiate selfAttentionRuntime with tf.grads).
 * Every op is a tfjs op, so a tape around the backward pass (a gradient penalty's) records it.
 */
export function selfAttentionSaving(tf: Tf, conv2dBackprop: { input(shape: number[], dy: tfjs.Tensor, w: tfjs.Tensor): tfjs.Tensor; filter(x: tfjs.Tensor, dy: tfjs.Tensor, shape: number[]): tfjs.Tensor }) {
  const rowMax = tf.customGrad(((s: tfjs.Tensor) => ({ value: tf.max(s, -1, true), gradFunc: () => tf.zeros(s.shape) })) as never) as unknown as (s: tfjs.Tensor) => tfjs.Tensor;
  /** maxPool2Runtime's ops, keeping the pooled window's mask. */
  const pool = (x: tfjs.Tensor4D) => {
    const [b, h, w, c] = x.shape;
    const win = tf.reshape(tf.transpose(tf.reshape(x, [b, h / 2, 2, w / 2, 2, c]), [0, 1, 3, 5, 2, 4]), [b, h / 2, w / 2, c, 4]);
    const mask = tf.cast(tf.oneHot(tf.argMax(win, -1), 4), "float32");
    return { y: tf.sum(tf.mul(win, mask), -1) as tfjs.Tensor4D, win, mask };
  };
  /** The pooling's backward pass: Sum's, Multiply's (for the window), the mask's zero gradient added, the reshapes and transpose undone. */
  const poolGrad = (dy: tfjs.Tensor, p: { win: tfjs.Tensor; mask: tfjs.Tensor }, shape: readonly number[]) => {
    const [b, h, w, c] = shape as [number, number, number, number];
    const dSum = tf.mul(tf.reshape(dy, [b, h / 2, w / 2, c, 1]), tf.ones(p.win.shape, "float32"));
    const dWin = tf.add(tf.mul(dSum, p.mask), tf.zerosLike(p.win));
    const d6 = tf.transpose(tf.reshape(dWin, [b, h / 2, w / 2, c, 2, 2]), [0, 1, 4, 2, 5, 3]);
    return tf.reshape(d6, shape as number[]);
  };
  return (x: tfjs.Tensor4D, f: tfjs.Tensor, g: tfjs.Tensor, h: tfjs.Tensor, o: tfjs.Tensor, gamma: tfjs.Tensor, keep: <T extends tfjs.Tensor>(t: T) => T) => {
    const [b, hh, ww, c] = x.shape;
    const n = hh * ww;
    const conv = (t: tfjs.Tensor4D, k: tfjs.Tensor) => tf.conv2d(t, k as tfjs.Tensor4D, 1, "valid");
    const q = keep(tf.reshape(conv(x, f), [b, n, c / 8]));
    const pg = pool(conv(x, g));
    const k = keep(tf.reshape(pg.y, [b, n / 4, c / 8]));
    const ph = pool(conv(x, h));
    const v = keep(tf.reshape(ph.y, [b, n / 4, c / 2]));
    const s = tf.matMul(q as tfjs.Tensor3D, k as tfjs.Tensor3D, false, true);
    const e = keep(tf.exp(tf.sub(s, rowMax(s))));
    const sums = keep(tf.sum(e, -1, true));
    const attn = keep(tf.div(e, sums));
    const a = keep(tf.reshape(tf.matMul(attn as tfjs.Tensor3D, v as tfjs.Tensor3D), [b, hh, ww, c / 2]) as tfjs.Tensor4D);
    const co = keep(conv(a, o));
    const y = tf.add(x, tf.mul(gamma, co)) as tfjs.Tensor4D;
    const masks = [pg, ph].map((p) => ({ win: keep(p.win), mask: keep(p.mask) }));
    /** dx, and with `weights` the gradients of f, g, h, o and gamma. */
    const backward = (dy: tfjs.Tensor, weights: boolean): { dx: tfjs.Tensor; dw: tfjs.Tensor[] | null } => {
      const dAdd = tf.reshape(dy, x.shape);
      const dMul = tf.reshape(dy, co.shape);
      const dGamma = weights ? tf.reshape(tf.sum(tf.mul(dMul, co), [0, 1, 2, 3]), gamma.shape) : null;
      const dCo = tf.mul(dMul, gamma);
      const dA = conv2dBackprop.input(a.shape, dCo, o);
      const dO = weights ? conv2dBackprop.filter(a, dCo, o.shape) : null;
      const dAv = tf.reshape(dA, [b, n, c / 2]);
      const dAttn = tf.matMul(dAv as tfjs.Tensor3D, v as tfjs.Tensor3D, false, true);
      const dV = tf.matMul(attn as tfjs.Tensor3D, dAv as tfjs.Tensor3D, true, false);
      const dE1 = tf.div(dAttn, sums);
      const dSums = tf.neg(tf.div(tf.reshape(tf.sum(tf.mul(dAttn, e), [2]), sums.shape), tf.square(sums)));
      const dE = tf.add(dE1, tf.mul(tf.reshape(dSums, [b, n, 1]), tf.ones(e.shape, "float32")));
      const dS = tf.add(tf.reshape(tf.mul(dE, e), e.shape), tf.zeros(e.shape));
      const dQ = tf.matMul(dS as tfjs.Tensor3D, k as tfjs.Tensor3D, false, false);
      const dK = tf.matMul(dS as tfjs.Tensor3D, q as tfjs.Tensor3D, true, false);
      const dCh = poolGrad(tf.reshape(dV, [b, hh / 2, ww / 2, c / 2]), masks[1]!, [b, hh, ww, c / 2]);
      const dCg = poolGrad(tf.reshape(dK, [b, hh / 2, ww / 2, c / 8]), masks[0]!, [b, hh, ww, c / 8]);
      const dCf = tf.reshape(dQ, [b, hh, ww, c / 8]);
      let dx = tf.add(dAdd, conv2dBackprop.input(x.shape, dCh, h));
      const dH = weights ? conv2dBackprop.filter(x, dCh, h.shape) : null;
      dx = tf.add(dx, conv2dBackprop.input(x.shape, dCg, g));
      const dG = weights ? conv2dBackprop.filter(x, dCg, g.shape) : null;
      dx = tf.add(dx, conv2dBackprop.input(x.shape, dCf, f));
      const dF = weights ? conv2dBackprop.filter(x, dCf, f.shape) : null;
      return { dx, dw: weights ? [dF!, dG!, dH!, dO!, dGamma!] : null };
    };
    return { y, backward };
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
      forward(l, { tf, x, keep, view, weight, needDx, train, kernel }) {
        const [f, g, h, o] = [l.f, l.g, l.h, l.o].map(weight) as [tfjs.Tensor, tfjs.Tensor, tfjs.Tensor, tfjs.Tensor];
        const x4 = keep(view(x, x.shape)) as tfjs.Tensor4D;
        const conv = { strides: 1, pad: "valid", dataFormat: "NHWC", dimRoundingMode: undefined };
        const attend = selfAttentionSaving(tf, {
          input: (inputShape, dy, filter) => kernel("Conv2DBackpropInput", { dy, filter }, { ...conv, inputShape }),
          filter: (xx, dy, filterShape) => kernel("Conv2DBackpropFilter", { x: xx, dy }, { ...conv, filterShape }),
        });
        const back = train || needDx;
        const { y, backward } = attend(x4, f, g, h, o, l.gamma, back ? keep : (t) => t);
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
