/**
 * What the language server knows about one version of a document: the checker's diagnostics (the same
 * call as `ganc check`), the AST, the checked program when there were no errors, and an index of the
 * spec's names (where each is declared and every place that names it). Pure: text in, data out.
 */
import type * as A from "../parser/ast.ts";
import { checkText } from "../check.ts";
import type { IncrementalParser } from "./incremental.ts";
import type { Diagnostic } from "../parser/diagnostics.ts";
import type { NetIR, ProgramIR } from "../ir/types.ts";
import { LAYERS, canonicalLayer } from "../parser/signatures.ts";

/** The kinds of names a spec declares. Steps live in their own namespace (`step d` minimizes `loss d`). */
export type SymbolKind = "net" | "block" | "value" | "loss" | "step" | "noise" | "data" | "state";

export interface SymbolDef {
  readonly name: string;
  readonly kind: SymbolKind;
  /** The name where it is declared. */
  readonly span: A.Span;
  readonly decl: A.Decl;
}

export interface SymbolRef {
  readonly name: string;
  readonly kind: SymbolKind;
  readonly span: A.Span;
}

export interface Analysis {
  readonly text: string;
  readonly file: string;
  readonly spec: A.Spec | null;
  readonly program: ProgramIR | null;
  /** The nets that checked without an error, with their shapes (all of the program's when it checked). */
  readonly nets: readonly NetIR[];
  readonly diagnostics: Diagnostic[];
  readonly defs: readonly SymbolDef[];
  readonly refs: readonly SymbolRef[];
}

export const namespaceOf = (k: SymbolKind): "steps" | "names" => (k === "step" ? "steps" : "names");

/**
 * `parser`: a document's IncrementalParser, to parse again only what an edit changed and to infer the
 * shapes of the nets whose text did not change from the last check's (the results are the same).
 */
export function analyze(text: string, file: string, parser?: IncrementalParser): Analysis {
  const r = parser ? checkText(text, file, (t, f) => parser.parse(t, f), { nets: parser.nets }) : checkText(text, file);
  const { defs, refs } = r.spec ? indexSpec(r.spec) : { defs: [], refs: [] };
  return { text, file, spec: r.spec, program: r.program, nets: r.nets, diagnostics: r.diagnostics, defs, refs };
}

function declKind(d: A.Decl): SymbolKind | null {
  switch (d.kind) {
    case "Net":
      return "net";
    case "Block":
      return "block";
    case "Value":
      return "value";
    case "Loss":
      return "loss";
    case "Step":
      return "step";
    case "Noise":
      return "noise";
    case "Data":
      return "data";
    case "State":
      return "state";
    default:
      return null;
  }
}

/** Train settings whose names are steps; the others name values (or, for ema_net, a net). */
const STEP_SETTINGS = new Set(["schedule"]);

export function indexSpec(spec: A.Spec): { defs: SymbolDef[]; refs: SymbolRef[] } {
  const defs: SymbolDef[] = [];
  const refs: SymbolRef[] = [];
  const names = new Map<string, SymbolDef>();
  const steps = new Map<string, SymbolDef>();
  for (const d of spec.decls) {
    const kind = declKind(d);
    if (!kind || !("name" in d)) continue;
    const def: SymbolDef = { name: d.name.name, kind, span: d.name.span, decl: d };
    defs.push(def);
    const table = kind === "step" ? steps : names;
    if (!table.has(def.name)) table.set(def.name, def);
  }
  const refName = (id: { name: string; span: A.Span }) => {
    const d = names.get(id.name);
    if (d) refs.push({ name: id.name, kind: d.kind, span: id.span });
  };
  const refStep = (id: { name: string; span: A.Span }) => {
    const d = steps.get(id.name);
    if (d) refs.push({ name: id.name, kind: "step", span: id.span });
  };
  const expr = (e: A.Expr, onName: (id: { name: string; span: A.Span }) => void = refName): void => {
    switch (e.kind) {
      case "Name":
        onName(e);
        return;
      case "List":
        for (const x of e.items) expr(x, onName);
        return;
      case "Call":
        refName(e.callee);
        for (const a of e.args) expr(a.value, onName);
        return;
      case "Member":
        expr(e.object, onName);
        return;
      case "Unary":
        expr(e.operand, onName);
        return;
      case "Binary":
        expr(e.left, onName);
        expr(e.right, onName);
        return;
      default:
        return;
    }
  };
  const layers = (list: readonly A.Layer[]) => {
    for (const l of list) {
      if (!LAYERS[canonicalLayer(l.op.name)]) {
        const b = names.get(l.op.name);
        if (b?.kind === "block") refs.push({ name: l.op.name, kind: "block", span: l.op.span });
      }
    }
  };
  for (const d of spec.decls) {
    switch (d.kind) {
      case "Net":
      case "Block":
        layers(d.layers);
        break;
      case "Value":
      case "Loss":
        expr(d.expr);
        break;
      case "State":
        expr(d.init);
        break;
      case "Step":
        refName(d.loss);
        for (const n of d.over) refName(n);
        break;
      case "After":
        refStep(d.step);
        if (d.target) refName(d.target);
        expr(d.expr);
        break;
      case "Train":
        for (const a of d.settings) expr(a.value, a.name && STEP_SETTINGS.has(a.name.name) ? refStep : refName);
        break;
      default:
        break;
    }
  }
  return { defs, refs };
}

const inside = (s: A.Span, offset: number) => s.start <= offset && offset <= s.end;

/** The name at `offset` (its declaration or a use), and the declaration it stands for. */
export function symbolAt(a: Analysis, offset: number): { name: string; kind: SymbolKind; span: A.Span; def: SymbolDef | null } | null {
  for (const d of a.defs) if (inside(d.span, offset)) return { name: d.name, kind: d.kind, span: d.span, def: d };
  for (const r of a.refs) {
    if (inside(r.span, offset)) {
      const ns = namespaceOf(r.kind);
      const def = a.defs.find((d) => d.name === r.name && namespaceOf(d.kind) === ns) ?? null;
      return { name: r.name, kind: r.kind, span: r.span, def };
    }
  }
  return null;
}

/** Every place that names the symbol: its declarations first, then its uses, in the order of the file. */
export function occurrences(a: Analysis, name: string, kind: SymbolKind): A.Span[] {
  const ns = namespaceOf(kind);
  const out = [...a.defs.filter((d) => d.name === name && namespaceOf(d.kind) === ns).map((d) => d.span), ...a.refs.filter((r) => r.name === name && namespaceOf(r.kind) === ns).map((r) => r.span)];
  const seen = new Set<string>();
  return out.filter((s) => {
    const k = `${s.start}:${s.end}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}
