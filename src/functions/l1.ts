import type * as TF from "@tensorflow/tfjs";
import type * as Engine from "../runtime/fused/engine.ts";
import { type FnDef } from "./function.ts";
import { meanOfDifference } from "./fused-mean-of-difference.ts";
import { pairMean } from "./rules.ts";

export const l1: FnDef<"l1"> = {
  name: "l1",
  params: [
    { name: "a", doc: "a tensor" },
    { name: "b", doc: "what it is compared with: a number or a tensor that broadcasts" },
  ],
  doc: "mean absolute difference",
  type: pairMean,
  broadcasts: true,
  range: () => ({ low: 0, high: Infinity }),
  emit: (a) => `rt.l1(${a.operand(0, true)}, ${a.operand(1, false)})`,
  fused: { emit: (a, target) => `rt.fused.l1(${a.tensor(0)}, ${target}, arena)` },
};

/** rt.l1: mean(|a - b|). */
export const runtime = (tf: typeof TF) =>
  function l1(a: TF.Tensor, b: TF.Tensor | number): TF.Scalar {
    return tf.mean(tf.abs(tf.sub(a, b)));
  };

/** rt.fused.l1, against a constant target: mean(|a - t|) as one op; d/da = (dy/n) * step(a - t, -1). */
export const fused = (engine: typeof Engine) => meanOfDifference(engine, "l1", "Abs", (scale, d) => engine.kernel("Multiply", { a: scale, b: engine.kernel("Step", { x: d }, { alpha: -1 }) }));
