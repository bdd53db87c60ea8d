import { type FnDef } from "./function.ts";
import { elementwise } from "./rules.ts";

export const softplus: FnDef<"softplus"> = {
  name: "softplus",
  params: [{ name: "x", doc: "a tensor or a number" }],
  doc: "softplus log(1 + e^x)",
  type: elementwise,
  broadcasts: false,
  range: () => ({ low: 0, high: Infinity }),
  emit: (a) => `tf.softplus(${a.tensor(0)})`,
};
