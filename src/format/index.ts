/**
 * `ganc fmt`: the canonical layout of a `.gan` spec.
 *
 * The formatter re-spaces the token stream of a spec that parses; it never adds, drops or reorders a
 * token, so the formatted spec has the same AST (every parenthesis the author wrote is kept, numbers and
 * strings keep their spelling). The CST says what each token is (a declaration's start, a layer's start,
 * an assignment's `=`, a unary minus...), the text between tokens holds the comments and the line breaks.
 *
 * The rules (README, "Formatting"):
 * - one declaration per line, at most one blank line between declarations (blank lines are kept, runs of
 *   them collapse to one); no blank line at the start or end of the file; the file ends with one newline;
 * - net, block and train bodies written on one line stay on one line (`{ a, b }`), the others get one
 *   layer line per source line, indented 2 spaces, with `}` on its own line; layers that shared a line
 *   still do;
 * - one space around `=` in top-level assignments (`x = ...`, `loss`, `state`, `after`), none in
 *   arguments (`lr=2e-4`, `kernel=4`, `up=true`); `name: source` after `data`, `noise`, `step`, `after`;
 *   `, ` between arguments and list items; no space inside brackets or before `(` of a call;
 * - one space around `+ - * /` in expressions; none in argument values (bare layer arguments, where
 *   spaces separate arguments, and `name=value` arguments): `dense 7*7*128`, `schedule=[5*d, g]`,
 *   except inside parentheses there (`init=normal(0, 2 * s)`); no space after a unary minus;
 * - in a run of `data`, `noise` and `state` declarations on consecutive lines the declared names line up
 *   (`data  real: ...` above `noise z: ...`);
 * - a trailing comment (and a `-> tap`) written one space after its code stays one space after it; one
 *   set off by two or more spaces keeps its column, so a column of aligned comments or taps stays
 *   aligned (one space after the code if the code now reaches that column);
 * - own-line comments keep their place, indented like the code that follows them;
 * - other line breaks inside a declaration are kept: the continuation is indented 2 spaces per open
 *   bracket (at least 2), a closing bracket that starts a line lines up with its declaration;
 * - line ends: CRLF if the file's first line ends with CRLF, LF otherwise; a leading byte order mark is
 *   kept; trailing whitespace is dropped.
 */
import type { CstNode, IToken } from "chevrotain";
import { stripSpans } from "../parser/ast.ts";
import type { Diagnostic } from "../parser/diagnostics.ts";
import { parseDsl, parseDslCst } from "../parser/dsl/index.ts";
import * as T from "../parser/dsl/tokens.ts";
import { parseSpec } from "../parser/index.ts";
import { MAX_SPEC_CHARS } from "../parser/limits.ts";

export type FormatResult = { ok: true; text: string } | { ok: false; diagnostics: Diagnostic[] };

/**
 * Formats a `.gan` spec. A spec that does not parse gives the parser's diagnostics (the same as
 * `ganc check`'s syntax errors); bad input never throws. It throws only if its own result would read as a
 * different spec, which is a bug in the formatter (the command line reports it as an internal error).
 */
export function formatGan(source: string, file = "<input>"): FormatResult {
  // parseSpec refuses an oversized file (E0007) before reading it, as `ganc check` does.
  if (source.length > MAX_SPEC_CHARS) return { ok: false, diagnostics: parseSpec(source, file).diagnostics };
  const parsed = parseDslCst(source, file);
  if (!parsed.value || parsed.diagnostics.some((d) => d.severity === "error")) return { ok: false, diagnostics: parsed.diagnostics };
  const text = new Formatter(source, parsed.value.tokens, parsed.value.cst).run();
  // The formatter only moves whitespace and comments; a spec that reads differently afterwards would be a
  // bug here. Checked on every call (one more parse) so that a wrong layout never reaches a file.
  const again = parseDsl(text, file);
  if (!again.value || JSON.stringify(stripSpans(again.value)) !== JSON.stringify(stripSpans(parsed.value.spec))) {
    throw new Error(`${file}: formatting would change what the spec means (please report it with the spec)`);
  }
  return { ok: true, text };
}

interface Comment {
  /** The comment as written, trailing whitespace dropped. */
  readonly text: string;
  /** On the same line as the token before it. */
  readonly trailing: boolean;
  /** Line breaks between the previous token or comment and this comment. */
  readonly breaksBefore: number;
  /** Spaces and tabs right before it on its line, and its column there. */
  readonly gap: number;
  readonly column: number;
}

/** What lies between two tokens (or before the first, or after the last). */
interface Gap {
  readonly comments: Comment[];
  /** Line breaks between the last comment (or the previous token) and the next token. */
  readonly breaksAfter: number;
  /** Spaces and tabs right before the next token on its line, and its column there. */
  readonly gap: number;
  readonly column: number;
}

interface Body {
  readonly open: number;
  readonly close: number;
  readonly multiline: boolean;
}

type Children = Record<string, (CstNode | IToken)[] | undefined>;

const isToken = (x: CstNode | IToken): x is IToken => "image" in x;
const ALIGNED = new Set(["dataDecl", "noiseDecl", "stateDecl"]);

class Formatter {
  private readonly gaps: Gap[];
  private readonly lineStarts: number[] = [0];
  private readonly eol: string;

  // What the CST says about tokens, by start offset.
  private readonly declStarts = new Map<number, string>();
  private readonly itemStarts = new Set<number>();
  private readonly bodies = new Map<number, Body>();
  private readonly closes = new Map<number, Body>();
  private readonly spacedEquals = new Set<number>();
  private readonly unaryMinus = new Set<number>();
  private readonly tightOps = new Set<number>();
  /** Keyword (data/noise/state) offset -> extra spaces after it so that the names line up. */
  private readonly keywordPad = new Map<number, number>();

  // Output state.
  private readonly lines: string[] = [];
  private line = "";
  private lineStarted = false;
  private body: Body | null = null;
  private depth = 0;

  constructor(
    private readonly src: string,
    private readonly tokens: IToken[],
    cst: CstNode,
  ) {
    for (let i = 0; i < src.length; i++) {
      const c = src.charCodeAt(i);
      if (c === 10 || (c === 13 && src.charCodeAt(i + 1) !== 10)) this.lineStarts.push(i + 1);
    }
    const firstBreak = src.search(/\r\n|\r|\n/);
    this.eol = firstBreak >= 0 && src.startsWith("\r\n", firstBreak) ? "\r\n" : "\n";
    this.gaps = [];
    let prevEnd = 0;
    for (const t of this.tokens) {
      this.gaps.push(this.scanGap(prevEnd, t.startOffset, this.gaps.length > 0));
      prevEnd = t.endOffset! + 1;
    }
    this.gaps.push(this.scanGap(prevEnd, src.length, this.tokens.length > 0));
    this.analyze(cst);
  }

  private column(offset: number): number {
    let lo = 0;
    let hi = this.lineStarts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.lineStarts[mid]! <= offset) lo = mid;
      else hi = mid - 1;
    }
    // A byte order mark takes no column (the output keeps it in front of the first line too).
    const bom = lo === 0 && this.src.charCodeAt(0) === 0xfeff && offset > 0 ? 1 : 0;
    return offset - this.lineStarts[lo]! - bom;
  }

  private scanGap(from: number, to: number, afterToken: boolean): Gap {
    const s = this.src;
    const comments: Comment[] = [];
    let breaks = 0;
    let spaces = 0;
    let i = from;
    while (i < to) {
      const c = s[i]!;
      if (c === "\n" || (c === "\r" && s[i + 1] !== "\n")) {
        breaks++;
        spaces = 0;
        i++;
      } else if (c === "#" || (c === "/" && s[i + 1] === "/")) {
        let j = i;
        while (j < to && s[j] !== "\n" && s[j] !== "\r") j++;
        comments.push({
          text: s.slice(i, j).replace(/[ \t\uFEFF]+$/, ""),
          trailing: afterToken && comments.length === 0 && breaks === 0,
          breaksBefore: breaks,
          gap: spaces,
          column: this.column(i),
        });
        breaks = 0;
        spaces = 0;
        i = j;
      } else {
        if (c === " " || c === "\t") spaces++;
        i++;
      }
    }
    return { comments, breaksAfter: breaks, gap: spaces, column: to < s.length ? this.column(to) : 0 };
  }

  /** Walks the CST once and records each token's role. */
  private analyze(cst: CstNode): void {
    const decls = ((cst.children as Children).decl ?? []) as CstNode[];
    const index = new Map(this.tokens.map((t, i) => [t.startOffset, i]));
    let run: { offset: number; width: number }[] = [];
    const flush = () => {
      if (!run.length) return;
      const width = Math.max(...run.map((r) => r.width));
      if (run.length > 1) for (const r of run) this.keywordPad.set(r.offset, width - r.width);
      run = [];
    };
    for (const d of decls) {
      const inner = Object.values(d.children)[0]![0] as CstNode;
      const start = d.location!.startOffset;
      this.declStarts.set(start, inner.name);
      if (ALIGNED.has(inner.name)) {
        const kw = index.get(start)!;
        const gap = this.gaps[kw]!;
        // A blank line (before the declaration or before a comment above it) ends a run.
        if (gap.breaksAfter > 1 || gap.comments.some((c) => c.breaksBefore > 1)) flush();
        run.push({ offset: start, width: this.tokens[kw]!.image.length });
      } else if (run.length) flush();
      this.walk(inner, false);
    }
    if (run.length) flush();
  }

  private walk(node: CstNode, bare: boolean): void {
    const c = node.children as Children;
    switch (node.name) {
      case "netDecl":
      case "blockDecl":
      case "trainDecl": {
        const open = (c.LBrace![0] as IToken).startOffset;
        const close = (c.RBrace![0] as IToken).startOffset;
        const between = this.src.slice(open, close);
        const body: Body = { open, close, multiline: /[\r\n]/.test(between) };
        this.bodies.set(open, body);
        this.closes.set(close, body);
        for (const item of (c.layer ?? c.namedArg ?? []) as CstNode[]) this.itemStarts.add(item.location!.startOffset);
        break;
      }
      case "valueDecl":
      case "lossDecl":
      case "stateDecl":
      case "afterDecl":
        if (c.Equals) this.spacedEquals.add((c.Equals[0] as IToken).startOffset);
        break;
      case "bareArg":
      case "namedArg":
      case "blockParam":
        bare = true;
        break;
      case "arg":
        bare = !!c.name;
        break;
      case "parenArgs":
        bare = false;
        break;
      case "primary":
        if (c.LParen) bare = false;
        break;
      case "unary":
        if (c.Minus) this.unaryMinus.add((c.Minus[0] as IToken).startOffset);
        break;
      case "expr":
      case "term":
        if (bare) for (const op of (c.ops ?? []) as IToken[]) this.tightOps.add(op.startOffset);
        break;
    }
    for (const list of Object.values(c)) for (const x of list ?? []) if (!isToken(x)) this.walk(x, bare);
  }

  // ---- output ----

  private endLine(): void {
    this.lines.push(this.line.replace(/[ \t]+$/, ""));
    this.line = "";
    this.lineStarted = false;
  }

  private blankLine(): void {
    if (this.lines.length > 0 && this.lines[this.lines.length - 1] !== "") this.lines.push("");
  }

  private startLine(indent: number, text: string): void {
    if (this.lineStarted) this.endLine();
    this.line = " ".repeat(indent) + text;
    this.lineStarted = true;
  }

  /** Puts `text` after the current line's code: one space, or at `column` if it was set off to align there. */
  private appendAligned(text: string, gap: number, column: number): void {
    const len = this.line.length;
    this.line += gap >= 2 && column > len ? " ".repeat(column - len) + text : " " + text;
  }

  run(): string {
    const n = this.tokens.length;
    let prev: IToken | null = null;
    for (let i = 0; i < n; i++) {
      const t = this.tokens[i]!;
      this.place(t, prev, this.gaps[i]!, i === 0);
      prev = t;
    }
    // Comments after the last token.
    const tail = this.gaps[n]!;
    for (const c of tail.comments) {
      if (c.trailing) this.appendAligned(c.text, c.gap, c.column);
      else {
        if (c.breaksBefore > 1) {
          this.endLine();
          this.blankLine();
        }
        this.startLine(0, c.text);
      }
    }
    if (this.lineStarted) this.endLine();
    while (this.lines.length && this.lines[this.lines.length - 1] === "") this.lines.pop();
    const bom = this.src.startsWith("\uFEFF") ? "\uFEFF" : "";
    return bom + this.lines.join(this.eol) + this.eol;
  }

  private place(t: IToken, prev: IToken | null, gap: Gap, first: boolean): void {
    const at = t.startOffset;
    type Kind = "decl" | "open" | "item" | "close" | "inner";
    let kind: Kind;
    const closing = this.closes.get(at);
    if (first || this.declStarts.has(at)) kind = "decl";
    else if (closing?.multiline) kind = "close";
    else if (this.itemStarts.has(at) && this.body?.multiline) kind = prev && this.bodies.get(prev.startOffset) ? "open" : "item";
    else kind = "inner";

    if (kind === "decl") {
      this.body = null;
      this.depth = 0;
    } else if (kind === "open" || kind === "item") this.depth = 0;

    const base = kind === "decl" || kind === "close" || !this.body?.multiline ? 0 : 2;
    const isClosingBracket = t.tokenType === T.RParen || t.tokenType === T.RBracket;
    const contIndent = isClosingBracket ? base + 2 * Math.max(0, this.depth - 1) : base + 2 * Math.max(1, this.depth);
    const lineIndent = kind === "inner" ? contIndent : base;
    // Own-line comments are indented like the code that follows them (inside a body before its `}`: like a layer).
    const commentIndent = kind === "close" ? 2 : kind === "inner" ? contIndent : base;

    let broken = false;
    for (const c of gap.comments) {
      if (c.trailing) this.appendAligned(c.text, c.gap, c.column);
      else {
        const atTop = this.lines.length === 0 && !this.lineStarted;
        const afterOpen = this.lineStarted && this.line.endsWith("{") && !broken;
        if (c.breaksBefore > 1 && !atTop && !afterOpen && kind !== "inner") {
          this.endLine();
          this.blankLine();
        }
        this.startLine(commentIndent, c.text);
      }
      broken = true;
    }

    const text = t.image;
    const hadBreak = gap.breaksAfter > 0;
    switch (kind) {
      case "decl":
        if (!first || this.lineStarted) {
          if (gap.breaksAfter > 1) {
            this.endLine();
            this.blankLine();
          }
          this.startLine(0, text);
        } else this.startLine(0, text);
        break;
      case "open":
      case "close":
        this.startLine(base, text);
        break;
      case "item":
        if (hadBreak || broken) {
          if (gap.breaksAfter > 1) {
            this.endLine();
            this.blankLine();
          }
          this.startLine(base, text);
        } else this.line += " " + text;
        break;
      case "inner": {
        // Never a line of its own for `{`: it stays on its header's line unless a comment is in the way.
        if (broken || (hadBreak && t.tokenType !== T.LBrace)) this.startLine(lineIndent, text);
        else if (t.tokenType === T.Arrow) this.appendAligned(text, gap.gap, gap.column);
        else this.line += this.space(prev!, t) + text;
        break;
      }
    }

    if (t.tokenType === T.LParen || t.tokenType === T.LBracket) this.depth++;
    else if (isClosingBracket) this.depth = Math.max(0, this.depth - 1);
    const opened = this.bodies.get(at);
    if (opened) {
      this.body = opened;
      this.depth = 0;
    } else if (closing) this.body = null;
  }

  /** The space between two tokens on one line. */
  private space(prev: IToken, t: IToken): string {
    const pt = prev.tokenType;
    const tt = t.tokenType;
    let s = " ";
    if (tt === T.Comma || tt === T.RParen || tt === T.RBracket || tt === T.Dot || tt === T.Colon) s = "";
    else if (pt === T.LParen || pt === T.LBracket || pt === T.Dot) s = "";
    else if (pt === T.Minus && this.unaryMinus.has(prev.startOffset)) s = "";
    else if (tt === T.LParen && pt === T.Identifier) s = "";
    else if (this.tightOps.has(prev.startOffset) || this.tightOps.has(t.startOffset)) s = "";
    else if (tt === T.Equals || pt === T.Equals) s = this.spacedEquals.has(tt === T.Equals ? t.startOffset : prev.startOffset) ? " " : "";
    else if (tt === T.RBrace || pt === T.LBrace) s = " ";
    const pad = this.keywordPad.get(prev.startOffset);
    if (pad) s = " ".repeat(1 + pad);
    if (s === "" && !gluesSafely(prev, t)) s = " ";
    return s;
  }
}

const glued = new Map<string, boolean>();

/** Whether two tokens written with nothing between them still read as those two tokens (`3` `.x` does not). */
function gluesSafely(a: IToken, b: IToken): boolean {
  const key = a.image + "\u0000" + b.image;
  let ok = glued.get(key);
  if (ok === undefined) {
    const r = T.ganLexer.tokenize(a.image + b.image);
    ok = r.errors.length === 0 && r.tokens.length === 2 && r.tokens[0]!.tokenType === a.tokenType && r.tokens[1]!.tokenType === b.tokenType;
    if (glued.size < 10_000) glued.set(key, ok);
  }
  return ok;
}
