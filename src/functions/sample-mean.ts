import type * as TF from "@tensorflow/tfjs";
import { unknownRange, type FnDef } from "./function.ts";
import { perSample } from "./rules.ts";

export const sampleMean: FnDef<"sample_mean"> = {
  name: "sample_mean",
  params: [{ name: "x", doc: "a batched tensor" }],
  doc: "mean of each sample over all its elements: [batch]",
  type: perSample("sample_mean"),
  broadcasts: false,
  range: (r) => r[0] ?? unknownRange(),
  emit: (a) => `rt.sampleMean(${a.tensor(0)})`,
};

/** rt.sampleMean: the mean of each sample's elements: [batch]. */
export const runtime = (tf: typeof TF) =>
  function sampleMean(x: TF.Tensor): TF.Tensor1D {
    return tf.mean(tf.reshape(x, [x.shape[0]!, -1]), 1);
  };
