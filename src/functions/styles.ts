import type * as TF from "@tensorflow/tfjs";
import { type FnDef } from "./function.ts";

/** A whole number of styles >= `least`, or null. */
export function styleCount(n: number | null | undefined, least: number): number | null {
  return n !== null && n !== undefined && Number.isInteger(n) && n >= least && n <= 1024 ? n : null;
}

export const styles: FnDef<"styles"> = {
  name: "styles",
  params: [
    { name: "w", doc: "a batch of style vectors [wdim] (a mapping network's output)" },
    { name: "n", doc: "a constant: how many layers the stack has (a whole number >= 1)" },
  ],
  doc: "styles(w, n): the style stack [n, wdim] with every layer's style w (what a synthesis net's style(ws, i) layers read)",
  type: ([w], [, n]) => {
    if (!w!.batched || w!.shape.length !== 1) return { code: "E0198", message: `styles(w, n) stacks a batch of style vectors [wdim], got ${w!.batched ? `[${["batch", ...w!.shape].join(", ")}]` : "a scalar"}` };
    const count = styleCount(n, 1);
    if (count === null) return { code: "E0196", message: `styles(w, n): n is the number of layers, a whole number from 1 to 1024, got ${n ?? "a value that is not a constant"}` };
    return { batched: true, shape: [count, w!.shape[0]!] };
  },
  broadcasts: false,
  range: ([w]) => w,
  emit: (a) => `rt.styles(${a.tensor(0)}, ${a.name(1)})`,
};

/** rt.styles: w [batch, wdim] repeated for n layers, [batch, n, wdim]. */
export const runtime = (tf: typeof TF) =>
  function stylesOf(w: TF.Tensor, n: number): TF.Tensor {
    return tf.tile(tf.expandDims(w, 1), [1, n, 1]);
  };
