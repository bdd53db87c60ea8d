import { namesOf } from "./join.ts";
import { fmt, type LayerModule } from "./layer.ts";

export interface DotIR {
  readonly op: "dot";
  readonly value: string;
}

/**
 * The inner product of the path with a named value of the same length, per sample: sum(e * h) -> [1].
 * A projection discriminator's class term (Miyato & Koyama 2018) is `embed(y, n), dot(h)`.
 */
export const dot: LayerModule<DotIR> = {
  kind: "dot",
  doc: "inner product of the path with a named vector of the same length, per sample: [n] -> [1] (a projection discriminator's embed(y, n), dot(h))",
  params: { value: "the named value (a vector of the path's length) to multiply with" },
  range: null,

  check(c) {
    const names = namesOf(c, "value", "dot");
    if (!names) return null;
    if (c.shape.length !== 1) return c.fail(`dot needs a vector per sample, got ${fmt(c.shape)}; add 'flatten' or 'global_sum' before it`);
    const n = names[0]!;
    const v = c.value(n.name, n.span);
    if (!v) return null;
    if (fmt(v.shape) !== fmt(c.shape)) {
      c.error("E0230", `cannot take the inner product of ${fmt(c.shape)} and '${n.name}' of shape ${fmt(v.shape)}: dot needs two vectors of the same length`, n.span);
      return null;
    }
    return { layer: { op: "dot", value: v.ref }, out: [1] };
  },

  resolved: () => [],
  code: (l, { local }) => `h = tf.sum(tf.mul(h, ${local(l.value)}), -1, true);`,
  // No fused form: it reads another value of the net, which the fused network's ops do not (like the joins).
  fused: null,

  export: (l, { tf, apply, h, name, net, input, fail }) =>
    apply(tf.layers.dot({ axes: -1, name }), [h, input(l.value) ?? fail(`export: ${net.name}.${name} reads ${l.value}, which ${net.name} does not define`)]),
};
