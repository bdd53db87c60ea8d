import type * as TF from "@tensorflow/tfjs";
import type * as Engine from "../runtime/fused/engine.ts";
import { type FnDef } from "./function.ts";
import { meanOfDifference } from "./fused-mean-of-difference.ts";
import { pairMean } from "./rules.ts";

export const mse: FnDef<"mse"> = {
  name: "mse",
  params: [
    { name: "a", doc: "a tensor" },
    { name: "b", doc: "what it is compared with: a number or a tensor that broadcasts" },
  ],
  doc: "mean squared difference",
  type: pairMean,
  broadcasts: true,
  range: () => ({ low: 0, high: Infinity }),
  emit: (a) => `rt.mse(${a.operand(0, true)}, ${a.operand(1, false)})`,
  fused: { emit: (a, target) => `rt.fused.mse(${a.tensor(0)}, ${target}, arena)` },
};

/** rt.mse: mean((a - b)^2). */
export const runtime = (tf: typeof TF) =>
  function mse(a: TF.Tensor, b: TF.Tensor | number): TF.Scalar {
    return tf.mean(tf.square(tf.sub(a, b)));
  };

/** rt.fused.mse, against a constant target: mean((a - t)^2) as one op; d/da = (dy/n) * ((a - t) * 2). */
export const fused = (engine: typeof Engine) => meanOfDifference(engine, "mse", "Square", (scale, d) => engine.kernel("Multiply", { a: d, b: engine.kernel("Multiply", { a: scale, b: engine.constant(2) }) }));
