import { type FnDef } from "./function.ts";
import { elementwise } from "./rules.ts";

export const square: FnDef<"square"> = {
  name: "square",
  params: [{ name: "x", doc: "a tensor or a number" }],
  doc: "x squared, x^2",
  type: elementwise,
  broadcasts: false,
  range: () => ({ low: 0, high: Infinity }),
  emit: (a) => `tf.square(${a.tensor(0)})`,
};
