import type * as tfjs from "@tensorflow/tfjs";
import { fmt, type FusedEnv, type LayerModule } from "./layer.ts";

export interface UpsampleIR {
  readonly op: "upsample";
  readonly factor: number;
  readonly mode: "nearest" | "bilinear";
}

export interface UpsampleFused {
  op: "upsample";
  factor: number;
  bilinear: boolean;
}

/**
 * The [n * factor, n] matrix (row-major) of bilinear upsampling along one axis with half-pixel centers,
 * as tf.image.resizeBilinear(halfPixelCenters=true) and PyTorch's F.interpolate(mode="bilinear",
 * align_corners=False) place the samples: output o reads input position (o + 0.5) / factor - 0.5,
 * clamped to the first and last positions.
 */
export function bilinearWeights(n: number, factor: number): Float32Array {
  const a = new Float32Array(n * factor * n);
  for (let o = 0; o < n * factor; o++) {
    const src = Math.max((o + 0.5) / factor - 0.5, 0);
    const i0 = Math.min(Math.floor(src), n - 1);
    const i1 = Math.min(i0 + 1, n - 1);
    const t = src - i0;
    a[o * n + i0]! += 1 - t;
    a[o * n + i1]! += t;
  }
  return a;
}

export const upsample: LayerModule<UpsampleIR, UpsampleFused> = {
  kind: "upsample",
  doc: "upsampling by a whole factor: nearest neighbour, or bilinear with half-pixel centers (PyTorch's align_corners=False)",
  params: { factor: "upsampling factor (default 2)", mode: "nearest or bilinear (default nearest)" },
  range: "through",

  check({ r, shape, fail }) {
    const factor = r.posInt("factor", 2)!;
    const mode = r.word("mode", "nearest", ["nearest", "bilinear"]) as "nearest" | "bilinear";
    if (shape.length !== 3) return fail(`upsample needs an image input, got ${fmt(shape)}`);
    return { layer: { op: "upsample", factor, mode }, out: [shape[0]! * factor, shape[1]! * factor, shape[2]!] };
  },

  resolved: (l, { num, name }) => [["factor", num(l.factor)], ["mode", name(l.mode)]],
  code: (l) => (l.mode === "bilinear" ? `h = rt.upsampleBilinear(h as tf.Tensor4D, ${l.factor});` : `h = rt.upsample(h as tf.Tensor4D, ${l.factor});`),

  fused: {
    code: (l) => `{ op: "upsample", factor: ${l.factor}, bilinear: ${l.mode === "bilinear"} }`,
    runtime: {
      op: "upsample",
      forward(l, env) {
        const { x, tf, view, needDx } = env;
        const [b, h, w, c] = x.shape as [number, number, number, number];
        const f = l.factor;
        if (l.bilinear) return bilinearForward(env, b, h, w, c, f);
        return {
          y: tf.image.resizeNearestNeighbor(x as Parameters<typeof tf.image.resizeNearestNeighbor>[0], [h * f, w * f]),
          backward: (dy) => (needDx ? tf.sum(view(dy, [b, h, f, w, f, c]), [2, 4]) : null),
        };
      },
    },
  },

  export(l, { tf, apply, h, name, info }) {
    if (l.mode === "nearest") return apply(tf.layers.upSampling2d({ size: [l.factor, l.factor], name }), h);
    // Keras's bilinear UpSampling2D has no half-pixel centers in tfjs; the same interpolation as the
    // trainer's, one matrix per axis, is a bias-free Dense on each spatial axis moved last.
    const [ih, iw] = info.inShape as [number, number, number];
    const f = l.factor;
    const along = (n: number, x: tfjs.SymbolicTensor, tag: string) => {
      const a = tf.tensor2d(bilinearWeights(n, f), [n * f, n]);
      return apply(tf.layers.dense({ units: n * f, useBias: false, name: `${name}_${tag}` }), x, [tf.transpose(a)]);
    };
    const hLast = apply(tf.layers.permute({ dims: [2, 3, 1], name: `${name}_hlast` }), h); // [w, c, h]
    const hUp = along(ih, hLast, "h"); // [w, c, h*f]
    const wLast = apply(tf.layers.permute({ dims: [3, 2, 1], name: `${name}_wlast` }), hUp); // [h*f, c, w]
    const wUp = along(iw, wLast, "w"); // [h*f, c, w*f]
    return apply(tf.layers.permute({ dims: [1, 3, 2], name: `${name}_nhwc` }), wUp);
  },
};

/**
 * Bilinear upsampling in a fused net: the ops of rt.upsampleBilinear (an interpolation matrix per axis,
 * between transposes), and backward the gradients tfjs's tape takes through them (transpose by the
 * inverse permutation, matMul(a, dy, transposeA) for a constant left factor), so both agree bit for bit.
 */
function bilinearForward({ x, tf, view, keep, needDx }: FusedEnv, b: number, h: number, w: number, c: number, f: number) {
  const ah = keep(tf.tensor2d(bilinearWeights(h, f), [h * f, h]));
  const aw = keep(tf.tensor2d(bilinearWeights(w, f), [w * f, w]));
  const rows = tf.matMul(ah, view(tf.transpose(x, [1, 0, 2, 3]), [h, b * w * c])); // [hf, b*w*c]
  const cols = tf.matMul(aw, view(tf.transpose(view(rows, [h * f, b, w, c]), [2, 1, 0, 3]), [w, b * h * f * c])); // [wf, b*hf*c]
  return {
    y: tf.transpose(view(cols, [w * f, b, h * f, c]), [1, 2, 0, 3]),
    backward: (dy: tfjs.Tensor) => {
      if (!needDx) return null;
      const dCols = view(tf.transpose(dy, [2, 0, 1, 3]), [w * f, b * h * f * c]);
      const dRows = view(tf.transpose(view(tf.matMul(aw, dCols, true, false), [w, b, h * f, c]), [2, 1, 0, 3]), [h * f, b * w * c]);
      return tf.transpose(view(tf.matMul(ah, dRows, true, false), [h, b, w, c]), [1, 0, 2, 3]);
    },
  };
}
