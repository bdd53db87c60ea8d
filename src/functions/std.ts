import type * as TF from "@tensorflow/tfjs";
import { type FnDef } from "./function.ts";
import { reduceAll } from "./rules.ts";

export const std: FnDef<"std"> = {
  name: "std",
  params: [{ name: "x", doc: "a tensor" }],
  doc: "standard deviation of all elements",
  type: reduceAll,
  broadcasts: false,
  range: () => ({ low: 0, high: Infinity }),
  emit: (a) => `rt.std(${a.tensor(0)})`,
};

/** rt.std: standard deviation of all elements (population form, like tf.math.reduce_std). */
export const runtime = (tf: typeof TF) =>
  function std(x: TF.Tensor): TF.Scalar {
    return tf.sqrt(tf.moments(x).variance) as TF.Scalar;
  };
