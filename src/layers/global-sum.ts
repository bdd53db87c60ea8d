import { fmt, spreadOverWindows, type LayerModule } from "./layer.ts";

export interface GlobalSumIR {
  readonly op: "global_sum";
  /** Positions summed (height * width), for export. */
  readonly positions: number;
}

export interface GlobalSumFused {
  op: "global_sum";
}

export const global_sum: LayerModule<GlobalSumIR, GlobalSumFused> = {
  kind: "global_sum",
  doc: "sum over all positions of an image: [height, width, channels] -> [channels]",
  params: {},
  range: null,

  check({ layer, shape, fail }) {
    if (shape.length !== 3) return fail(`${layer.op.name} needs an image input [height, width, channels] per sample, got ${fmt(shape)}`);
    return { layer: { op: "global_sum", positions: shape[0]! * shape[1]! }, out: [shape[2]!] };
  },

  resolved: () => [],
  code: () => `h = tf.sum(h, [1, 2]);`,

  fused: {
    code: () => `{ op: "global_sum" }`,
    runtime: {
      op: "global_sum",
      // tf.sum and backward the values of tfjs's own gradient of Sum (reshape, times ones): dy spread over the positions.
      forward(_l, { x, tf, view, needDx }) {
        const [, h, w] = x.shape as [number, number, number, number];
        return {
          y: tf.sum(x, [1, 2]),
          backward: (dy) => (needDx ? spreadOverWindows({ tf, view }, dy, x.shape, h, w, 1) : null),
        };
      },
    },
  },

  // Keras has no global sum: the global average times the number of positions (a Rescaling layer).
  export: (l, { tf, apply, h, name }) =>
    apply(tf.layers.rescaling({ scale: l.positions, name: `${name}_sum` }), apply(tf.layers.globalAveragePooling2d({ name }), h)),
};
