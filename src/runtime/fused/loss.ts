import * as tf from "@tensorflow/tfjs";
import { Arena, constant, customOp, kernel, view } from "./engine.ts";

/*
 * Losses against a constant target as one op each (pass loss-forms). Forward: rt's formula, with the
 * kernels that a constant target makes exact no-ops left out (x * 1 = x; x - 0 = x; x - x * 0 = x).
 * Backward: what tfjs's tape computes through that formula, float32 operation for float32 operation and
 * in its order of accumulation, in 3-10 kernels instead of ~25 (no copies, reshapes, same-type casts or
 * all-ones tensors). The only rewrites are IEEE identities: -(a*b) = (-a)*b, a + -b = a - b, -a + b =
 * b - a, and doubling is exact, so a*(b*2) = (a*2)*b. So losses and gradients are the layer-by-layer
 * trainer's bit for bit.
 *
 * What a backward pass reads is kept (as views, in `arena`) past the forward pass that made it.
 */

const mul = (a: tf.Tensor, b: tf.Tensor) => kernel("Multiply", { a, b });
const allAxes = (t: tf.Tensor) => ({ axis: t.shape.map((_, i) => i), keepDims: false });

/**
 * Mean sigmoid cross-entropy of logits l against a constant target t: mean(max(l,0) - l*t + log(1 + exp(-|l|))).
 * The tape's gradient, with g = dy / n and s = step(l, -1) (the gradient of |l|):
 *   dl = ((-(g / (e + 1)) * e) * s + (-g) * t) + g * step(l),  e = exp(-|l|)
 * computed as g*step(l) - ((g / (e + 1) * e) * s + g*t), the same numbers.
 */
export function bceLogits(logits: tf.Tensor, target: number, arena: Arena): tf.Scalar {
  const n = logits.size;
  const l = arena.keep(view(logits, logits.shape));
  let e: tf.Tensor | null = null;
  return customOp(
    "bce_logits",
    [logits],
    () => {
      const relu = kernel("Relu", { x: l });
      const linear = target === 0 ? relu : kernel("Sub", { a: relu, b: target === 1 ? l : mul(l, constant(target)) });
      e = arena.keep(kernel("Exp", { x: kernel("Neg", { x: kernel("Abs", { x: l }) }) }));
      return [kernel("Mean", { x: kernel("Add", { a: linear, b: kernel("Log1p", { x: e }) }) }, allAxes(l))];
    },
    ([dy]) => {
      const g = kernel("RealDiv", { a: dy!, b: constant(n) });
      const dExp = mul(kernel("RealDiv", { a: g, b: kernel("Add", { a: e!, b: constant(1) }) }), e!);
      const dAbs = mul(dExp, kernel("Step", { x: l }, { alpha: -1 })); // the abs path's gradient is -dAbs
      const fromTarget = target === 0 ? null : target === 1 ? g : mul(g, constant(target)); // minus the l*t path's
      const negated = fromTarget === null ? dAbs : kernel("Add", { a: dAbs, b: fromTarget });
      return [kernel("Sub", { a: mul(g, kernel("Step", { x: l }, { alpha: 0 })), b: negated })];
    },
  )[0] as tf.Scalar;
}

/** Mean squared error against a constant target: mean((a - t)^2); d/da = (dy/n) * ((a - t) * 2). */
export function mse(a: tf.Tensor, target: number, arena: Arena): tf.Scalar {
  const n = a.size;
  const x = arena.keep(view(a, a.shape));
  let d: tf.Tensor | null = null;
  return customOp(
    "mse",
    [a],
    () => {
      d = target === 0 ? x : arena.keep(kernel("Sub", { a: x, b: constant(target) }));
      return [kernel("Mean", { x: kernel("Square", { x: d }) }, allAxes(x))];
    },
    ([dy]) => [mul(d!, mul(kernel("RealDiv", { a: dy!, b: constant(n) }), constant(2)))],
  )[0] as tf.Scalar;
}

/** Mean absolute error against a constant target: mean(|a - t|); d/da = (dy/n) * step(a - t, -1). */
export function l1(a: tf.Tensor, target: number, arena: Arena): tf.Scalar {
  const n = a.size;
  const x = arena.keep(view(a, a.shape));
  let d: tf.Tensor | null = null;
  return customOp(
    "l1",
    [a],
    () => {
      d = target === 0 ? x : arena.keep(kernel("Sub", { a: x, b: constant(target) }));
      return [kernel("Mean", { x: kernel("Abs", { x: d }) }, allAxes(x))];
    },
    ([dy]) => [mul(kernel("RealDiv", { a: dy!, b: constant(n) }), kernel("Step", { x: d! }, { alpha: -1 }))],
  )[0] as tf.Scalar;
}
