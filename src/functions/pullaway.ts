import type * as TF from "@tensorflow/tfjs";
import { type FnDef } from "./function.ts";
import { SCALAR } from "./rules.ts";

export const pullaway: FnDef<"pullaway"> = {
  name: "pullaway",
  params: [{ name: "x", doc: "a batched tensor (EBGAN: the encoder's features of the fakes)" }],
  doc: "pull-away term: (sum of the cosine-similarity matrix of the samples - n) / (n (n-1))",
  type: (a) => (a[0]!.batched ? SCALAR : "pullaway needs a batched tensor"),
  broadcasts: false,
  range: () => ({ low: -1, high: 1 }),
  emit: (a) => `rt.pullaway(${a.tensor(0)})`,
};

/** rt.pullaway: EBGAN's pull-away term, (sum of the cosine-similarity matrix - n) / (n (n - 1)). */
export const runtime = (tf: typeof TF) =>
  function pullaway(x: TF.Tensor): TF.Scalar {
    const n = x.shape[0]!;
    const flat = tf.reshape(x, [n, -1]);
    const unit = tf.div(flat, tf.sqrt(tf.sum(tf.square(flat), 1, true)));
    const sim = tf.matMul(unit, unit, false, true);
    return tf.div(tf.sub(tf.sum(sim), n), n * (n - 1));
  };
