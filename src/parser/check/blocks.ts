import { C } from "../codes.ts";
import type * as A from "../ast.ts";
import { error, suggest, type Diagnostic } from "../diagnostics.ts";

/**
 * Blocks: reusable sub-networks with parameters. A block's parameters stand for the expressions its
 * instance gives (numbers, usually), substituted into its layers' arguments before the layers are checked,
 * so each instance is checked with its own shapes.
 */

/** `expr` with every name in `subst` replaced by its expression. */
export function substitute(e: A.Expr, subst: ReadonlyMap<string, A.Expr>): A.Expr {
  switch (e.kind) {
    case "Name":
      return subst.get(e.name) ?? e;
    case "List":
      return { ...e, items: e.items.map((x) => substitute(x, subst)) };
    case "Call":
      return { ...e, args: substituteArgs(e.args, subst) };
    case "Member":
      return { ...e, object: substitute(e.object, subst) };
    case "Unary":
      return { ...e, operand: substitute(e.operand, subst) };
    case "Binary":
      return { ...e, left: substitute(e.left, subst), right: substitute(e.right, subst) };
    default:
      return e;
  }
}

export function substituteArgs(args: readonly A.Arg[], subst: ReadonlyMap<string, A.Expr>): A.Arg[] {
  return subst.size === 0 ? [...args] : args.map((a) => ({ ...a, value: substitute(a.value, subst) }));
}

/**
 * The parameters of an instance `l` of block `b`: positional arguments in the block's order, named ones by
 * name, defaults for the rest. Reports a wrong count, an unknown or repeated name and a missing value (E0163).
 */
export function bindInstance(l: A.Layer, b: A.BlockDecl, outer: ReadonlyMap<string, A.Expr>, file: string, diags: Diagnostic[]): Map<string, A.Expr> | null {
  const names = b.params.map((p) => p.name.name);
  const sig = `${b.name.name}(${b.params.map((p) => p.name.name + (p.dflt ? "=..." : "")).join(", ")})`;
  const note = [{ message: `block ${b.name.name} is declared here`, file, span: b.name.span }];
  const out = new Map<string, A.Expr>();
  let pos = 0;
  let ok = true;
  for (const a of l.args) {
    let pname: string;
    if (a.name) {
      pname = a.name.name;
      if (!names.includes(pname)) {
        const s = suggest(pname, names);
        diags.push(error(C.E0163, `block ${b.name.name} has no parameter '${pname}'${s ? `; did you mean '${s}'?` : ` (it takes ${sig})`}`, file, a.name.span, note));
        ok = false;
        continue;
      }
    } else {
      if (pos >= names.length) {
        diags.push(error(C.E0163, `block ${sig} takes ${names.length} argument${names.length === 1 ? "" : "s"}, got ${l.args.filter((x) => !x.name).length} positional`, file, a.span, note));
        ok = false;
        break;
      }
      pname = names[pos++]!;
    }
    if (out.has(pname)) {
      diags.push(error(C.E0163, `parameter '${pname}' of block ${b.name.name} is given twice`, file, a.span, note));
      ok = false;
      continue;
    }
    out.set(pname, substitute(a.value, outer));
  }
  for (const p of b.params) {
    if (out.has(p.name.name)) continue;
    if (p.dflt) out.set(p.name.name, p.dflt);
    else if (ok) {
      diags.push(error(C.E0163, `block ${sig} needs a value for '${p.name.name}'`, file, l.span, note));
      ok = false;
    }
  }
  return ok ? out : null;
}

/** Reports each cycle of blocks instantiating each other (E0164) and gives the blocks on one. */
export function recursiveBlocks(blocks: ReadonlyMap<string, A.BlockDecl>, file: string, diags: Diagnostic[]): Set<string> {
  const bad = new Set<string>();
  const state = new Map<string, "open" | "done">();
  const path: { block: string; via: A.Layer | null }[] = [];
  const visit = (name: string, via: A.Layer | null) => {
    if (state.get(name) === "done") return;
    if (state.get(name) === "open") {
      const at = path.findIndex((p) => p.block === name);
      const cycle = path.slice(at).map((p) => p.block);
      cycle.forEach((c) => bad.add(c));
      const notes = path.slice(at + 1).map((p) => ({ message: `${p.block} is instantiated here`, file, span: p.via!.op.span }));
      diags.push(error(C.E0164, `blocks instantiate each other without end: ${[...cycle, name].join(" -> ")}`, file, via!.op.span, notes));
      return;
    }
    state.set(name, "open");
    path.push({ block: name, via });
    for (const l of blocks.get(name)!.layers) if (blocks.has(l.op.name)) visit(l.op.name, l);
    path.pop();
    state.set(name, "done");
  };
  for (const name of blocks.keys()) visit(name, null);
  return bad;
}
