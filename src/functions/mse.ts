import type * as TF from "@tensorflow/tfjs";
import type * as Engine from "../runtime/fused/engine.ts";
import { type FnDef } from "./function.ts";
import { pairMean } from "./rules.ts";

export const mse: FnDef<"mse"> = {
  name: "mse",
  params: [
    { name: "a", doc: "a tensor" },
    { name: "b", doc: "what it is compared with: a number or a tensor that broadcasts" },
  ],
  doc: "mean squared difference",
  type: pairMean,
  broadcasts: true,
  range: () => ({ low: 0, high: Infinity }),
  emit: (a) => `rt.mse(${a.operand(0, true)}, ${a.operand(1, false)})`,
  fused: { emit: (a, target) => `rt.fused.mse(${a.tensor(0)}, ${target}, arena)` },
};

/** rt.mse: mean((a - b)^2). */
export const runtime = (tf: typeof TF) =>
  function mse(a: TF.Tensor, b: TF.Tensor | number): TF.Scalar {
    return tf.mean(tf.square(tf.sub(a, b)));
  };

/** rt.fused.mse, against a constant target: mean((a - t)^2) as one op; d/da = (dy/n) * ((a - t) * 2). */
export const fused = ({ constant, customOp, kernel, view }: typeof Engine) =>
  function mse(a: TF.Tensor, target: number, arena: Engine.Arena): TF.Scalar {
    const mul = (x: TF.Tensor, y: TF.Tensor) => kernel("Multiply", { a: x, b: y });
    const n = a.size;
    const x = arena.keep(view(a, a.shape));
    let d: TF.Tensor | null = null;
    return customOp(
      "mse",
      [a],
      () => {
        d = target === 0 ? x : arena.keep(kernel("Sub", { a: x, b: constant(target) }));
        return [kernel("Mean", { x: kernel("Square", { x: d }) }, { axis: x.shape.map((_, i) => i), keepDims: false })];
      },
      ([dy]) => [mul(d!, mul(kernel("RealDiv", { a: dy!, b: constant(n) }), constant(2)))],
    )[0] as TF.Scalar;
  };
