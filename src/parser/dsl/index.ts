import { C } from "../codes.ts";
import type { CstNode, ILexingError, IRecognitionException, IToken, TokenType } from "chevrotain";
import type * as A from "../ast.ts";
import { error, type Diagnostic } from "../diagnostics.ts";
import { describeToken } from "./messages.ts";
import { ganParser } from "./parser.ts";
import * as T from "./tokens.ts";
import { ganLexer } from "./tokens.ts";
import { AstBuilder } from "./to-ast.ts";

export interface ParseResult<T> {
  readonly value: T | null;
  readonly diagnostics: Diagnostic[];
}

/** Deeper nesting than this is refused before parsing: a recursive-descent parser would exhaust the stack. */
const MAX_NESTING = 200;

/** Parses `.gan` text into an AST, or into diagnostics (every lexing and syntax error found). */
export function parseDsl(text: string, file: string): ParseResult<A.Spec> {
  return run(text, file, 0, "spec", (b, n) => b.spec(n, file));
}

/** parseDsl, plus the tokens and the CST the AST was built from (the formatter lays them out). */
export function parseDslCst(text: string, file: string): ParseResult<{ spec: A.Spec; cst: CstNode; tokens: IToken[] }> {
  let tokens: IToken[] = [];
  const r = run(text, file, 0, "spec", (b, n) => ({ spec: b.spec(n, file), cst: n }), (t) => (tokens = t));
  return r.value ? { value: { ...r.value, tokens }, diagnostics: r.diagnostics } : { value: null, diagnostics: r.diagnostics };
}

/** Parses one expression, e.g. a loss in a YAML string; spans are shifted by `base`. */
export function parseExpression(text: string, file: string, base = 0): ParseResult<A.Expr> {
  return run(text, file, base, "expr", (b, n) => b.expr(n));
}

/** Parses one layer (`conv 64 kernel=4 stride=2 -> features`), as written in a YAML layer list. */
export function parseLayer(text: string, file: string, base = 0): ParseResult<A.Layer> {
  return run(text, file, base, "layer", (b, n) => b.layer(n));
}

type RuleName = "spec" | "expr" | "layer";

function run<T>(text: string, file: string, base: number, rule: RuleName, build: (b: AstBuilder, n: CstNode) => T, onTokens?: (tokens: IToken[]) => void): ParseResult<T> {
  const diagnostics: Diagnostic[] = [];
  const lexed = ganLexer.tokenize(text);
  for (const e of lexed.errors) diagnostics.push(lexError(e, text, file, base));
  const tokens = lexed.tokens.map((t) => fixMistake(t, file, base, diagnostics));
  onTokens?.(tokens);
  const deep = nestingTooDeep(tokens);
  if (deep) {
    diagnostics.push(error(C.E0003, `nesting deeper than ${MAX_NESTING} levels`, file, shift(tokSpan(deep), base)));
    return { value: null, diagnostics };
  }
  if (rule === "spec" && tokens.length === 0 && lexed.errors.length === 0) {
    diagnostics.push(error(C.E0004, "the spec is empty: it declares no networks, losses or steps", file, { start: base, end: base }));
    return { value: null, diagnostics };
  }
  const parser = ganParser();
  parser.input = tokens;
  const cst = parser[rule]();
  const lexed0 = diagnostics.filter((d) => d.code === C.E0001 || d.code === C.E0008).map((d) => d.span.start);
  diagnostics.push(...firstPerDeclaration(parser.errors.map((e) => syntaxError(e, tokens, text, file, base)), tokens, text, base, lexed0));
  diagnostics.sort((a, b) => a.span.start - b.span.start);
  if (diagnostics.length === 0 && rule !== "spec") {
    // A sub-rule stops where its grammar ends; anything after it is an error here.
    const end = cst.location?.endOffset ?? -1;
    const extra = tokens.find((t) => t.startOffset > end);
    if (extra) diagnostics.push(error(C.E0002, `unexpected ${describeToken(extra)} after the ${rule === "expr" ? "expression" : "layer"}`, file, shift(tokSpan(extra), base)));
  }
  if (diagnostics.length > 0) return { value: null, diagnostics };
  return { value: build(new AstBuilder(base), cst), diagnostics };
}

/** The same token read as another type (the parser matches on tokenTypeIdx). */
function as(t: IToken, type: TokenType, image: string): IToken {
  return { ...t, tokenType: type, tokenTypeIdx: type.tokenTypeIdx!, image };
}

/** Reports a mistake token and stands in the token the author meant, so parsing goes on without a cascade. */
function fixMistake(t: IToken, file: string, base: number, diags: Diagnostic[]): IToken {
  const at = shift(tokSpan(t), base);
  switch (t.tokenType) {
    case T.UnterminatedString:
      diags.push(error(C.E0005, "unterminated string: add the closing '\"' on the same line", file, at));
      return as(t, T.StringLiteral, t.image + '"');
    case T.SingleQuoted:
      diags.push(error(C.E0008, "strings use double quotes: write \"...\"", file, at));
      return as(t, T.StringLiteral, '"' + t.image.slice(1, t.image.endsWith("'") && t.image.length > 1 ? -1 : undefined) + '"');
    case T.FatArrow:
      diags.push(error(C.E0006, "'=>' is not an operator; a tap is written with '->', like: dense 1 -> logit", file, at));
      return as(t, T.Arrow, "->");
    default:
      return t;
  }
}

/**
 * After one syntax error, chevrotain's recovery often reports more in the same declaration that are only
 * echoes of the first. Keep the first error of each declaration; a declaration starts at a keyword or
 * `name =` that begins a line.
 */
function firstPerDeclaration(errs: Diagnostic[], tokens: IToken[], text: string, base: number, dropped: number[]): Diagnostic[] {
  const starts: number[] = [];
  let prevLine = -1;
  tokens.forEach((t, i) => {
    const line = t.startLine ?? 0;
    const first = line !== prevLine;
    prevLine = line;
    if (!first) return;
    const isDecl = T.keywords.includes(t.tokenType) && t.tokenType !== T.Minimize && t.tokenType !== T.Over && t.tokenType !== T.Shared;
    if (isDecl || (t.tokenType === T.Identifier && tokens[i + 1]?.tokenType === T.Equals && text[t.startOffset - 1] !== " ")) starts.push(t.startOffset + base);
  });
  const region = (offset: number) => {
    let r = 0;
    for (const s of starts) if (s <= offset) r++;
    return r;
  };
  // A character the lexer could not read (already reported) breaks its declaration: no echo for it.
  const seen = new Set<number>(dropped.map(region));
  return errs.filter((d) => {
    const r = region(d.span.start);
    if (seen.has(r)) return false;
    // An error exactly at the start of a declaration, right after one that already failed, says only
    // that the failed one did not end where the parser hoped: the same mistake again.
    const atStart = starts[r - 1] === d.span.start;
    seen.add(r);
    return !(atStart && seen.has(r - 1));
  });
}

function nestingTooDeep(tokens: IToken[]): IToken | null {
  let depth = 0;
  let minuses = 0;
  for (const t of tokens) {
    const n = t.tokenType.name;
    if (n === "LParen" || n === "LBracket" || n === "LBrace") {
      if (++depth > MAX_NESTING) return t;
    } else if (n === "RParen" || n === "RBracket" || n === "RBrace") depth--;
    // A run of unary minuses nests as deeply as parentheses do.
    if (n === "Minus") {
      if (++minuses > MAX_NESTING) return t;
    } else minuses = 0;
  }
  return null;
}

function shift(s: A.Span, base: number): A.Span {
  return { start: s.start + base, end: s.end + base };
}

function tokSpan(t: IToken): A.Span {
  return { start: t.startOffset, end: (t.endOffset ?? t.startOffset) + 1 };
}

function lexError(e: ILexingError, text: string, file: string, base: number): Diagnostic {
  const ch = text.codePointAt(e.offset) ?? 0;
  const shown = ch < 32 || ch === 0xfffd ? `U+${ch.toString(16).toUpperCase().padStart(4, "0")}` : `'${String.fromCodePoint(ch)}'`;
  const len = ch > 0xffff ? 2 : 1;
  const hint = ch === 39 ? " (strings use double quotes)" : ch === 0xfffd ? " (the file is not valid UTF-8)" : "";
  return error(C.E0001, `unexpected character ${shown}${hint}`, file, { start: base + e.offset, end: base + e.offset + len });
}

function syntaxError(e: IRecognitionException, tokens: IToken[], text: string, file: string, base: number): Diagnostic {
  const t = e.token;
  let span: A.Span;
  if (t.tokenType.name === "EOF" || Number.isNaN(t.startOffset)) {
    // Error recovery inserts tokens with NaN positions; point just after the previous real token instead.
    const before = (e as { previousToken?: IToken }).previousToken;
    const prev = before && !Number.isNaN(before.startOffset) ? before : tokens[tokens.length - 1];
    const at = prev ? (prev.endOffset ?? prev.startOffset) + 1 : text.length;
    span = { start: at, end: at };
  } else span = tokSpan(t);
  // The message is ganErrorMessages' (messages.ts), which chevrotain called with what it expected.
  return error(C.E0002, e.message, file, shift(span, base));
}
