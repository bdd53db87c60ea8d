import type { Arg, Expr, Ident } from "./ast.ts";
import type { Signature } from "./signatures.ts";

/**
 * Gives every positional argument its parameter name from `sig`, and spells aliased names canonically.
 * Arguments that cannot be bound (too many, or no signature) keep `name: null`; the checker reports them.
 */
export function bindArgs(sig: Signature | undefined, args: readonly Arg[]): Arg[] {
  if (!sig) return [...args];
  const out: Arg[] = [];
  let pos = 0;
  const variadic = sig.params.find((p) => p.endsWith("..."));
  const rest: Expr[] = [];
  let restSpan: { start: number; end: number } | null = null;
  for (const a of args) {
    if (a.name) {
      const canon = sig.aliases?.[a.name.name] ?? a.name.name;
      const name: Ident = canon === a.name.name ? a.name : { ...a.name, name: canon };
      out.push({ ...a, name });
      continue;
    }
    const p = sig.params[pos];
    if (p !== undefined && !p.endsWith("...")) {
      out.push({ ...a, name: { kind: "Ident", name: p, span: a.span } });
      pos++;
    } else if (variadic) {
      rest.push(a.value);
      restSpan = restSpan ? { start: restSpan.start, end: a.span.end } : a.span;
    } else {
      out.push(a);
    }
  }
  if (variadic && restSpan) {
    const name = variadic.slice(0, -3);
    out.push({
      kind: "Arg",
      name: { kind: "Ident", name, span: restSpan },
      value: { kind: "List", items: rest, span: restSpan },
      span: restSpan,
    });
  }
  return out;
}
