import { ident } from "../codegen/writer.ts";
import { fmt, type LayerModule } from "./layer.ts";
import { INIT_DOC } from "./weights.ts";

export interface ConstIR {
  readonly op: "const";
  readonly shape: readonly number[];
  /** The learned tensor, of `shape`. */
  readonly value: string;
}

/**
 * A learned constant (StyleGAN's synthesis input, 4x4x512 there): a tensor of `shape`, initialized N(0, 1),
 * repeated over the batch. It reads only the batch size of the value before it, so it starts a path: the
 * net's first layer (its input gives the batch), or a layer after a named value (`-> w`) that later layers
 * read. Its gradient is the sum over the batch of the gradients of the copies.
 */
export const constLayer: LayerModule<ConstIR> = {
  kind: "const",
  doc: "a learned tensor (StyleGAN's 4x4 synthesis input), the same for every sample: starts a path, reading only the batch size",
  params: { shape: "the per-sample shape, like [4, 4, 256]", init: `${INIT_DOC} (default normal(0, 1))` },
  aliases: ["constant"],
  range: null,

  check({ r, layer, net, variable, init, fail }) {
    const shape = r.intList("shape");
    if (!shape) {
      if (!r.has("shape")) r.required("shape", layer.span);
      return null;
    }
    // The layers before it compute nothing unless their output is named and read later.
    const i = net.layers.findIndex((x) => x.span.start === layer.span.start);
    const prev = i > 0 ? net.layers[i - 1]! : null;
    if (prev && !prev.tap)
      return fail(
        `const ${fmt(shape)} starts a new path and reads only the batch size, so the output of '${prev.op.name}' before it would be lost; make const the net's first layer, or name that output (${prev.op.name} ... -> w) and read it later (cbn(w), concat(w))`,
        "E0185",
      );
    const value = variable("value", [...shape], init({ kind: "normal", mean: 0, std: 1 }));
    return { layer: { op: "const", shape, value }, out: shape };
  },

  resolved: (l, { initOf }) => [["init", initOf(l.value)]],
  code: (l) => `h = tf.tile(tf.expandDims(${ident(l.value)}, 0), [h.shape[0]!, ${l.shape.map(() => 1).join(", ")}]);`,
  // no fused form: a net with it runs layer by layer
  fused: null,

  // The custom layer GancConst of the export's ganc-layers.mjs: the tensor repeated over its input's batch.
  export: (l, { apply, h, name, take, custom }) => apply(custom("GancConst", { shape: [...l.shape], name }), h, [take(l.value)]),
};
