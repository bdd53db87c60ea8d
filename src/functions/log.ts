import { unknownRange, type FnDef } from "./function.ts";
import { elementwise } from "./rules.ts";

export const log: FnDef<"log"> = {
  name: "log",
  params: [{ name: "x", doc: "a tensor or a number" }],
  doc: "natural logarithm",
  type: elementwise,
  broadcasts: false,
  range: unknownRange,
  emit: (a) => `tf.log(${a.tensor(0)})`,
};
