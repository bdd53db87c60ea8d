/** Python source helpers: a writer with four-space indentation, numbers and names as Python spells them. */
import { num } from "../writer.ts";

export class PyWriter {
  private readonly lines: string[] = [];
  private depth = 0;

  line(text = ""): this {
    this.lines.push(text === "" ? "" : "    ".repeat(this.depth) + text);
    return this;
  }

  /** `head` (ending in a colon) then an indented body. */
  block(head: string, body: () => void): this {
    this.line(head);
    this.depth++;
    const before = this.lines.length;
    body();
    if (this.lines.length === before) this.line("pass");
    this.depth--;
    return this;
  }

  toString(): string {
    return this.lines.join("\n").replace(/\n{4,}/g, "\n\n\n") + "\n";
  }
}

/** A number as Python source, always a float (`2e-4`, `1.0`, `float("inf")`). */
export function pyNum(x: number): string {
  if (x === Infinity) return 'float("inf")';
  if (x === -Infinity) return '-float("inf")';
  if (Number.isNaN(x)) return 'float("nan")';
  const s = num(x);
  return /[.e]/.test(s) ? s : `${s}.0`;
}

const KEYWORDS = new Set(
  "False None True and as assert async await break class continue def del elif else except finally for from global if import in is lambda nonlocal not or pass raise return try while with yield".split(" "),
);

/** A Python identifier made from a spec name (`D/conv1/kernel` -> `D_conv1_kernel`, `lambda` -> `lambda_`). */
export function pyIdent(name: string): string {
  const s = name.replace(/[^A-Za-z0-9_]/g, "_");
  const t = /^[0-9]/.test(s) ? `_${s}` : s;
  return KEYWORDS.has(t) ? `${t}_` : t;
}

/** A JSON value as a Python literal. */
export function pyLiteral(v: unknown): string {
  if (v === null || v === undefined) return "None";
  if (v === true) return "True";
  if (v === false) return "False";
  if (typeof v === "number") return Number.isInteger(v) ? String(v) : pyNum(v);
  if (typeof v === "string") return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map(pyLiteral).join(", ")}]`;
  return `{${Object.entries(v as Record<string, unknown>).map(([k, x]) => `${JSON.stringify(k)}: ${pyLiteral(x)}`).join(", ")}}`;
}
