import type * as TF from "@tensorflow/tfjs";
import { extremumGradient } from "./extremum.ts";
import { type FnDef } from "./function.ts";
import { broadcast } from "./rules.ts";

export const min: FnDef<"min"> = {
  name: "min",
  params: [
    { name: "a", doc: "a tensor or a number" },
    { name: "b", doc: "a tensor or a number that broadcasts with a" },
  ],
  doc: "elementwise minimum",
  type: (a) => broadcast(a[0]!, a[1]!),
  broadcasts: true,
  range: ([a, b]) => (a && b ? { low: Math.min(a.low, b.low), high: Math.min(a.high, b.high) } : null),
  emit: (a) => `tf.minimum(${a.operand(0, true)}, ${a.operand(1, true)})`,
};

/** Minimum's gradient, summed over broadcast axes (extremum.ts); the runtime registers it. */
export const gradient = (tf: typeof TF) => extremumGradient(tf, tf.Minimum, tf.lessEqual, tf.greater);
