import { namesOf } from "./join.ts";
import type { LayerModule } from "./layer.ts";

export interface FromIR {
  readonly op: "from";
  readonly value: string;
}

/** Starts a new path at a named value: the layers after it read that value instead of the previous output. */
export const from: LayerModule<FromIR> = {
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
  // No fused form yet: a net with more than one path runs layer by layer in the optimized trainer too.
  fused: null,

  export: (l, { input, net, name, fail }) => input(l.value) ?? fail(`export: ${net.name}.${name} reads ${l.value}, which ${net.name} does not define`),
};
