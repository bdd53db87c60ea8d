import { namesOf } from "./join.ts";
import type { FusedRef, LayerModule } from "./layer.ts";

export interface FromIR {
  readonly op: "from";
  readonly value: string;
}

/** In a fused net: the path continues from `src` (an input of the net, or an earlier layer's output). */
export interface FromFused {
  op: "from";
  src: FusedRef;
}

/** Starts a new path at a named value: the layers after it read that value instead of the previous output. */
export const from: LayerModule<FromIR, FromFused> = {
  kind: "from",
  doc: "start a new path at a named value of the net (an input, or an earlier output named with '-> name'): from(x)",
  params: { value: "the named value the path continues from" },
  range: null,

  check(c) {
    const names = namesOf(c, "value", "from");
    if (!names) return null;
    const v = c.value(names[0]!.name, names[0]!.span);
    return v ? { layer: { op: "from", value: v.ref }, out: v.shape } : null;
  },

  resolved: () => [],
  code: (l, { local }) => `h = ${local(l.value)};`,
  // In a fused net the layer reads another layer's output (or an input); its gradient goes back there.
  fused: {
    reads: (l) => [l.value],
    code: (l, c) => `{ op: "from", src: ${c.ref!(l.value)} }`,
    runtime: {
      op: "from",
      refs: (l) => [l.src],
      startsPath: true,
      forward(l, { value, view, needsGrad, addGrad }) {
        const v = value(l.src);
        return {
          // a view: the output is a tensor of its own (a tap of the op may be here)
          y: view(v, v.shape),
          backward: (dy) => {
            if (needsGrad(l.src)) addGrad(l.src, dy);
            return null;
          },
        };
      },
    },
  },

  export: (l, { input, net, name, fail }) => input(l.value) ?? fail(`export: ${net.name}.${name} reads ${l.value}, which ${net.name} does not define`),
};
