import type * as TF from "@tensorflow/tfjs";
import { type FnDef } from "./function.ts";

export const slice: FnDef<"slice"> = {
  name: "slice",
  params: [
    { name: "x", doc: "a batched tensor" },
    { name: "begin", doc: "a constant: the first index on the last axis" },
    { name: "size", doc: "a constant: how many indices to take" },
  ],
  doc: "slice(x, begin, size) on the last axis",
  type: ([x], [, begin, size]) => {
    if (begin === null || size === null || begin === undefined || size === undefined || !x!.batched || x!.shape.length === 0) return { code: "E0223", message: "slice(x, begin, size) needs a batched x and constant begin and size" };
    const last = x!.shape[x!.shape.length - 1]!;
    if (!Number.isInteger(begin) || !Number.isInteger(size) || begin < 0 || size <= 0 || begin + size > last) return { code: "E0210", message: `slice [${begin}, ${begin + size}) is outside the last axis of size ${last}` };
    return { batched: true, shape: [...x!.shape.slice(0, -1), size] };
  },
  broadcasts: false,
  range: ([x]) => x,
  emit: (a) => `rt.sliceLast(${a.tensor(0)}, ${a.name(1)}, ${a.name(2)})`,
};

/** rt.sliceLast: the last axis of `x` from `begin`, `size` wide. */
export const runtime = (tf: typeof TF) =>
  function sliceLast(x: TF.Tensor, begin: number, size: number): TF.Tensor {
    const b = x.shape.map((_, i) => (i === x.rank - 1 ? begin : 0));
    const s = x.shape.map((d, i) => (i === x.rank - 1 ? size : d!));
    return tf.slice(x, b, s);
  };
