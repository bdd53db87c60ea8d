import type { TensorType } from "../ir/types.ts";
import type { EmitArgs } from "./function.ts";
import { broadcast, type Range } from "./rules.ts";

/** A binary operator of the expression language: typing rule, value range and tfjs code. */
export interface OperatorDef {
  readonly symbol: "+" | "-" | "*" | "/";
  readonly doc: string;
  /** The broadcasting rule of rules.ts: equal shapes, or a scalar or per-sample [1] value against anything. */
  readonly type: (a: TensorType, b: TensorType) => TensorType | string;
  readonly range: (a: Range | null, b: Range | null) => Range | null;
  /** The left operand is a tensor; the right one stays a number where it is one (tfjs takes both). */
  readonly emit: (a: EmitArgs) => string;
}

const interval = (f: (x: number, y: number) => number) => (a: Range | null, b: Range | null): Range | null => {
  if (!a || !b) return null;
  const v = [f(a.low, b.low), f(a.low, b.high), f(a.high, b.low), f(a.high, b.high)];
  return v.some(Number.isNaN) ? null : { low: Math.min(...v), high: Math.max(...v) };
};

const binary = (symbol: OperatorDef["symbol"], tfOp: string, doc: string, range: OperatorDef["range"]): OperatorDef => ({
  symbol,
  doc,
  type: broadcast,
  range,
  emit: (a) => `${tfOp}(${a.operand(0, true)}, ${a.operand(1, false)})`,
});

export const OPERATORS: { readonly [S in OperatorDef["symbol"]]: OperatorDef } = {
  "+": binary("+", "tf.add", "sum", interval((x, y) => x + y)),
  "-": binary("-", "tf.sub", "difference", interval((x, y) => x - y)),
  "*": binary("*", "tf.mul", "product", interval((x, y) => x * y)),
  // a divisor whose range holds 0 has no range of quotients
  "/": binary("/", "tf.div", "quotient", (a, b) => (b && b.low <= 0 && b.high >= 0 ? null : interval((x, y) => x / y)(a, b))),
};

/** Unary minus: the operand's type, its range mirrored. */
export const NEGATE = {
  doc: "negation",
  type: (a: TensorType): TensorType => a,
  range: (a: Range | null): Range | null => (a ? { low: -a.high, high: -a.low } : null),
  emit: (a: EmitArgs) => `tf.neg(${a.tensor(0)})`,
};
