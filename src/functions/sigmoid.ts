import { type FnDef } from "./function.ts";
import { elementwise } from "./rules.ts";

export const sigmoid: FnDef<"sigmoid"> = {
  name: "sigmoid",
  params: [{ name: "x", doc: "a tensor or a number" }],
  doc: "logistic sigmoid 1 / (1 + e^-x)",
  type: elementwise,
  broadcasts: false,
  range: () => ({ low: 0, high: 1 }),
  emit: (a) => `tf.sigmoid(${a.tensor(0)})`,
};
