import type * as TF from "@tensorflow/tfjs";
import type * as Engine from "../runtime/fused/engine.ts";
import { unknownRange, type FnDef } from "./function.ts";
import { pairMean } from "./rules.ts";

export const bceLogits: FnDef<"bce_logits"> = {
  name: "bce_logits",
  params: [
    { name: "logits", doc: "the discriminator's logits (before any sigmoid)" },
    { name: "targets", doc: "the targets in [0, 1]: ones, zeros, a number, or a tensor that broadcasts" },
  ],
  doc: "mean sigmoid cross-entropy of logits against targets, in the stable form max(l,0) - l*t + log(1+exp(-|l|))",
  type: pairMean,
  broadcasts: true,
  range: unknownRange,
  applies: "sigmoid",
  emit: (a) => `rt.bceLogits(${a.operand(0, true)}, ${a.operand(1, false)})`,
  fused: { emit: (a, target) => `rt.fused.bceLogits(${a.tensor(0)}, ${target}, arena)` },
};

/** rt.bceLogits: mean sigmoid cross-entropy on logits, in the stable form max(l,0) - l*t + log(1 + exp(-|l|)). */
export const runtime = (tf: typeof TF) =>
  function bceLogits(logits: TF.Tensor, targets: TF.Tensor | number): TF.Scalar {
    return tf.mean(tf.add(tf.sub(tf.relu(logits), tf.mul(logits, targets)), tf.log1p(tf.exp(tf.neg(tf.abs(logits))))));
  };

/**
 * rt.fused.bceLogits, against a constant target t: mean(max(l,0) - l*t + log(1 + exp(-|l|))) as one op.
 * The tape's gradient, with g = dy / n and s = step(l, -1) (the gradient of |l|):
 *   dl = ((-(g / (e + 1)) * e) * s + (-g) * t) + g * step(l),  e = exp(-|l|)
 * computed as g*step(l) - ((g / (e + 1) * e) * s + g*t), the same numbers.
 */
export const fused = ({ constant, customOp, kernel, view }: typeof Engine) =>
  function bceLogits(logits: TF.Tensor, target: number, arena: Engine.Arena): TF.Scalar {
    const mul = (a: TF.Tensor, b: TF.Tensor) => kernel("Multiply", { a, b });
    const n = logits.size;
    const l = arena.keep(view(logits, logits.shape));
    let e: TF.Tensor | null = null;
    return customOp(
      "bce_logits",
      [logits],
      () => {
        const relu = kernel("Relu", { x: l });
        const linear = target === 0 ? relu : kernel("Sub", { a: relu, b: target === 1 ? l : mul(l, constant(target)) });
        e = arena.keep(kernel("Exp", { x: kernel("Neg", { x: kernel("Abs", { x: l }) }) }));
        return [kernel("Mean", { x: kernel("Add", { a: linear, b: kernel("Log1p", { x: e }) }) }, { axis: l.shape.map((_, i) => i), keepDims: false })];
      },
      ([dy]) => {
        const g = kernel("RealDiv", { a: dy!, b: constant(n) });
        const dExp = mul(kernel("RealDiv", { a: g, b: kernel("Add", { a: e!, b: constant(1) }) }), e!);
        const dAbs = mul(dExp, kernel("Step", { x: l }, { alpha: -1 })); // the abs path's gradient is -dAbs
        const fromTarget = target === 0 ? null : target === 1 ? g : mul(g, constant(target)); // minus the l*t path's
        const negated = fromTarget === null ? dAbs : kernel("Add", { a: dAbs, b: fromTarget });
        return [kernel("Sub", { a: mul(g, kernel("Step", { x: l }, { alpha: 0 })), b: negated })];
      },
    )[0] as TF.Scalar;
  };
