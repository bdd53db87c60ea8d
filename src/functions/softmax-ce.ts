import type * as TF from "@tensorflow/tfjs";
import { unknownRange, type FnDef } from "./function.ts";
import { SCALAR, show } from "./rules.ts";

export const softmaxCe: FnDef<"softmax_ce"> = {
  name: "softmax_ce",
  params: [
    { name: "logits", doc: "logits [batch, k] (before any softmax)" },
    { name: "labels", doc: "one-hot labels [batch, k], such as real.label or a categorical noise" },
  ],
  doc: "mean softmax cross-entropy of logits [batch, k] against one-hot labels [batch, k]",
  type: (a) => (a[0]!.shape.length === 1 && a[1]!.shape.length === 1 && a[0]!.shape[0] === a[1]!.shape[0] ? SCALAR : `softmax_ce needs logits and labels of the same [batch, k] shape, got ${show(a[0]!)} and ${show(a[1]!)}`),
  broadcasts: false,
  range: unknownRange,
  applies: "softmax",
  emit: (a) => `rt.softmaxCe(${a.tensor(0)}, ${a.tensor(1)})`,
};

/** rt.softmaxCe: mean over the batch of -sum(labels * log_softmax(logits)). */
export const runtime = (tf: typeof TF) =>
  function softmaxCe(logits: TF.Tensor, labels: TF.Tensor): TF.Scalar {
    return tf.mean(tf.neg(tf.sum(tf.mul(labels, tf.logSoftmax(logits)), -1)));
  };
