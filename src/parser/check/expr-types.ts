/**
 * Types of expressions: per-sample shape (or a scalar), kind (net result, tap, tensor, number) and value
 * range where it is known, plus the one broadcasting rule every operator and pairwise function obeys.
 *
 * New diagnostic codes (to be moved into the diagnostics catalog):
 *
 * | code  | title                       | explanation                                                                                  |
 * |-------|-----------------------------|----------------------------------------------------------------------------------------------|
 * | E0510 | shapes do not broadcast     | two operands are neither equal in shape nor a scalar / per-sample `[1]` against anything     |
 * | E0511 | step trains nothing         | the nets a step trains have no trainable variables, so the step has nothing to update        |
 * | E0512 | net output unlike the data  | a net's output is fed where data-shaped input is expected; reported at the net's last layer  |
 * | W0510 | generator range vs data     | the generator's last activation (tanh/sigmoid) does not produce the data's value range       |
 *
 * Checked in: E0510 by the broadcasting rule of src/functions/rules.ts (index.ts applies it to operators,
 * and the pairwise functions' typing rules in src/functions/ to their arguments), E0511 in step-vars.ts, E0512 in index.ts's apply with the fix from net-output.ts, W0510 in
 * range-lint.ts. E0126 (existing) now says "unknown net or function" and lists the nets. The range starts
 * at E0510 because E0501 is already taken ("uniform needs low < high", "number out of range").
 *
 * The broadcasting rule (README, "Expressions"): two operands combine when their per-sample shapes are
 * equal, or when one of them is a scalar (a number, a state variable, a reduction such as mean(x)), or a
 * per-sample `[1]` value (a `[1]` noise, a `dense 1` output; also `[1, 1, 1]`) against any batched value
 * with at least as many per-sample dimensions; the result has the other operand's shape. Nothing else broadcasts: `[batch, 1] + [batch]` would silently build a
 * batch-by-batch matrix, and is an error.
 */
import type { Range } from "../../functions/rules.ts";
import type { DataIR, ExprNode, NetIR, ProgramIR, TensorType } from "../../ir/types.ts";
import { isScalar } from "../../functions/rules.ts";
import { layerModule } from "../../layers/index.ts";

// The broadcasting rule and the type helpers live with the functions that obey it.
export { alignment, broadcast, isPerSampleOne, isScalar, SCALAR, show, type Range } from "../../functions/rules.ts";

/** What a value is: a net application (read as its output `out`), a tap, another tensor, or a number. */
export type ValueKind = "net" | "tap" | "tensor" | "number";

export interface ExprType {
  readonly type: TensorType;
  readonly kind: ValueKind;
  readonly range: Range | null;
}

/** Value range of a net's output at layer `index` (its last layer when omitted), from the activation there. */
export function netRange(net: NetIR, index = net.layers.length - 1): Range | null {
  // Each layer module says what range it confines its output to; "through" layers keep the one before.
  for (let i = index; i >= 0; i--) {
    const r = layerModule(net.layers[i]!.layer.op).range;
    if (r !== "through") return r ? { low: r[0], high: r[1] } : null;
  }
  return null;
}

/** The range of the data source's samples. */
export function dataRange(p: { readonly data: DataIR }): Range | null {
  return p.data.range ? { low: p.data.range[0], high: p.data.range[1] } : null;
}

/** The full type of a node of a checked program: its type and range as the checker stored them, and its kind. */
export function typeOf(_p: ProgramIR, n: ExprNode): ExprType {
  const kind: ValueKind = n.op === "apply" ? "net" : n.op === "tap" ? "tap" : n.op === "const" || (n.op !== "data" && n.op !== "label" && n.op !== "noise" && isScalar(n.type)) ? "number" : "tensor";
  return { type: n.type, kind, range: n.range };
}
