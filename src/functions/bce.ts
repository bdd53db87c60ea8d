import type * as TF from "@tensorflow/tfjs";
import { unknownRange, type FnDef } from "./function.ts";
import { pairMean } from "./rules.ts";

export const bce: FnDef<"bce"> = {
  name: "bce",
  params: [
    { name: "p", doc: "probabilities in (0, 1) (after a sigmoid)" },
    { name: "targets", doc: "the targets in [0, 1]: ones, zeros, a number, or a tensor that broadcasts" },
  ],
  doc: "mean binary cross-entropy of probabilities against targets",
  type: pairMean,
  broadcasts: true,
  range: unknownRange,
  emit: (a) => `rt.bce(${a.operand(0, true)}, ${a.operand(1, false)})`,
};

/** rt.bce: mean binary cross-entropy on probabilities, clamped away from 0 and 1 so log stays finite. */
export const runtime = (tf: typeof TF) =>
  function bce(p: TF.Tensor, targets: TF.Tensor | number): TF.Scalar {
    const eps = 1e-7;
    const q = tf.clipByValue(p, eps, 1 - eps);
    const t = typeof targets === "number" ? tf.scalar(targets) : targets;
    return tf.neg(tf.mean(tf.add(tf.mul(t, tf.log(q)), tf.mul(tf.sub(1, t), tf.log(tf.sub(1, q)))))) as TF.Scalar;
  };
