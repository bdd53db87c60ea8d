import { type FnDef } from "./function.ts";

export const clip: FnDef<"clip"> = {
  name: "clip",
  params: [
    { name: "x", doc: "a tensor or a number" },
    { name: "low", doc: "the lower bound: a number or a scalar value" },
    { name: "high", doc: "the upper bound: a number or a scalar value" },
  ],
  doc: "clip(x, low, high)",
  type: (a) => (a[1]!.batched || a[2]!.batched || a[1]!.shape.length || a[2]!.shape.length ? "clip bounds must be scalars" : a[0]!),
  broadcasts: false,
  range: ([, low, high]) => (low && high ? { low: low.low, high: high.high } : null),
  emit: (a) => `tf.clipByValue(${a.tensor(0)}, ${a.number(1)}, ${a.number(2)})`,
};
