import { num } from "../codegen/writer.ts";
import type { LayerModule } from "./layer.ts";

export interface DropoutIR {
  readonly op: "dropout";
  readonly rate: number;
}

export interface DropoutFused {
  op: "dropout";
  rate: number;
}

export const dropout: LayerModule<DropoutIR, DropoutFused> = {
  kind: "dropout",
  doc: "dropout during training steps",
  params: { rate: "fraction of units dropped, in [0, 1) (default 0.5)" },
  range: null, // training scales the kept values by 1 / (1 - rate), out of the range before

  check({ r, shape }) {
    const rate = r.number("rate", 0.5, (x) => (x >= 0 && x < 1 ? null : "must be in [0, 1)"));
    return { layer: { op: "dropout", rate }, out: shape };
  },

  resolved: (l, { num }) => [["rate", num(l.rate)]],
  code: (l) => `h = rt.dropout(h, ${num(l.rate)}, mode, run.seed());`,

  fused: {
    code: (l) => `{ op: "dropout", rate: ${num(l.rate)} }`,
    runtime: {
      op: "dropout",
      forward(l, { x, o, needDx, keep, tf }) {
        const seed = o.seed ? o.seed() : undefined;
        if (l.rate <= 0) return { y: x, backward: (dy) => (needDx ? dy : null) };
        const keepProb = 1 - l.rate;
        // tf.dropout's own formula and random stream, so the mask is the layer-by-layer trainer's.
        const multiplier = keep(tf.div(tf.floor(tf.add(tf.randomUniform(x.shape, 0, 1, "float32", seed), keepProb)), keepProb));
        return { y: tf.mul(x, multiplier), backward: (dy) => (needDx ? tf.mul(dy, multiplier) : null) };
      },
    },
  },

  // identity at inference
  export: () => null,
};
