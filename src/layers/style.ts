import { fmt, type LayerModule } from "./layer.ts";

export interface StyleIR {
  readonly op: "style";
  /** The style stack read ([layers, wdim] per sample). */
  readonly value: string;
  readonly index: number;
  /** Styles in the stack, and the width of each. */
  readonly count: number;
  readonly width: number;
}

/**
 * Starts a new path at style `index` of a per-layer style stack (StyleGAN's synthesis network: every
 * style-consuming layer reads its own w, so that style mixing can give the first layers one w and the rest
 * another). The stack is a `[layers, wdim]` input of the net, made by `styles(w, n)` or `mix(w1, w2, n, p)`.
 */
export const style: LayerModule<StyleIR> = {
  kind: "style",
  doc: "a new path at style `index` (from 0) of a per-layer style stack [layers, wdim]: style(ws, 2) is the third layer's w",
  params: {
    value: "the style stack, an input of the net of shape [layers, wdim] (made by styles(w, n) or mix(w1, w2, n, p))",
    index: "which layer's style, from 0",
  },
  range: null,

  check({ r, layer, value, fail, error }) {
    const a = r.arg("value");
    if (!a || a.value.kind !== "Name") return fail("style takes a named style stack and a layer index, like style(ws, 0)", "E0198");
    const index = r.number("index", null, (x) => (Number.isInteger(x) && x >= 0 ? null : "must be a whole number >= 0"));
    if (index === null) {
      r.required("index", layer.span);
      return null;
    }
    const v = value(a.value.name, a.value.span);
    if (!v) return null;
    if (v.shape.length !== 2) {
      error("E0198", `style reads a style stack [layers, wdim] per sample, and '${a.value.name}' is ${fmt(v.shape)}; give the net styles(w, n) or mix(w1, w2, n, p)`, a.value.span);
      return null;
    }
    const [count, width] = v.shape as [number, number];
    if (index >= count) {
      error("E0197", `style ${index} of a stack of ${count}: the styles of '${a.value.name}' are numbered 0 to ${count - 1}`, r.arg("index")!.value.span);
      return null;
    }
    return { layer: { op: "style", value: v.ref, index, count, width }, out: [width] };
  },

  resolved: () => [],
  code: (l, { local }) => `h = tf.reshape(tf.slice(${local(l.value)}, [0, ${l.index}, 0], [-1, 1, ${l.width}]), [-1, ${l.width}]);`,
  // No fused form: it reads another value of the net, which the fused network's ops do not (like `from`).
  fused: null,

  // The stack flattened, then the one style's slice of it (the custom layer GancSlice, as chunk's).
  export: (l, { tf, apply, name, net, input, fail, custom }) => {
    const ws = input(l.value) ?? fail(`export: ${net.name}.${name} reads ${l.value}, which ${net.name} does not define`);
    const flat = apply(tf.layers.flatten({ name: `${name}_stack` }), ws);
    return apply(custom("GancSlice", { begin: l.index * l.width, size: l.width, name }), flat);
  },
};
