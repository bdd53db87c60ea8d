/**
 * Semantic tokens for `.gan` specs: what each word of the text is, from the lexer (keywords, numbers,
 * strings, comments, operators) and from the spec's names as the analysis resolved them (nets, blocks,
 * layer kinds, functions, losses, values, taps, noise and data, parameters, steps). A word the analysis
 * cannot place (the spec does not parse) keeps what the TextMate grammar gives it. YAML specs have none:
 * their expressions are strings of the YAML grammar.
 */
import { Lexer, createToken, type IToken, type TokenType } from "chevrotain";
import type * as A from "../parser/ast.ts";
import { isFnName } from "../functions/index.ts";
import { DATA_SOURCES, LAYERS, NOISE_DISTS, OPTIMIZERS, canonicalLayer } from "../parser/signatures.ts";
import * as T from "../parser/dsl/tokens.ts";
import type { Analysis, SymbolKind } from "./analysis.ts";

/** The legend: token types, standard LSP ones except `loss` (a loss is a value a step minimizes). */
export const TOKEN_TYPES = ["keyword", "number", "string", "comment", "operator", "class", "struct", "type", "function", "variable", "parameter", "property", "enumMember", "event", "loss"] as const;
export const TOKEN_MODIFIERS = ["declaration", "readonly", "defaultLibrary"] as const;
export type TokenKind = (typeof TOKEN_TYPES)[number];
export type TokenModifier = (typeof TOKEN_MODIFIERS)[number];

export interface SemanticToken {
  readonly start: number;
  readonly end: number;
  readonly type: TokenKind;
  readonly modifiers: readonly TokenModifier[];
}

/** The lexer's token set with comments kept (the parser's skips them). */
const CommentKept = createToken({ name: "Comment", pattern: T.Comment.PATTERN, group: "comments" });
const lexer = new Lexer(
  T.allTokens.map((t) => (t === T.Comment ? CommentKept : t)),
  { positionTracking: "onlyOffset", ensureOptimizations: false, skipValidations: !T.VALIDATE_GRAMMAR },
);

const KEYWORDS = new Set<TokenType>(T.keywords);
const STRINGS = new Set<TokenType>([T.StringLiteral, T.UnterminatedString, T.SingleQuoted]);
const OPERATORS = new Set<TokenType>([T.FatArrow, T.Arrow, T.Plus, T.Minus, T.Star, T.Slash, T.Equals]);
const CONSTANTS = new Set(["ones", "zeros", "batch", "true", "false", "epoch"]);

const SYMBOL_TYPES: Record<SymbolKind, [TokenKind, TokenModifier[]]> = {
  net: ["class", []],
  block: ["struct", []],
  value: ["variable", []],
  loss: ["loss", []],
  step: ["event", []],
  noise: ["variable", ["readonly"]],
  data: ["variable", ["readonly"]],
  state: ["variable", []],
};

/** Every token of the document, in the order of the text (none for a YAML spec). */
export function semanticTokens(a: Analysis, yaml: boolean): SemanticToken[] {
  if (yaml) return [];
  const names = a.spec ? classifyNames(a) : new Map<number, [TokenKind, TokenModifier[]]>();
  const lexed = lexer.tokenize(a.text);
  const comments = (lexed.groups.comments ?? []) as IToken[];
  const out: SemanticToken[] = [];
  const push = (t: IToken, type: TokenKind, modifiers: readonly TokenModifier[] = []) => out.push({ start: t.startOffset, end: t.startOffset + t.image.length, type, modifiers });
  let c = 0;
  for (const t of lexed.tokens) {
    while (c < comments.length && comments[c]!.startOffset < t.startOffset) push(comments[c++]!, "comment");
    const tt = t.tokenType;
    if (KEYWORDS.has(tt)) push(t, "keyword");
    else if (tt === T.NumberLiteral) push(t, "number");
    else if (STRINGS.has(tt)) push(t, "string");
    else if (OPERATORS.has(tt)) push(t, "operator");
    else if (tt === T.Identifier) {
      const k = names.get(t.startOffset);
      if (k) push(t, k[0], k[1]);
    }
  }
  while (c < comments.length) push(comments[c++]!, "comment");
  return out;
}

/** What each name of the spec is, by the offset where it starts. */
function classifyNames(a: Analysis): Map<number, [TokenKind, TokenModifier[]]> {
  const m = new Map<number, [TokenKind, TokenModifier[]]>();
  const set = (s: A.Span, type: TokenKind, modifiers: TokenModifier[] = []) => m.set(s.start, [type, modifiers]);
  const declared = new Map<string, SymbolKind>();
  for (const d of a.defs) if (d.kind !== "step") declared.set(d.name, d.kind);
  const args = (list: readonly A.Arg[]) => {
    for (const x of list) {
      argName(x);
      expr(x.value);
    }
  };
  const builtin = (id: A.Ident | A.NameRef, type: TokenKind) => set(id.span, type, ["defaultLibrary"]);
  /** A named argument's name (a positional one was given its parameter's name at the value's place). */
  const argName = (arg: A.Arg) => {
    if (arg.name && arg.name.span.start !== arg.value.span.start) set(arg.name.span, "parameter");
  };
  /** Names in expressions: the declared ones are in refs; here the built-in ones and, in nets, the local ones. */
  const expr = (e: A.Expr, local?: (n: A.NameRef) => boolean): void => {
    switch (e.kind) {
      case "Name":
        if (local?.(e)) return;
        if (CONSTANTS.has(e.name)) builtin(e, "enumMember");
        return;
      case "List":
        for (const x of e.items) expr(x, local);
        return;
      case "Call":
        if (isFnName(e.callee.name) && !declared.has(e.callee.name)) builtin(e.callee, "function");
        for (const x of e.args) {
          argName(x);
          expr(x.value, local);
        }
        return;
      case "Member":
        expr(e.object, local);
        set(e.member.span, "property");
        return;
      case "Unary":
        expr(e.operand, local);
        return;
      case "Binary":
        expr(e.left, local);
        expr(e.right, local);
        return;
      default:
        return;
    }
  };
  const layers = (list: readonly A.Layer[], params: ReadonlySet<string>) => {
    const taps = new Set(list.flatMap((l) => (l.tap ? [l.tap.name] : [])));
    const local = (n: A.NameRef) => {
      if (params.has(n.name)) set(n.span, "parameter");
      else if (taps.has(n.name) || n.name === "input") set(n.span, "property");
      else return false;
      return true;
    };
    for (const l of list) {
      if (LAYERS[canonicalLayer(l.op.name)]) builtin(l.op, "type");
      for (const x of l.args) {
        argName(x);
        expr(x.value, local);
      }
      if (l.tap) set(l.tap.span, "property", ["declaration"]);
    }
  };
  for (const d of a.spec!.decls) {
    switch (d.kind) {
      case "Data":
        builtin(d.source, DATA_SOURCES[d.source.name] ? "function" : "variable");
        args(d.args);
        break;
      case "Noise":
        if (NOISE_DISTS[d.dist.name]) builtin(d.dist, "function");
        args(d.args);
        break;
      case "Net":
        for (const p of d.params) set(p.span, "parameter", ["declaration"]);
        layers(d.layers, new Set(d.params.map((p) => p.name)));
        break;
      case "Block":
        for (const p of d.params) {
          set(p.name.span, "parameter", ["declaration"]);
          if (p.dflt) expr(p.dflt);
        }
        layers(d.layers, new Set(d.params.map((p) => p.name.name)));
        break;
      case "Value":
      case "Loss":
        expr(d.expr);
        break;
      case "State":
        expr(d.init);
        break;
      case "Step":
        // The optimizer: a built-in one, or another step's (in refs when it names one).
        if (OPTIMIZERS[d.optimizer.name.name]) builtin(d.optimizer.name, "function");
        else if (a.defs.some((x) => x.kind === "step" && x.name === d.optimizer.name.name)) set(d.optimizer.name.span, "event");
        args(d.optimizer.args);
        break;
      case "After":
        expr(d.expr);
        break;
      case "Train":
        args(d.settings);
        break;
    }
  }
  // The declared names and their uses, as the analysis resolved them.
  for (const r of a.refs) {
    const [type, mods] = SYMBOL_TYPES[r.kind];
    set(r.span, type, mods);
  }
  for (const d of a.defs) {
    const [type, mods] = SYMBOL_TYPES[d.kind];
    set(d.span, type, [...mods, "declaration"]);
  }
  return m;
}

/** The LSP encoding: five numbers a token, each position relative to the previous token's. */
export function encodeTokens(tokens: readonly SemanticToken[], positionAt: (offset: number) => { line: number; character: number }): number[] {
  const data: number[] = [];
  let line = 0;
  let char = 0;
  for (const t of tokens) {
    const p = positionAt(t.start);
    const q = positionAt(t.end);
    // Tokens never span lines in this language (comments and strings end at the line's end).
    const length = q.line === p.line ? q.character - p.character : t.end - t.start;
    const mods = t.modifiers.reduce((bits, m) => bits | (1 << TOKEN_MODIFIERS.indexOf(m)), 0);
    data.push(p.line - line, p.line === line ? p.character - char : p.character, length, TOKEN_TYPES.indexOf(t.type), mods);
    line = p.line;
    char = p.character;
  }
  return data;
}
