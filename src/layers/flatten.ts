import { prod, type LayerModule } from "./layer.ts";

export interface FlattenIR {
  readonly op: "flatten";
}

export interface FlattenFused {
  op: "flatten";
}

export const flatten: LayerModule<FlattenIR, FlattenFused> = {
  kind: "flatten",
  doc: "flatten each sample to a vector",
  params: {},
  range: "through",
  check: ({ shape }) => ({ layer: { op: "flatten" }, out: [prod(shape)] }),
  resolved: () => [],
  code: () => `h = tf.reshape(h, [h.shape[0]!, -1]);`,

  fused: {
    code: () => `{ op: "flatten" }`,
    runtime: {
      op: "flatten",
      forward(_l, { x, view, needDx }) {
        const inShape = x.shape;
        return { y: view(x, [x.shape[0]!, -1]), backward: (dy) => (needDx ? view(dy, inShape) : null) };
      },
    },
  },

  export: (_l, { tf, apply, h, name }) => apply(tf.layers.flatten({ name }), h),
};
