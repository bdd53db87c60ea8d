import type { CstNode, IToken } from "chevrotain";
import type * as A from "../ast.ts";
import { bindArgs } from "../bind.ts";
import { DATA_SOURCES, LAYERS, NOISE_DISTS, OPTIMIZERS, canonicalLayer } from "../signatures.ts";

type Children = Record<string, (CstNode | IToken)[] | undefined>;

/** Builds the AST from a CST that parsed without errors. `base` shifts every span (expressions in YAML strings). */
export class AstBuilder {
  constructor(private readonly base = 0) {}

  private span(start: number, end: number): A.Span {
    return { start: start + this.base, end: end + this.base };
  }
  private tokSpan(t: IToken): A.Span {
    return this.span(t.startOffset, (t.endOffset ?? t.startOffset) + 1);
  }
  private nodeSpan(n: CstNode): A.Span {
    const loc = n.location!;
    return this.span(loc.startOffset, (loc.endOffset ?? loc.startOffset) + 1);
  }
  private ident(t: IToken): A.Ident {
    return { kind: "Ident", name: t.image, span: this.tokSpan(t) };
  }
  private tok(c: Children, key: string, i = 0): IToken {
    return c[key]![i] as IToken;
  }
  private toks(c: Children, key: string): IToken[] {
    return (c[key] ?? []) as IToken[];
  }
  private node(c: Children, key: string, i = 0): CstNode {
    return c[key]![i] as CstNode;
  }
  private nodes(c: Children, key: string): CstNode[] {
    return (c[key] ?? []) as CstNode[];
  }

  spec(n: CstNode, file: string): A.Spec {
    const c = n.children as Children;
    const name = c.StringLiteral ? unquote(this.tok(c, "StringLiteral").image) : null;
    const decls = this.nodes(c, "decl").map((d) => this.decl(d));
    return { kind: "Spec", file, name, decls, span: this.span(0, n.location?.endOffset !== undefined ? n.location.endOffset + 1 : 0) };
  }

  decl(n: CstNode): A.Decl {
    const [key, inner] = Object.entries(n.children)[0]! as [string, CstNode[]];
    const d = inner[0]!;
    const c = d.children as Children;
    const span = this.nodeSpan(d);
    const name = () => this.ident(this.tok(c, "name"));
    switch (key) {
      case "dataDecl": {
        const source = this.ident(this.tok(c, "source"));
        return { kind: "Data", name: name(), source, args: bindArgs(DATA_SOURCES[source.name], this.parenArgs(c)), span };
      }
      case "noiseDecl": {
        const dist = this.ident(this.tok(c, "dist"));
        return { kind: "Noise", name: name(), dist, args: bindArgs(NOISE_DISTS[dist.name], this.parenArgs(c)), span };
      }
      case "netDecl":
        return {
          kind: "Net",
          name: name(),
          params: this.toks(c, "params").map((t) => this.ident(t)),
          layers: this.nodes(c, "layer").map((l) => this.layer(l)),
          span,
        };
      case "blockDecl":
        return {
          kind: "Block",
          name: name(),
          params: this.nodes(c, "blockParam").map((bp) => {
            const pc = bp.children as Children;
            const pname = this.ident(this.tok(pc, "name"));
            const dflt = pc.expr ? this.expr(this.node(pc, "expr")) : null;
            return { kind: "BlockParam", name: pname, dflt, span: dflt ? { start: pname.span.start, end: dflt.span.end } : pname.span };
          }),
          layers: this.nodes(c, "layer").map((l) => this.layer(l)),
          span,
        };
      case "valueDecl":
        return { kind: "Value", name: name(), expr: this.expr(this.node(c, "expr")), span };
      case "lossDecl":
        return { kind: "Loss", name: name(), expr: this.expr(this.node(c, "expr")), span };
      case "stateDecl":
        return { kind: "State", name: name(), init: this.expr(this.node(c, "expr")), span };
      case "stepDecl": {
        const opt = this.tok(c, "optimizer");
        const pa = c.parenArgs ? this.node(c, "parenArgs") : null;
        const optName = this.ident(opt);
        const optimizer: A.OptimizerRef = {
          kind: "Optimizer",
          name: optName,
          args: bindArgs(OPTIMIZERS[optName.name], this.parenArgs(c)),
          span: pa ? this.span(opt.startOffset, pa.location!.endOffset! + 1) : this.tokSpan(opt),
        };
        return {
          kind: "Step",
          name: name(),
          optimizer,
          loss: this.ident(this.tok(c, "loss")),
          over: this.toks(c, "over").map((t) => this.ident(t)),
          shared: !!c.Shared,
          span,
        };
      }
      case "afterDecl":
        return {
          kind: "After",
          step: this.ident(this.tok(c, "step")),
          target: c.target ? this.ident(this.tok(c, "target")) : null,
          expr: this.expr(this.node(c, "expr")),
          span,
        };
      case "trainDecl":
        return { kind: "Train", settings: this.nodes(c, "namedArg").map((a) => this.namedArg(a)), span };
      default:
        throw new Error(`unknown declaration ${key}`);
    }
  }

  layer(n: CstNode): A.Layer {
    const c = n.children as Children;
    const op = this.ident(this.tok(c, "op"));
    const raw = c.parenArgs ? this.parenArgs(c) : this.nodes(c, "bareArg").map((a) => this.arg(a));
    const tapTok = c.tap ? this.tok(c, "tap") : null;
    const start = op.span.start - this.base;
    const lastArg = raw.length ? raw[raw.length - 1]!.span.end - this.base : op.span.end - this.base;
    const parenEnd = c.parenArgs ? this.node(c, "parenArgs").location!.endOffset! + 1 : lastArg;
    return {
      kind: "Layer",
      op,
      args: bindArgs(LAYERS[canonicalLayer(op.name)], raw),
      tap: tapTok ? this.ident(tapTok) : null,
      span: this.span(start, Math.max(lastArg, parenEnd)),
    };
  }

  parenArgs(c: Children): A.Arg[] {
    if (!c.parenArgs) return [];
    const pc = this.node(c, "parenArgs").children as Children;
    return this.nodes(pc, "arg").map((a) => this.arg(a));
  }

  arg(n: CstNode): A.Arg {
    const c = n.children as Children;
    const value = this.expr(this.node(c, "expr"));
    const name = c.name ? this.ident(this.tok(c, "name")) : null;
    return { kind: "Arg", name, value, span: name ? { start: name.span.start, end: value.span.end } : value.span };
  }

  namedArg(n: CstNode): A.Arg {
    return this.arg(n);
  }

  expr(n: CstNode): A.Expr {
    const c = n.children as Children;
    return this.leftAssoc(this.nodes(c, "operands"), this.toks(c, "ops"), (x) => this.term(x));
  }

  private term(n: CstNode): A.Expr {
    const c = n.children as Children;
    return this.leftAssoc(this.nodes(c, "operands"), this.toks(c, "ops"), (x) => this.unary(x));
  }

  private leftAssoc(operands: CstNode[], ops: IToken[], sub: (n: CstNode) => A.Expr): A.Expr {
    let acc = sub(operands[0]!);
    for (let i = 0; i < ops.length; i++) {
      const right = sub(operands[i + 1]!);
      acc = { kind: "Binary", op: ops[i]!.image as A.BinaryExpr["op"], left: acc, right, span: { start: acc.span.start, end: right.span.end } };
    }
    return acc;
  }

  private unary(n: CstNode): A.Expr {
    const c = n.children as Children;
    if (c.Minus) {
      const operand = this.unary(this.node(c, "unary"));
      const minus = this.tok(c, "Minus");
      // Fold `-3` into a literal so that `-1` in .gan and `-1` in YAML are the same node.
      if (operand.kind === "Number") {
        return { kind: "Number", value: -operand.value, span: { start: this.tokSpan(minus).start, end: operand.span.end } };
      }
      return { kind: "Unary", op: "-", operand, span: { start: this.tokSpan(minus).start, end: operand.span.end } };
    }
    return this.postfix(this.node(c, "postfix"));
  }

  private postfix(n: CstNode): A.Expr {
    const c = n.children as Children;
    let e = this.primary(this.node(c, "primary"));
    for (const m of this.toks(c, "members")) {
      const member = this.ident(m);
      e = { kind: "Member", object: e, member, span: { start: e.span.start, end: member.span.end } };
    }
    return e;
  }

  private primary(n: CstNode): A.Expr {
    const c = n.children as Children;
    const span = this.nodeSpan(n);
    if (c.NumberLiteral) return { kind: "Number", value: Number(this.tok(c, "NumberLiteral").image), span };
    if (c.StringLiteral) return { kind: "String", value: unquote(this.tok(c, "StringLiteral").image), span };
    if (c.Identifier) {
      const id = this.ident(this.tok(c, "Identifier"));
      if (c.parenArgs) return { kind: "Call", callee: id, args: this.parenArgs(c), span };
      return { kind: "Name", name: id.name, span: id.span };
    }
    if (c.LBracket) return { kind: "List", items: this.nodes(c, "items").map((x) => this.expr(x)), span };
    // A parenthesised expression keeps its parentheses in its span, so errors underline what was written.
    return { ...this.expr(this.node(c, "expr")), span };
  }
}

function unquote(s: string): string {
  try {
    return JSON.parse(s) as string;
  } catch {
    return s.slice(1, -1); // an escape JSON does not know: keep the text as written
  }
}
