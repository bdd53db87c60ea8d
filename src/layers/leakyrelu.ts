import { num } from "../codegen/writer.ts";
import type { LayerModule } from "./layer.ts";
import { fusedActivation, type ActFused } from "./activation.ts";

export interface LeakyreluIR {
  readonly op: "leakyrelu";
  readonly alpha: number;
}

const code = (l: LeakyreluIR) => `{ kind: "leakyrelu", alpha: ${num(l.alpha)} }`;

export const leakyrelu: LayerModule<LeakyreluIR, ActFused, { kind: "leakyrelu"; alpha: number }> = {
  kind: "leakyrelu",
  doc: "max(x, alpha x)",
  params: { alpha: "slope for negative inputs, in [0, 1) (default 0.2)" },
  aliases: ["lrelu", "leaky_relu"],
  range: null,

  check({ r, shape }) {
    const alpha = r.number("alpha", 0.2, (x) => (x >= 0 && x < 1 ? null : "must be in [0, 1)"));
    return { layer: { op: "leakyrelu", alpha }, out: shape };
  },

  resolved: (l, { num }) => [["alpha", num(l.alpha)]],
  code: (l) => `h = tf.leakyRelu(h, ${num(l.alpha)});`,
  fused: fusedActivation(code),
  activation: {
    code,
    fusable: (l) => !(l.alpha < 0),
    attrs: (a) => ({ activation: "leakyrelu", leakyreluAlpha: a.alpha }),
    forward: (a, x, { kernel }) => kernel("LeakyRelu", { x }, { alpha: a.alpha }),
    // with alpha >= 0 the output is positive where the input is: dy there, alpha dy elsewhere (tfjs's formula, bit for
    // bit; on wasm the pair as one ganc kernel, relu's with the slope)
    grad: (a, dy, y, { kernel, gancKernel }) => {
      const fused = gancKernel("reluGrad");
      return fused !== null ? kernel(fused, { dy, y }, { alpha: a.alpha }) : kernel("Multiply", { a: dy, b: kernel("Step", { x: y }, { alpha: a.alpha }) });
    },
  },
  export: (l, { tf, apply, h, name }) => apply(tf.layers.leakyReLU({ alpha: l.alpha, name }), h),
};
