import type * as TF from "@tensorflow/tfjs";
import type * as Engine from "../runtime/fused/engine.ts";
import { unknownRange, type FnDef } from "./function.ts";
import { pairMean } from "./rules.ts";
import { notAKink } from "../runtime/kink-record.ts";

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
    // max(l, 0)'s kink cancels |l|'s: the first-iteration trace does not count it as a kink (kink-record.ts).
    const positive = notAKink(() => tf.relu(logits));
    return tf.mean(tf.add(tf.sub(positive, tf.mul(logits, targets)), tf.log1p(tf.exp(tf.neg(tf.abs(logits))))));
  };

/**
 * rt.fused.bceLogits, against a constant target t: mean(max(l,0) - l*t + log(1 + exp(-|l|))) as one op.
 * The tape's gradient, with g = dy / n and s = step(l, -1) (the gradient of |l|):
 *   dl = ((-(g / (e + 1)) * e) * s + (-g) * t) + g * step(l),  e = exp(-|l|)
 * computed as g*step(l) - ((g / (e + 1) * e) * s + g*t), the same numbers.
 */
export const fused = ({ constant, customOp, kernel, view, below }: typeof Engine) =>
  function bceLogits(logits: TF.Tensor, target: number, arena: Engine.Arena): TF.Scalar {
    // The kernels run below the engine where the backend allows (the same kernels: runtime/fused/below.ts).
    const onBelow = below() !== null;
    const ops = () => {
      const b = onBelow ? below()! : null;
      if (b === null) return { k: kernel, hold: <T extends TF.Tensor>(t: T) => arena.keep(t), out: (t: TF.Tensor) => t };
      return {
        k: (name: string, inputs: Record<string, TF.Tensor | null | undefined>, attrs: Record<string, unknown> = {}) => b.run(name, inputs, attrs) as unknown as TF.Tensor,
        hold: <T extends TF.Tensor>(t: T) => {
          b.hold(t, arena);
          return t;
        },
        out: (t: TF.Tensor) => {
          const o = b.expose(t);
          b.release();
          return o;
        },
      };
    };
    const n = logits.size;
    const l = arena.keep(view(logits, logits.shape));
    let e: TF.Tensor | null = null;
    return customOp(
      "bce_logits",
      [logits],
      () => {
        const { k, hold, out } = ops();
        const mul = (a: TF.Tensor, b: TF.Tensor) => k("Multiply", { a, b });
        const relu = k("Relu", { x: l });
        const linear = target === 0 ? relu : k("Sub", { a: relu, b: target === 1 ? l : mul(l, constant(target)) });
        e = hold(k("Exp", { x: k("Neg", { x: k("Abs", { x: l }) }) }));
        return [out(k("Mean", { x: k("Add", { a: linear, b: k("Log1p", { x: e }) }) }, { axis: l.shape.map((_, i) => i), keepDims: false }))];
      },
      ([dy]) => {
        const { k, out } = ops();
        const mul = (a: TF.Tensor, b: TF.Tensor) => k("Multiply", { a, b });
        const g = k("RealDiv", { a: dy!, b: constant(n) });
        const dExp = mul(k("RealDiv", { a: g, b: k("Add", { a: e!, b: constant(1) }) }), e!);
        const dAbs = mul(dExp, k("Step", { x: l }, { alpha: -1 })); // the abs path's gradient is -dAbs
        const fromTarget = target === 0 ? null : target === 1 ? g : mul(g, constant(target)); // minus the l*t path's
        const negated = fromTarget === null ? dAbs : k("Add", { a: dAbs, b: fromTarget });
        return [out(k("Sub", { a: mul(g, k("Step", { x: l }, { alpha: 0 })), b: negated }))];
      },
    )[0] as TF.Scalar;
  };
