import { unknownRange, type FnDef } from "./function.ts";
import { reduceAll } from "./rules.ts";

export const sum: FnDef<"sum"> = {
  name: "sum",
  params: [{ name: "x", doc: "a tensor" }],
  doc: "sum of all elements",
  type: reduceAll,
  broadcasts: false,
  range: unknownRange,
  emit: (a) => `tf.sum(${a.tensor(0)})`,
};
