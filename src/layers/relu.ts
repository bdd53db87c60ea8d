import type { LayerModule } from "./layer.ts";
import { fusedActivation, plainAttrs, type ActFused } from "./activation.ts";

export interface ReluIR {
  readonly op: "relu";
}

const code = () => `{ kind: "relu" }`;

export const relu: LayerModule<ReluIR, ActFused, { kind: "relu" }> = {
  kind: "relu",
  doc: "max(x, 0)",
  params: {},
  range: null,
  check: ({ shape }) => ({ layer: { op: "relu" }, out: shape }),
  resolved: () => [],
  code: () => "h = tf.relu(h);",
  fused: fusedActivation(code),
  activation: {
    code,
    fusable: () => true,
    attrs: () => plainAttrs("relu"),
    forward: (_a, x, { kernel }) => kernel("Relu", { x }),
    // relu passes dy where the output is positive, which is where the input is (tfjs's formula, bit for bit;
    // on wasm the pair as one ganc kernel)
    grad: (_a, dy, y, { kernel, gancKernel }) => {
      const fused = gancKernel("reluGrad");
      return fused !== null ? kernel(fused, { dy, y }) : kernel("Multiply", { a: dy, b: kernel("Step", { x: y }, { alpha: 0 }) });
    },
  },
  export: (_l, { tf, apply, h, name }) => apply(tf.layers.activation({ activation: "relu", name }), h),
};
