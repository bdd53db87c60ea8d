import { fmt, spreadOverWindows, type LayerModule } from "./layer.ts";

export interface AvgpoolFused {
  op: "avgpool";
  size: number;
  stride: number;
  padding: "same" | "valid";
}

export interface AvgpoolIR {
  readonly op: "avgpool";
  readonly size: number;
  readonly stride: number;
  readonly padding: "same" | "valid";
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
    return { layer: { op: "avgpool", size, stride, padding }, out: [oh, ow, c] };
  },

  resolved: (l, { num, name }) => [["size", num(l.size)], ["stride", num(l.stride)], ["padding", name(l.padding)]],
  code: (l) => `h = rt.avgPool(h as tf.Tensor4D, ${l.size}, ${l.stride}, "${l.padding}");`,
  fused: {
    // The ops of rt.avgPool, and backward the gradients tfjs's tape takes through them (so both agree bit
    // for bit): for windows that tile the image, the gradient of Mean; otherwise, per window offset in
    // reverse order, reshape and pad back, summed into the padded input's gradient in the tape's order.
    code: (l) => `{ op: "avgpool", size: ${l.size}, stride: ${l.stride}, padding: "${l.padding}" }`,
    runtime: {
      op: "avgpool",
      forward(l, { x, tf, view, keep, needDx }) {
        const [b, h, w, c] = x.shape as [number, number, number, number];
        const k = l.size;
        const s = l.stride;
        if (k === s && h % k === 0 && w % k === 0) {
          const blocks = [b, h / k, k, w / k, k, c];
          return {
            y: tf.mean(view(x, blocks), [2, 4]),
            // Mean's gradient: dy broadcast over each window (times ones) and divided by k * k
            backward: (dy) => (needDx ? spreadOverWindows({ tf, view }, dy, x.shape, k, k, k * k) : null),
          };
        }
        const gh = poolGeometry(h, k, s, l.padding);
        const gw = poolGeometry(w, k, s, l.padding);
        const padded = tf.pad(x, [[0, 0], [gh.before, gh.padded - h - gh.before], [gw.before, gw.padded - w - gw.before], [0, 0]]);
        const parts: ReturnType<typeof tf.pad>[] = [];
        for (let i = 0; i < k; i++)
          for (let j = 0; j < k; j++) {
            const win = tf.slice(padded, [0, i, j, 0], [b, gh.out * s, gw.out * s, c]);
            const strided = tf.slice(tf.reshape(win, [b, gh.out, s, gw.out, s, c]), [0, 0, 0, 0, 0, 0], [b, gh.out, 1, gw.out, 1, c]);
            parts.push(tf.reshape(strided, [b, gh.out, gw.out, c]));
          }
        const count = keep(tf.tensor4d(gh.counts.flatMap((p) => gw.counts.map((q) => p * q)), [1, gh.out, gw.out, 1]));
        return {
          y: tf.div(tf.addN(parts), count),
          backward: (dy) => {
            if (!needDx) return null;
            const d = tf.div(dy, count);
            let acc: ReturnType<typeof tf.pad> | null = null;
            for (let n = k * k - 1; n >= 0; n--) {
              const i = Math.floor(n / k);
              const j = n % k;
              const dStrided = tf.pad(tf.reshape(d, [b, gh.out, 1, gw.out, 1, c]), [[0, 0], [0, 0], [0, s - 1], [0, 0], [0, s - 1], [0, 0]]);
              const dWin = tf.reshape(dStrided, [b, gh.out * s, gw.out * s, c]);
              const dPadded = tf.pad(dWin, [[0, 0], [i, gh.padded - i - gh.out * s], [j, gw.padded - j - gw.out * s], [0, 0]]);
              acc = acc ? tf.add(acc, dPadded) : dPadded;
            }
            return tf.slice(acc!, [0, gh.before, gw.before, 0], [b, h, w, c]);
          },
        };
      },
    },
  },

  export: (l, { tf, apply, h, name }) => apply(tf.layers.averagePooling2d({ poolSize: l.size, strides: l.stride, padding: l.padding, name }), h),
};
