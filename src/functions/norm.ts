import { type FnDef } from "./function.ts";
import { reduceAll } from "./rules.ts";

export const norm: FnDef<"norm"> = {
  name: "norm",
  params: [{ name: "x", doc: "a tensor" }],
  doc: "L2 norm of all elements",
  type: reduceAll,
  broadcasts: false,
  range: () => ({ low: 0, high: Infinity }),
  emit: (a) => `tf.norm(${a.tensor(0)})`,
};
