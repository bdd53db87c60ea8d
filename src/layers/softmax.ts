import type { LayerModule } from "./layer.ts";
import { fusedActivation, plainAttrs, type ActFused } from "./activation.ts";

export interface SoftmaxIR {
  readonly op: "softmax";
}

const code = () => `{ kind: "softmax" }`;

export const softmax: LayerModule<SoftmaxIR, ActFused, { kind: "softmax" }> = {
  kind: "softmax",
  doc: "softmax over the last axis",
  params: {},
  range: [0, 1],
  check: ({ shape }) => ({ layer: { op: "softmax" }, out: shape }),
  resolved: () => [],
  code: () => "h = tf.softmax(h);",
  fused: fusedActivation(code),
  activation: {
    code,
    fusable: () => false,
    attrs: () => plainAttrs("softmax"),
    forward: (_a, x, { tf }) => tf.softmax(x),
    grad(_a, dy, y, { tf, kernel }) {
      const dyTimesY = kernel("Multiply", { a: dy, b: y });
      return kernel("Sub", { a: dyTimesY, b: kernel("Multiply", { a: tf.sum(dyTimesY, -1, true), b: y }) });
    },
  },
  export: (_l, { tf, apply, h, name }) => apply(tf.layers.softmax({ axis: -1, name }), h),
};
