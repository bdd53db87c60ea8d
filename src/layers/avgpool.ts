import { fmt, type LayerModule } from "./layer.ts";

export interface AvgpoolFused {
  op: "avgpool";
  size: number;
}

export interface AvgpoolIR {
  readonly op: "avgpool";
  readonly size: number;
  readonly stride: number;
  readonly padding: "same" | "valid";
  /** Whether the windows tile the input (stride = size, dividing height and width): then it has a fused form. */
  readonly tiles: boolean;
}

/**
 * Where the windows of a pooling along one axis of length `n` fall, as TensorFlow places them: the output
 * length, the zero padding before the first position, the padded length the runtime slices from (every
 * window offset has `out * stride` positions after it), and how many real positions each window covers.
 */
export function poolGeometry(n: number, size: number, stride: number, padding: "same" | "valid") {
  const out = padding === "same" ? Math.ceil(n / stride) : Math.floor((n - size) / stride) + 1;
  const before = padding === "same" ? Math.floor(Math.max((out - 1) * stride + size - n, 0) / 2) : 0;
  const padded = Math.max(size - 1 + out * stride, before + n);
  const counts = Array.from({ length: Math.max(out, 0) }, (_, o) => Math.min(o * stride - before + size, n) - Math.max(o * stride - before, 0));
  return { out, before, padded, counts };
}

export const avgpool: LayerModule<AvgpoolIR, AvgpoolFused> = {
  kind: "avgpool",
  doc: "average pooling over square windows, NHWC",
  params: {
    size: "window size (square, default 2)",
    stride: "stride (default: the window size)",
    padding: "valid or same (default valid; with same, a window averages only the positions inside the image)",
  },
  paramAliases: { s: "stride", p: "padding" },
  aliases: ["avg_pool"],
  prefix: "pool",
  range: "through",

  check({ r, layer, shape, fail }) {
    const size = r.posInt("size", 2)!;
    const stride = r.posInt("stride", size)!;
    const padding = r.word("padding", "valid", ["same", "valid"]) as "same" | "valid";
    if (shape.length !== 3) return fail(`${layer.op.name} needs an image input [height, width, channels] per sample, got ${fmt(shape)}; add 'reshape' before it`);
    const [h, w, c] = shape as [number, number, number];
    const oh = poolGeometry(h, size, stride, padding).out;
    const ow = poolGeometry(w, size, stride, padding).out;
    if (oh <= 0 || ow <= 0) return fail(`${layer.op.name} with window ${size} and padding 'valid' does not fit an input of ${fmt(shape)}`, "E0222");
    return { layer: { op: "avgpool", size, stride, padding, tiles: stride === size && h % size === 0 && w % size === 0 }, out: [oh, ow, c] };
  },

  resolved: (l, { num, name }) => [["size", num(l.size)], ["stride", num(l.stride)], ["padding", name(l.padding)]],
  code: (l) => `h = rt.avgPool(h as tf.Tensor4D, ${l.size}, ${l.stride}, "${l.padding}");`,
  fused: {
    // Windows that tile the image (stride = size, and no padding needed), the usual 2x2 pooling, are a
    // reshape and a mean, in the fused net as in rt.avgPool, with tfjs's own gradient of Mean written out
    // (exact). Other windows have no fused form: such a net runs layer by layer.
    available: (l) => l.tiles,
    code: (l) => `{ op: "avgpool", size: ${l.size} }`,
    runtime: {
      op: "avgpool",
      forward(l, { x, tf, view, needDx }) {
        const [b, h, w, c] = x.shape as [number, number, number, number];
        const k = l.size;
        if (h % k !== 0 || w % k !== 0) throw new Error(`avgpool ${k}: the fused form needs an image that the windows tile, got ${h}x${w}`);
        const blocks = [b, h / k, k, w / k, k, c];
        return {
          y: tf.mean(view(x, blocks), [2, 4]),
          backward: (dy) => (needDx ? view(tf.div(tf.mul(view(dy, [b, h / k, 1, w / k, 1, c]), tf.ones(blocks)), k * k), [b, h, w, c]) : null),
        };
      },
    },
  },

  export: (l, { tf, apply, h, name }) => apply(tf.layers.averagePooling2d({ poolSize: l.size, strides: l.stride, padding: l.padding, name }), h),
};
