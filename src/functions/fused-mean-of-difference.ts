import type * as TF from "@tensorflow/tfjs";
import type * as Engine from "../runtime/fused/engine.ts";

/**
 * The fused form shared by the pairwise means against a constant target (mse, l1): mean(f(a - t)) as one
 * op. `forward` is f's kernel; `backward` gets dy/n and a - t and returns d/da. The kernels run in the
 * order the two losses always used, so their results stay bit for bit.
 */
export function meanOfDifference(
  { constant, customOp, kernel, view }: typeof Engine,
  name: string,
  forward: string,
  backward: (scale: TF.Tensor, d: TF.Tensor) => TF.Tensor,
) {
  return function (a: TF.Tensor, target: number, arena: Engine.Arena): TF.Scalar {
    const n = a.size;
    const x = arena.keep(view(a, a.shape));
    let d: TF.Tensor | null = null;
    return customOp(
      name,
      [a],
      () => {
        d = target === 0 ? x : arena.keep(kernel("Sub", { a: x, b: constant(target) }));
        return [kernel("Mean", { x: kernel(forward, { x: d }) }, { axis: x.shape.map((_, i) => i), keepDims: false })];
      },
      ([dy]) => [backward(kernel("RealDiv", { a: dy!, b: constant(n) }), d!)],
    )[0] as TF.Scalar;
  };
}
