/*
 * Type tests, checked by `tsc --noEmit -p .` (not run): each `@ts-expect-error` line must be an error, or
 * the type check fails. They show that the layer registry's types catch a wrong table and an incomplete module.
 */
import type { Registry } from "../../src/layers/index.ts";
import type { LayerModule } from "../../src/layers/layer.ts";
import { conv2d } from "../../src/layers/conv2d.ts";
import { dense } from "../../src/layers/dense.ts";
import { relu } from "../../src/layers/relu.ts";

// A well-formed table type-checks.
export const ok: Registry<{ dense: typeof dense; conv2d: typeof conv2d; relu: typeof relu }> = { dense, conv2d, relu };

// A module registered under another kind's name.
// @ts-expect-error conv2d's IR has op "conv2d", not "dense"
export const misnamed: Registry<{ dense: typeof conv2d }> = { dense: conv2d };

// One module under two names.
// @ts-expect-error the second name has no module whose IR carries it
export const twice: Registry<{ dense: typeof dense; fc: typeof dense }> = { dense, fc: dense };

// A module that leaves out a part (here its export mapping) is not a LayerModule.
// @ts-expect-error property 'export' is missing
export const incomplete: LayerModule<{ readonly op: "identity2" }> = {
  kind: "identity2",
  doc: "identity",
  params: {},
  range: null,
  check: ({ shape }) => ({ layer: { op: "identity2" }, out: shape }),
  resolved: () => [],
  code: () => "",
  fused: "identity",
};

// A module whose kind is not its IR's op.
export const wrongKind: LayerModule<{ readonly op: "identity3" }> = {
  // @ts-expect-error kind must be the IR's op
  kind: "identity4",
  doc: "identity",
  params: {},
  range: null,
  check: ({ shape }) => ({ layer: { op: "identity3" }, out: shape }),
  resolved: () => [],
  code: () => "",
  fused: "identity",
  export: () => null,
};
