import { type FnDef } from "./function.ts";
import { elementwise } from "./rules.ts";

export const exp: FnDef<"exp"> = {
  name: "exp",
  params: [{ name: "x", doc: "a tensor or a number" }],
  doc: "exponential e^x",
  type: elementwise,
  broadcasts: false,
  range: () => ({ low: 0, high: Infinity }),
  emit: (a) => `tf.exp(${a.tensor(0)})`,
};
