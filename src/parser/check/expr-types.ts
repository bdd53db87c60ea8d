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
 * Checked in: E0510 here (broadcast, used by index.ts for operators and functions.ts for pairwise
 * functions), E0511 in step-vars.ts, E0512 in index.ts's apply with the fix from net-output.ts, W0510 in
 * range-lint.ts. E0126 (existing) now says "unknown net or function" and lists the nets. The range starts
 * at E0510 because E0501 is already taken ("uniform needs low < high", "number out of range").
 *
 * The broadcasting rule (README, "Expressions"): two operands combine when their per-sample shapes are
 * equal, or when one of them is a scalar (a number, a state variable, a reduction such as mean(x)), or a
 * per-sample `[1]` value (a `[1]` noise, a `dense 1` output; also `[1, 1, 1]`) against any batched value
 * with at least as many per-sample dimensions; the result has the other operand's shape. Nothing else broadcasts: `[batch, 1] + [batch]` would silently build a
 * batch-by-batch matrix, and is an error.
 */
import type { ExprNode, NetIR, ProgramIR, TensorType } from "./ir.ts";

/** What a value is: a net application (read as its output `out`), a tap, another tensor, or a number. */
export type ValueKind = "net" | "tap" | "tensor" | "number";

/** A closed value range, where the checker knows it. */
export interface Range {
  readonly low: number;
  readonly high: number;
}

export interface ExprType {
  readonly type: TensorType;
  readonly kind: ValueKind;
  readonly range: Range | null;
}

export const SCALAR: TensorType = { batched: false, shape: [] };

export function isScalar(t: TensorType): boolean {
  return !t.batched && t.shape.length === 0;
}

/**
 * A per-sample scalar written as `[1]` (or `[1, 1, 1]`): broadcasts over any batched value with at least as
 * many per-sample dimensions (the generated code reshapes it to [batch, 1, ..., 1]).
 */
export function isPerSampleOne(t: TensorType): boolean {
  return t.batched && t.shape.length >= 1 && t.shape.every((d) => d === 1);
}

export function show(t: TensorType): string {
  if (isScalar(t)) return "a scalar";
  return `[${t.batched ? ["batch", ...t.shape] : t.shape}]`.replace(/,/g, ", ");
}

const same = (a: TensorType, b: TensorType) => a.batched === b.batched && a.shape.length === b.shape.length && a.shape.every((x, i) => x === b.shape[i]);

/**
 * The broadcasting rule. Returns the result type, or a message naming both shapes and saying how to
 * write what was probably meant.
 */
export function broadcast(a: TensorType, b: TensorType): TensorType | string {
  if (isScalar(a)) return b;
  if (isScalar(b)) return a;
  if (same(a, b)) return a;
  if (a.batched && b.batched) {
    if (isPerSampleOne(a) && a.shape.length <= b.shape.length) return b;
    if (isPerSampleOne(b) && b.shape.length <= a.shape.length) return a;
  }
  return `shapes ${show(a)} and ${show(b)} do not broadcast${hint(a, b)}`;
}

function hint(a: TensorType, b: TensorType): string {
  const perSample = (t: TensorType) => t.batched && t.shape.length === 0;
  if ((perSample(a) && b.batched) || (perSample(b) && a.batched)) {
    const other = perSample(a) ? b : a;
    return `, and would make a batch-by-batch matrix: reduce the ${show(other)} side to one value per sample with sample_mean(...), so that both are [batch]`;
  }
  if (!a.batched || !b.batched) return "; only a scalar combines with a value of another shape: reduce it with mean(...) or sum(...)";
  return "; only equal shapes, a scalar, or a per-sample [1] value combine: reshape or slice one side inside a net, or reduce it with sample_mean(...)";
}

/** Value range of a net's output at layer `index` (its last layer when omitted), from the activation there. */
export function netRange(net: NetIR, index = net.layers.length - 1): Range | null {
  const l = net.layers[index];
  if (!l) return null;
  switch (l.layer.op) {
    case "sigmoid":
    case "softmax":
      return { low: 0, high: 1 };
    case "tanh":
      return { low: -1, high: 1 };
    default:
      return null;
  }
}

/** The range of the data source's samples. */
export function dataRange(p: ProgramIR): Range | null {
  return p.data.range ? { low: p.data.range[0], high: p.data.range[1] } : null;
}

/** The full type of a node of a checked program. */
export function typeOf(p: ProgramIR, n: ExprNode): ExprType {
  const net = (name: string) => p.nets.find((x) => x.name === name)!;
  switch (n.op) {
    case "apply":
      return { type: n.type, kind: "net", range: netRange(net(n.net)) };
    case "tap": {
      const app = p.nodes[n.of] as ExprNode & { op: "apply" };
      const ir = net(app.net);
      return { type: n.type, kind: "tap", range: netRange(ir, ir.taps[n.tap]) };
    }
    case "data":
      return { type: n.type, kind: "tensor", range: dataRange(p) };
    case "label":
      return { type: n.type, kind: "tensor", range: { low: 0, high: 1 } };
    case "noise": {
      const z = p.noise.find((x) => x.name === n.noise);
      const range = z?.dist === "uniform" ? { low: z.a, high: z.b } : z?.dist === "categorical" ? { low: 0, high: 1 } : null;
      return { type: n.type, kind: "tensor", range };
    }
    case "const":
      return { type: n.type, kind: "number", range: { low: n.value, high: n.value } };
    case "call": {
      const r = n.fn === "sigmoid" ? { low: 0, high: 1 } : n.fn === "tanh" ? { low: -1, high: 1 } : null;
      return { type: n.type, kind: isScalar(n.type) ? "number" : "tensor", range: r };
    }
    default:
      return { type: n.type, kind: isScalar(n.type) ? "number" : "tensor", range: null };
  }
}
