import type { Activation } from "../runtime/fused/net.ts";
import type { FusedForm, FusedOp } from "./layer.ts";

/*
 * What the activation layers (relu.ts, leakyrelu.ts, sigmoid.ts, tanh.ts, softmax.ts) share: in a fused
 * network each is one op, `act`, that runs the activation its module defines.
 */

export interface ActFused {
  op: "act";
  act: Activation;
}

const ACT_OP: FusedOp<ActFused> = {
  op: "act",
  forward(l, { x, keep, needDx, activation, activationGrad }) {
    const y = activation(l.act, x);
    keep(y);
    return { y, backward: (dy) => (needDx ? activationGrad(l.act, dy, y) : null) };
  },
};

/** The fused form of an activation layer whose runtime activation object is written by `code`. */
export function fusedActivation<L>(code: (l: L) => string): FusedForm<L, ActFused> {
  return { code: (l) => `{ op: "act", act: ${code(l)} }`, runtime: ACT_OP };
}

/** The `activation` attributes of a fused kernel for an activation without parameters. */
export const plainAttrs = (kind: string) => ({ activation: kind, leakyreluAlpha: 0.2 });
