/**
 * One typed AST for both front ends (`.gan` and `.gan.yaml`). Every node has a `kind` and a `span`
 * (byte offsets into the file it came from). Declaration arguments are always bound to names
 * (`dense 1024` becomes `units=1024`), so both forms of a spec give equal trees once spans are removed.
 */
export interface Span {
  readonly start: number;
  readonly end: number;
}

export interface Ident {
  readonly kind: "Ident";
  readonly name: string;
  readonly span: Span;
}

export type Expr = NumberLit | StringLit | NameRef | ListExpr | CallExpr | MemberExpr | UnaryExpr | BinaryExpr;

export interface NumberLit { readonly kind: "Number"; readonly value: number; readonly span: Span }
export interface StringLit { readonly kind: "String"; readonly value: string; readonly span: Span }
export interface NameRef { readonly kind: "Name"; readonly name: string; readonly span: Span }
export interface ListExpr { readonly kind: "List"; readonly items: readonly Expr[]; readonly span: Span }
export interface CallExpr { readonly kind: "Call"; readonly callee: Ident; readonly args: readonly Arg[]; readonly span: Span }
/** `D(x).logit`: a named output ("tap") of a network application, or `real.label`. */
export interface MemberExpr { readonly kind: "Member"; readonly object: Expr; readonly member: Ident; readonly span: Span }
export interface UnaryExpr { readonly kind: "Unary"; readonly op: "-"; readonly operand: Expr; readonly span: Span }
export interface BinaryExpr {
  readonly kind: "Binary";
  readonly op: "+" | "-" | "*" | "/";
  readonly left: Expr;
  readonly right: Expr;
  readonly span: Span;
}

/** A call argument; `name` is null for a positional argument of an expression-level call. */
export interface Arg { readonly kind: "Arg"; readonly name: Ident | null; readonly value: Expr; readonly span: Span }

export interface DataDecl { readonly kind: "Data"; readonly name: Ident; readonly source: Ident; readonly args: readonly Arg[]; readonly span: Span }
export interface NoiseDecl { readonly kind: "Noise"; readonly name: Ident; readonly dist: Ident; readonly args: readonly Arg[]; readonly span: Span }
export interface Layer { readonly kind: "Layer"; readonly op: Ident; readonly args: readonly Arg[]; readonly tap: Ident | null; readonly span: Span }
export interface NetDecl { readonly kind: "Net"; readonly name: Ident; readonly params: readonly Ident[]; readonly layers: readonly Layer[]; readonly span: Span }
/** A parameter of a block; `dflt` is its default value (null: the instance must give it). */
export interface BlockParam { readonly kind: "BlockParam"; readonly name: Ident; readonly dflt: Expr | null; readonly span: Span }
/**
 * `block Up(ch, up=2) { ... }`: a sub-network declared once and instantiated by name inside nets
 * (`Up(128)`); its parameters stand for numbers in its layers' arguments, and `input` names its input.
 */
export interface BlockDecl { readonly kind: "Block"; readonly name: Ident; readonly params: readonly BlockParam[]; readonly layers: readonly Layer[]; readonly span: Span }
export interface ValueDecl { readonly kind: "Value"; readonly name: Ident; readonly expr: Expr; readonly span: Span }
export interface LossDecl { readonly kind: "Loss"; readonly name: Ident; readonly expr: Expr; readonly span: Span }
export interface StateDecl { readonly kind: "State"; readonly name: Ident; readonly init: Expr; readonly span: Span }
export interface OptimizerRef { readonly kind: "Optimizer"; readonly name: Ident; readonly args: readonly Arg[]; readonly span: Span }
export interface StepDecl {
  readonly kind: "Step";
  readonly name: Ident;
  readonly optimizer: OptimizerRef;
  readonly loss: Ident;
  readonly over: readonly Ident[];
  readonly shared: boolean;
  readonly span: Span;
}
/** `after d: k = ...` (assign a state variable) or `after d: clip_weights(D, -0.01, 0.01)`. */
export interface AfterDecl {
  readonly kind: "After";
  readonly step: Ident;
  readonly target: Ident | null;
  readonly expr: Expr;
  readonly span: Span;
}
export interface TrainDecl { readonly kind: "Train"; readonly settings: readonly Arg[]; readonly span: Span }

export type Decl = DataDecl | NoiseDecl | NetDecl | BlockDecl | ValueDecl | LossDecl | StateDecl | StepDecl | AfterDecl | TrainDecl;

export interface Spec {
  readonly kind: "Spec";
  readonly file: string;
  readonly name: string | null;
  readonly decls: readonly Decl[];
  readonly span: Span;
}

export type Node = Spec | Decl | Layer | Arg | Expr | Ident | OptimizerRef | BlockParam;

/** A deep copy of `node` without `span` fields: what "the same spec" means across the two forms. */
export function stripSpans(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(stripSpans);
  if (node && typeof node === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(node)) {
      if (k === "span" || k === "file") continue;
      out[k] = stripSpans(v);
    }
    return out;
  }
  return node;
}
