import { type FnDef } from "./function.ts";
import { elementwise } from "./rules.ts";

export const tanh: FnDef<"tanh"> = {
  name: "tanh",
  params: [{ name: "x", doc: "a tensor or a number" }],
  doc: "hyperbolic tangent tanh(x)",
  type: elementwise,
  broadcasts: false,
  range: () => ({ low: -1, high: 1 }),
  emit: (a) => `tf.tanh(${a.tensor(0)})`,
};
