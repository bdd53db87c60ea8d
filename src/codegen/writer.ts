/** A line-oriented code writer: two-space indentation, LF only, no trailing spaces. */
export class Writer {
  private readonly lines: string[] = [];
  private depth = 0;

  line(text = ""): this {
    this.lines.push(text === "" ? "" : "  ".repeat(this.depth) + text);
    return this;
  }

  /** `open` then an indented body then `close`: `w.block("function f() {", () => ..., "}")`. */
  block(open: string, body: () => void, close = "}"): this {
    this.line(open);
    this.depth++;
    body();
    this.depth--;
    return this.line(close);
  }

  /** Where the next line will go; `splice(at, other)` inserts another writer's lines there, at this indentation. */
  mark(): { at: number; depth: number } {
    return { at: this.lines.length, depth: this.depth };
  }

  splice(mark: { at: number; depth: number }, body: (w: Writer) => void): this {
    const w = new Writer();
    w.depth = mark.depth;
    body(w);
    this.lines.splice(mark.at, 0, ...w.lines);
    return this;
  }

  toString(): string {
    return this.lines.join("\n").replace(/\n{3,}/g, "\n\n") + "\n";
  }
}

/** A number as TypeScript source, exact and stable (`0.0002` -> `2e-4`). */
export function num(x: number): string {
  if (Object.is(x, -0)) return "-0";
  const s = String(x);
  const e = x.toExponential().replace(/e\+?/, "e").replace(/\.0+e|(\.\d*?)0+e/, "$1e");
  return e.length < s.length && Number(e) === x ? e : s;
}

/** A JS identifier made from a spec name (`D/conv1/kernel` -> `D_conv1_kernel`). */
export function ident(name: string): string {
  const s = name.replace(/[^A-Za-z0-9_]/g, "_");
  return /^[0-9]/.test(s) ? `_${s}` : s;
}
