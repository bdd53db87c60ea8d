import type * as TF from "@tensorflow/tfjs";
import { type FnDef } from "./function.ts";
import { perSample } from "./rules.ts";

export const sampleNorm: FnDef<"sample_norm"> = {
  name: "sample_norm",
  params: [{ name: "x", doc: "a batched tensor (a gradient, for a gradient penalty)" }],
  doc: "L2 norm of each sample over all its elements: [batch]",
  type: perSample("sample_norm"),
  broadcasts: false,
  range: () => ({ low: 0, high: Infinity }),
  emit: (a) => `rt.sampleNorm(${a.tensor(0)})`,
};

/**
 * rt.sampleNorm: L2 norm over each sample's elements: [batch]. Its gradient x / ||x|| is taken as 0 (a
 * subgradient) for a sample whose elements are all 0, where sqrt's derivative would turn a vanished input
 * gradient into NaN weights under a gradient penalty.
 */
export const runtime = (tf: typeof TF) =>
  function sampleNorm(x: TF.Tensor): TF.Tensor1D {
    const norm = (t: TF.Tensor) => tf.sqrt(tf.sum(tf.square(tf.reshape(t, [t.shape[0]!, -1])), 1));
    const op = tf.customGrad(((xx: TF.Tensor, save: TF.GradSaveFunc) => {
      // Only the input is saved and the norm recomputed from it, so that a derivative of this gradient
      // still sees how the norm depends on the input (see "second derivatives" in runtime/ops.ts).
      save([xx]);
      return {
        value: norm(xx),
        gradFunc: (dy: TF.Tensor, [xs]: TF.Tensor[]) => {
          const perSample = [xs!.shape[0]!, ...xs!.shape.slice(1).map(() => 1)];
          return tf.mul(tf.reshape(dy, perSample), tf.divNoNan(xs!, tf.reshape(norm(xs!), perSample)));
        },
      };
    }) as never) as unknown as (xx: TF.Tensor) => TF.Tensor1D;
    return op(x);
  };
