import type * as TF from "@tensorflow/tfjs";
import { unknownRange, type FnDef } from "./function.ts";

/**
 * grad(y, x). Beyond this typing rule the checker requires x to be a named value or an input, and y to
 * depend on it (E0208, E0209); the trainer generator recomputes the nodes between x and y inside the
 * gradient's function (`EmitArgs.gradient`).
 */
export const grad: FnDef<"grad"> = {
  name: "grad",
  params: [
    { name: "y", doc: "what is differentiated (summed over all its elements)" },
    { name: "x", doc: "a named value or an input that y depends on" },
  ],
  doc: "gradient of the sum of `y` with respect to `x`, shaped like x",
  type: (a) => a[1]!,
  broadcasts: false,
  range: unknownRange,
  emit: (a) => a.gradient(),
};

/**
 * rt.gradOf: gradient of sum(y) with respect to the tensor `x` that `f` turned into `y`, kept on the tape
 * so a loss can penalise it (WGAN-GP, DRAGAN, R1: a second derivative when the optimizer differentiates it).
 */
export const runtime = (tf: typeof TF) =>
  function gradOf(f: (x: TF.Tensor) => TF.Tensor, x: TF.Tensor): TF.Tensor {
    return tf.grad((xx: TF.Tensor) => tf.sum(f(xx)))(x);
  };
