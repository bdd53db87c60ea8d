import type * as TF from "@tensorflow/tfjs";
import { type FnDef } from "./function.ts";

/**
 * The truncation trick (Karras et al. 2019): w_avg + psi (w - w_avg), w_avg the running average a
 * `track_avg` layer keeps at the end of the net that made w (a mapping network). psi is not part of the
 * spec: it is chosen when sampling (`ganc sample --truncation 0.7`, the trainer's --truncation), and is 1
 * (no truncation) otherwise, so truncate() belongs in the samples expression only (E0199).
 */
export const truncate: FnDef<"truncate"> = {
  name: "truncate",
  params: [{ name: "w", doc: "a mapping network's output M(z) (or a tap of it), where the net ends in track_avg" }],
  doc: "truncate(w): the truncation trick, w_avg + psi (w - w_avg) with the running average of the track_avg layer that made w and psi from --truncation (default 1); samples only",
  type: ([w]) => (w!.batched && w!.shape.length === 1 ? w! : { code: "E0195", message: `truncate(w) pulls a batch of style vectors [wdim] toward their average, got ${w!.batched ? `[${["batch", ...w!.shape].join(", ")}]` : "a scalar"}` }),
  broadcasts: false,
  range: ([w]) => w,
  emit: (a) => `rt.truncate(${a.tensor(0)}, ${a.average(0)}, run.truncation)`,
};

/** rt.truncate: w_avg + psi * (w - w_avg) (StyleGAN's w_avg.lerp(w, psi)); w itself when psi is 1. */
export const runtime = (tf: typeof TF) =>
  function truncateOf(w: TF.Tensor, avg: TF.Tensor, psi: number): TF.Tensor {
    if (psi === 1) return w;
    return tf.add(avg, tf.mul(tf.sub(w, avg), psi));
  };
