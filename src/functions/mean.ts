import { unknownRange, type FnDef } from "./function.ts";
import { reduceAll } from "./rules.ts";

export const mean: FnDef<"mean"> = {
  name: "mean",
  params: [{ name: "x", doc: "a tensor" }],
  doc: "mean of all elements",
  type: reduceAll,
  broadcasts: false,
  range: (r) => r[0] ?? unknownRange(),
  emit: (a) => `tf.mean(${a.tensor(0)})`,
};
