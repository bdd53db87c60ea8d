import * as path from "node:path";
import type { Span } from "./ast.ts";
import type { Code, ErrorCode, WarningCode } from "./codes.ts";

export type Severity = "error" | "warning";

export interface Note {
  readonly message: string;
  readonly file: string;
  readonly span: Span;
}

/** A problem found in a spec. `code` is stable: tests, docs and editors rely on it. */
export interface Diagnostic {
  readonly code: Code;
  readonly severity: Severity;
  readonly message: string;
  readonly file: string;
  readonly span: Span;
  readonly notes: readonly Note[];
}

export function error(code: ErrorCode, message: string, file: string, span: Span, notes: Note[] = []): Diagnostic {
  return { code, severity: "error", message, file, span, notes };
}

export function warning(code: WarningCode, message: string, file: string, span: Span, notes: Note[] = []): Diagnostic {
  return { code, severity: "warning", message, file, span, notes };
}

export function hasErrors(diags: readonly Diagnostic[]): boolean {
  return diags.some((d) => d.severity === "error");
}

/** Maps offsets to 1-based line and column. A BOM counts as no column; CRLF ends a line like LF. */
export class SourceText {
  private readonly lineStarts: number[] = [0];
  constructor(readonly file: string, readonly text: string) {
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c === 10) this.lineStarts.push(i + 1);
      else if (c === 13 && text.charCodeAt(i + 1) !== 10) this.lineStarts.push(i + 1);
    }
  }

  position(offset: number): { line: number; column: number } {
    const o = Math.max(0, Math.min(offset, this.text.length));
    let lo = 0;
    let hi = this.lineStarts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.lineStarts[mid]! <= o) lo = mid;
      else hi = mid - 1;
    }
    let start = this.lineStarts[lo]!;
    if (lo === 0 && this.text.charCodeAt(0) === 0xfeff && o > 0) start = 1;
    return { line: lo + 1, column: o - start + 1 };
  }

  lineText(line: number): string {
    const start = this.lineStarts[line - 1] ?? this.text.length;
    let end = this.lineStarts[line] ?? this.text.length;
    let s = this.text.slice(start, end).replace(/\r?\n$|\r$/, "");
    if (line === 1) s = s.replace(/^\uFEFF/, "");
    return s;
  }
}

export interface JsonDiagnostic {
  code: string;
  severity: Severity;
  message: string;
  file: string;
  line: number;
  column: number;
  endLine: number;
  endColumn: number;
}

export function toJson(d: Diagnostic, src: SourceText): JsonDiagnostic {
  const a = src.position(d.span.start);
  const b = src.position(Math.max(d.span.start, d.span.end));
  return { code: d.code, severity: d.severity, message: d.message, file: displayFile(d.file), line: a.line, column: a.column, endLine: b.line, endColumn: b.column };
}

export interface FormatOptions {
  readonly color?: boolean;
}

/**
 * Formats a diagnostic the way rustc and Peggy do:
 *
 *   error[E0201]: dense needs a flat input, got [7, 7, 128]
 *    --> specs/bad.gan:4:3
 *     |
 *   4 |   dense 10
 *     |   ^^^^^^^^
 *     = note: ...
 */
export function formatDiagnostic(d: Diagnostic, sources: (file: string) => SourceText | undefined, opts: FormatOptions = {}): string {
  const paint = (code: string, s: string) => (opts.color ? `\x1b[${code}m${s}\x1b[0m` : s);
  const sevColor = d.severity === "error" ? "1;31" : "1;33";
  const out: string[] = [`${paint(sevColor, `${d.severity}[${d.code}]`)}: ${paint("1", d.message)}`];
  out.push(...frame(d.file, d.span, sources(d.file), paint, sevColor, null));
  for (const n of d.notes) {
    out.push(...frame(n.file, n.span, sources(n.file), paint, "1;36", n.message));
  }
  return out.join("\n");
}

/** A file name as diagnostics show it: `a/b/../c/./spec.gan` as `a/c/spec.gan` (the name itself is what sources are found by). */
export function displayFile(file: string): string {
  if (file === "" || !/(^|[\\/])\.\.?([\\/]|$)|[\\/]{2}/.test(file)) return file;
  return path.normalize(file);
}

function frame(
  file: string,
  span: Span,
  src: SourceText | undefined,
  paint: (c: string, s: string) => string,
  color: string,
  label: string | null,
): string[] {
  if (!src) return [`  --> ${displayFile(file)}`, ...(label ? [`  = note: ${label}`] : [])];
  const a = src.position(span.start);
  const b = src.position(Math.max(span.start, span.end));
  const gutter = String(a.line).length;
  const pad = " ".repeat(gutter);
  const lines = [`${pad}--> ${displayFile(file)}:${a.line}:${a.column}`, `${pad} |`];
  const text = expandTabs(src.lineText(a.line));
  const col = visualColumn(src.lineText(a.line), a.column);
  const endCol = b.line === a.line ? visualColumn(src.lineText(a.line), b.column) : text.length + 1;
  const width = Math.max(1, endCol - col);
  lines.push(`${a.line} | ${text}`);
  lines.push(`${pad} | ${" ".repeat(col - 1)}${paint(color, "^".repeat(width))}${label ? " " + paint(color, label) : ""}`);
  return lines;
}

function expandTabs(s: string): string {
  return s.replace(/\t/g, "    ");
}

function visualColumn(line: string, column: number): number {
  let v = 1;
  for (let i = 0; i < column - 1 && i < line.length; i++) v += line[i] === "\t" ? 4 : 1;
  if (column - 1 > line.length) v += column - 1 - line.length;
  return v;
}

/** "did you mean" by edit distance, for misspelled names. */
export function suggest(name: string, candidates: Iterable<string>): string | null {
  let best: string | null = null;
  let bestD = Infinity;
  for (const c of candidates) {
    const d = editDistance(name.toLowerCase(), c.toLowerCase());
    if (d < bestD) {
      bestD = d;
      best = c;
    }
  }
  return best !== null && bestD <= Math.max(1, Math.floor(name.length / 3)) ? best : null;
}

/** Optimal-string-alignment distance: insertions, deletions, substitutions and swaps of neighbours. */
function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  }
  return d[a.length]![b.length]!;
}
