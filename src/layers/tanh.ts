import type { LayerModule } from "./layer.ts";
import { fusedActivation, plainAttrs, type ActFused } from "./activation.ts";

export interface TanhIR {
  readonly op: "tanh";
}

const code = () => `{ kind: "tanh" }`;

export const tanh: LayerModule<TanhIR, ActFused, { kind: "tanh" }> = {
  kind: "tanh",
  doc: "tanh(x)",
  params: {},
  range: [-1, 1],
  check: ({ shape }) => ({ layer: { op: "tanh" }, out: shape }),
  resolved: () => [],
  code: () => "h = tf.tanh(h);",
  fused: fusedActivation(code),
  activation: {
    code,
    fusable: () => false,
    attrs: () => plainAttrs("tanh"),
    forward: (_a, x, { kernel }) => kernel("Tanh", { x }),
    grad: (_a, dy, y, { kernel, constant }) => kernel("Multiply", { a: kernel("Sub", { a: constant(1), b: kernel("Square", { x: y }) }), b: dy }),
  },
  export: (_l, { tf, apply, h, name }) => apply(tf.layers.activation({ activation: "tanh", name }), h),
};
