import type { LayerModule } from "./layer.ts";

export interface LinearIR {
  readonly op: "linear";
}

export const linear: LayerModule<LinearIR> = {
  kind: "linear",
  doc: "identity",
  params: {},
  range: null,
  check: ({ shape }) => ({ layer: { op: "linear" }, out: shape }),
  resolved: () => [],
  code: () => "// linear: identity",
  // the identity: in a fused net its tap is the previous layer's output
  fused: "identity",
  // identity at inference
  export: () => null,
};
