import type { LayerModule } from "./layer.ts";
import { fusedActivation, plainAttrs, type ActFused } from "./activation.ts";

export interface SigmoidIR {
  readonly op: "sigmoid";
}

const code = () => `{ kind: "sigmoid" }`;

export const sigmoid: LayerModule<SigmoidIR, ActFused, { kind: "sigmoid" }> = {
  kind: "sigmoid",
  doc: "1 / (1 + exp(-x))",
  params: {},
  range: [0, 1],
  check: ({ shape }) => ({ layer: { op: "sigmoid" }, out: shape }),
  resolved: () => [],
  code: () => "h = tf.sigmoid(h);",
  fused: fusedActivation(code),
  activation: {
    code,
    fusable: () => true,
    attrs: () => plainAttrs("sigmoid"),
    forward: (_a, x, { kernel }) => kernel("Sigmoid", { x }),
    grad: (_a, dy, y, { kernel, constant }) => kernel("Multiply", { a: dy, b: kernel("Multiply", { a: y, b: kernel("Sub", { a: constant(1), b: y }) }) }),
  },
  export: (_l, { tf, apply, h, name }) => apply(tf.layers.activation({ activation: "sigmoid", name }), h),
};
