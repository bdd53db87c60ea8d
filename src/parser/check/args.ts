import { C } from "../codes.ts";
import type * as A from "../ast.ts";
import { error, suggest, type Diagnostic } from "../diagnostics.ts";
import type { Signature } from "../signatures.ts";

/** Reads the bound arguments of one declaration, reporting unknown, duplicate and ill-typed ones. */
export class ArgReader {
  private readonly byName = new Map<string, A.Arg>();
  constructor(
    private readonly file: string,
    private readonly diags: Diagnostic[],
    args: readonly A.Arg[],
    private readonly what: string,
    allowed: readonly string[] | Signature | undefined,
  ) {
    const names = Array.isArray(allowed) ? allowed : (allowed as Signature | undefined)?.params.map((p) => p.replace("...", ""));
    for (const a of args) {
      if (!a.name) {
        diags.push(error(C.E0110, `too many arguments for ${what}${names ? ` (it takes ${names.length ? names.join(", ") : "none"})` : ""}`, file, a.span));
        continue;
      }
      const prev = this.byName.get(a.name.name);
      if (prev) {
        diags.push(error(C.E0111, `argument '${a.name.name}' given twice`, file, a.name.span, [{ message: "first given here", file, span: prev.name!.span }]));
        continue;
      }
      if (names && !names.includes(a.name.name)) {
        const s = suggest(a.name.name, names);
        diags.push(error(C.E0112, `${what} has no parameter '${a.name.name}'${s ? `; did you mean '${s}'?` : ` (it takes ${names.join(", ") || "none"})`}`, file, a.name.span));
        continue;
      }
      this.byName.set(a.name.name, a);
    }
  }

  has(name: string): boolean {
    return this.byName.has(name);
  }
  arg(name: string): A.Arg | undefined {
    return this.byName.get(name);
  }

  number(name: string, dflt: number, check?: (v: number) => string | null): number;
  number(name: string, dflt: null, check?: (v: number) => string | null): number | null;
  number(name: string, dflt: number | null, check?: (v: number) => string | null): number | null {
    const a = this.byName.get(name);
    if (!a) return dflt;
    const v = constNumber(a.value);
    if (v === null) {
      this.diags.push(error(C.E0113, `'${name}' of ${this.what} must be a number`, this.file, a.value.span));
      return dflt;
    }
    if (!Number.isFinite(v)) {
      this.diags.push(error(C.E0501, `'${name}' of ${this.what} must be finite, got ${v}`, this.file, a.value.span));
      return dflt;
    }
    const problem = check?.(v);
    if (problem) {
      this.diags.push(error(C.E0501, `'${name}' of ${this.what} ${problem}, got ${v}`, this.file, a.value.span));
      return dflt;
    }
    return v;
  }

  posInt(name: string, dflt: number | null): number | null {
    return this.number(name, dflt as number, (v) => (Number.isInteger(v) && v > 0 ? null : "must be a positive whole number"));
  }

  required(name: string, at: A.Span): A.Arg | null {
    const a = this.byName.get(name);
    if (!a) this.diags.push(error(C.E0114, `${this.what} needs '${name}'`, this.file, at));
    return a ?? null;
  }

  bool(name: string, dflt: boolean): boolean {
    const a = this.byName.get(name);
    if (!a) return dflt;
    if (a.value.kind === "Name" && (a.value.name === "true" || a.value.name === "false")) return a.value.name === "true";
    if (a.value.kind === "Number" && (a.value.value === 0 || a.value.value === 1)) return a.value.value === 1;
    this.diags.push(error(C.E0115, `'${name}' of ${this.what} must be true or false`, this.file, a.value.span));
    return dflt;
  }

  word(name: string, dflt: string, allowed: readonly string[]): string {
    const a = this.byName.get(name);
    if (!a) return dflt;
    const w = a.value.kind === "Name" ? a.value.name : a.value.kind === "String" ? a.value.value : null;
    if (w === null || !allowed.includes(w)) {
      const s = w ? suggest(w, allowed) : null;
      this.diags.push(error(C.E0116, `'${name}' of ${this.what} must be one of ${allowed.join(", ")}${s ? `; did you mean '${s}'?` : ""}`, this.file, a.value.span));
      return dflt;
    }
    return w;
  }

  intList(name: string): number[] | null {
    const a = this.byName.get(name);
    if (!a) return null;
    const v = a.value.kind === "List" ? a.value.items.map(constNumber) : [constNumber(a.value)];
    if (v.some((x) => x === null || !Number.isInteger(x) || x <= 0)) {
      this.diags.push(error(C.E0117, `'${name}' of ${this.what} must be a list of positive whole numbers, like [7, 7, 128]`, this.file, a.value.span));
      return null;
    }
    return v as number[];
  }
}

/** Folds a constant arithmetic expression (`7*7*128`, `-1`, `2e-4`); null if it is not constant. */
export function constNumber(e: A.Expr): number | null {
  switch (e.kind) {
    case "Number":
      return e.value;
    case "Unary": {
      const v = constNumber(e.operand);
      return v === null ? null : -v;
    }
    case "Binary": {
      const a = constNumber(e.left);
      const b = constNumber(e.right);
      if (a === null || b === null) return null;
      return e.op === "+" ? a + b : e.op === "-" ? a - b : e.op === "*" ? a * b : a / b;
    }
    default:
      return null;
  }
}
