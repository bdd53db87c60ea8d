import { fmt, spreadOverWindows, type LayerModule } from "./layer.ts";

export interface GlobalAvgIR {
  readonly op: "global_avg";
}

export interface GlobalAvgFused {
  op: "global_avg";
}

export const global_avg: LayerModule<GlobalAvgIR, GlobalAvgFused> = {
  kind: "global_avg",
  doc: "average over all positions of an image: [height, width, channels] -> [channels]",
  params: {},
  range: "through",

  check({ layer, shape, fail }) {
    if (shape.length !== 3) return fail(`${layer.op.name} needs an image input [height, width, channels] per sample, got ${fmt(shape)}`);
    return { layer: { op: "global_avg" }, out: [shape[2]!] };
  },

  resolved: () => [],
  code: () => `h = tf.mean(h, [1, 2]);`,

  fused: {
    code: () => `{ op: "global_avg" }`,
    runtime: {
      op: "global_avg",
      // tf.mean and backward the values of tfjs's own gradient of Mean (reshape, times ones, divided by the count).
      forward(_l, { x, tf, view, needDx }) {
        const [, h, w] = x.shape as [number, number, number, number];
        return {
          y: tf.mean(x, [1, 2]),
          backward: (dy) => (needDx ? spreadOverWindows({ tf, view }, dy, x.shape, h, w, h * w) : null),
        };
      },
    },
  },

  export: (_l, { tf, apply, h, name }) => apply(tf.layers.globalAveragePooling2d({ name }), h),
};
