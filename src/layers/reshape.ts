import { fmt, prod, type LayerModule } from "./layer.ts";

export interface ReshapeIR {
  readonly op: "reshape";
  readonly shape: readonly number[];
}

export interface ReshapeFused {
  op: "reshape";
  shape: number[];
}

export const reshape: LayerModule<ReshapeIR, ReshapeFused> = {
  kind: "reshape",
  doc: "reshape each sample",
  params: { shape: "the per-sample shape, a list of positive whole numbers like [7, 7, 128]" },
  range: "through",

  check({ r, layer, shape, fail }) {
    const target = r.intList("shape");
    if (!target) {
      if (!r.has("shape")) r.required("shape", layer.span);
      return null;
    }
    if (prod(target) !== prod(shape)) return fail(`reshape to ${fmt(target)} (${prod(target)} values) does not fit an input of ${fmt(shape)} (${prod(shape)} values)`, "E0202");
    return { layer: { op: "reshape", shape: target }, out: target };
  },

  resolved: () => [],
  code: (l) => `h = tf.reshape(h, [-1, ${l.shape.join(", ")}]);`,

  fused: {
    code: (l) => `{ op: "reshape", shape: [${l.shape.join(", ")}] }`,
    runtime: {
      op: "reshape",
      forward(l, { x, view, needDx }) {
        const inShape = x.shape;
        return { y: view(x, [-1, ...l.shape]), backward: (dy) => (needDx ? view(dy, inShape) : null) };
      },
    },
  },

  export: (l, { tf, apply, h, name }) => apply(tf.layers.reshape({ targetShape: [...l.shape], name }), h),
};
