import { fmt, type LayerModule } from "./layer.ts";

export interface UpsampleIR {
  readonly op: "upsample";
  readonly factor: number;
}

export interface UpsampleFused {
  op: "upsample";
  factor: number;
}

export const upsample: LayerModule<UpsampleIR, UpsampleFused> = {
  kind: "upsample",
  doc: "nearest-neighbour upsampling",
  params: { factor: "upsampling factor (default 2)" },
  range: "through",

  check({ r, shape, fail }) {
    const factor = r.posInt("factor", 2)!;
    if (shape.length !== 3) return fail(`upsample needs an image input, got ${fmt(shape)}`);
    return { layer: { op: "upsample", factor }, out: [shape[0]! * factor, shape[1]! * factor, shape[2]!] };
  },

  resolved: (l, { num }) => [["factor", num(l.factor)]],
  code: (l) => `h = rt.upsample(h as tf.Tensor4D, ${l.factor});`,

  fused: {
    code: (l) => `{ op: "upsample", factor: ${l.factor} }`,
    runtime: {
      op: "upsample",
      forward(l, { x, tf, view, needDx }) {
        const [b, h, w, c] = x.shape as [number, number, number, number];
        const f = l.factor;
        return {
          y: tf.image.resizeNearestNeighbor(x as Parameters<typeof tf.image.resizeNearestNeighbor>[0], [h * f, w * f]),
          backward: (dy) => (needDx ? tf.sum(view(dy, [b, h, f, w, f, c]), [2, 4]) : null),
        };
      },
    },
  },

  export: (l, { tf, apply, h, name }) => apply(tf.layers.upSampling2d({ size: [l.factor, l.factor], name }), h),
};
