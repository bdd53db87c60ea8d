import { type FnDef } from "./function.ts";
import { elementwise } from "./rules.ts";

export const relu: FnDef<"relu"> = {
  name: "relu",
  params: [{ name: "x", doc: "a tensor or a number" }],
  doc: "rectified linear unit max(x, 0)",
  type: elementwise,
  broadcasts: false,
  range: () => ({ low: 0, high: Infinity }),
  emit: (a) => `tf.relu(${a.tensor(0)})`,
};
