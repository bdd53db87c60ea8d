import { type FnDef } from "./function.ts";
import { elementwise } from "./rules.ts";

export const sqrt: FnDef<"sqrt"> = {
  name: "sqrt",
  params: [{ name: "x", doc: "a tensor or a number" }],
  doc: "square root",
  type: elementwise,
  broadcasts: false,
  range: () => ({ low: 0, high: Infinity }),
  emit: (a) => `tf.sqrt(${a.tensor(0)})`,
};
