import { ident, num } from "../codegen/writer.ts";
import type { LayerModule } from "./layer.ts";

export interface LayernormIR {
  readonly op: "layernorm";
  readonly epsilon: number;
  readonly gamma: string;
  readonly beta: string;
}

export const layernorm: LayerModule<LayernormIR> = {
  kind: "layernorm",
  doc: "layer normalization over all non-batch axes",
  params: { epsilon: "small constant added for numerical stability" },
  aliases: ["ln"],
  prefix: "ln",
  range: null,

  check({ r, shape, variable }) {
    const epsilon = r.number("epsilon", 1e-5, (x) => (x > 0 ? null : "must be > 0"));
    const c = shape[shape.length - 1] ?? 1;
    return { layer: { op: "layernorm", epsilon, gamma: variable("gamma", [c], { kind: "ones" }), beta: variable("beta", [c], { kind: "zeros" }) }, out: shape };
  },

  resolved: (l, { num }) => [["epsilon", num(l.epsilon)]],
  code: (l) => `h = rt.layerNorm(h, ${ident(l.gamma)}, ${ident(l.beta)}, ${num(l.epsilon)});`,
  // no fused form: a net with layer norm runs layer by layer
  fused: null,

  export(l, { tf, apply, h, name, info, take }) {
    // ganc normalises over every non-batch axis with a per-channel scale and offset; Keras keeps a
    // scale per normalised position, so the per-channel values are repeated over the positions.
    const shape = [...info.inShape];
    const axis = shape.map((_, i) => i + 1);
    const tile = (t: ReturnType<typeof take>) => tf.tidy(() => tf.mul(tf.ones(shape), t));
    return apply(tf.layers.layerNormalization({ axis, epsilon: l.epsilon, name }), h, [tile(take(l.gamma)), tile(take(l.beta))]);
  },
};
