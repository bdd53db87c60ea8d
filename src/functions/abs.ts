import { type FnDef } from "./function.ts";
import { elementwise } from "./rules.ts";

export const abs: FnDef<"abs"> = {
  name: "abs",
  params: [{ name: "x", doc: "a tensor or a number" }],
  doc: "absolute value |x|",
  type: elementwise,
  broadcasts: false,
  range: () => ({ low: 0, high: Infinity }),
  emit: (a) => `tf.abs(${a.tensor(0)})`,
};
