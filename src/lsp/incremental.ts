/**
 * Parsing a long `.gan` spec again after an edit, without parsing what the edit did not touch. The text is
 * cut where a line starts a declaration (a keyword, or `name =`); each piece is parsed alone and kept, by
 * its text, for the next version. The pieces' declarations, moved to their offsets, are the spec.
 *
 * This is only an optimization of parseSpec: it is used when every piece parses without a diagnostic, and
 * then gives the AST parseSpec gives (test/lsp/incremental.test.ts checks this on random edits). Otherwise
 * (a syntax error anywhere, a YAML spec, a spec of one declaration) the whole text is parsed as usual, so
 * the diagnostics are always parseSpec's.
 */
import type * as A from "../parser/ast.ts";
import { isYamlFile, MAX_SPEC_CHARS, parseSpec, type ParsedSpec } from "../parser/index.ts";

/** A line that starts a declaration: one of the declaration keywords, or a value (`fake = ...`, not `==`). */
const DECL_START = /(?:^|(?<=[\n\r]))(?:(?:data|noise|net|block|loss|state|step|after|train)\b|[A-Za-z_]\w*[ \t]*=(?!=))/g;

/** Where the pieces start: the first piece also holds what comes before the second declaration. */
export function pieceStarts(text: string): number[] {
  const starts = [0];
  let first = true;
  for (const m of text.matchAll(DECL_START)) {
    if (first) {
      first = false;
      continue;
    }
    starts.push(m.index);
  }
  return starts;
}

/** A deep copy of `node` with every span moved by `by` (spans may be shared between nodes: never mutated). */
function shifted<T>(node: T, by: number): T {
  if (Array.isArray(node)) return node.map((x) => shifted(x, by)) as T;
  if (node && typeof node === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(node)) {
      out[k] = k === "span" ? { start: (v as A.Span).start + by, end: (v as A.Span).end + by } : shifted(v, by);
    }
    return out as T;
  }
  return node;
}

export class IncrementalParser {
  /** Each piece's parse (relative to the piece), by its text: those of the last version parsed. */
  private pieces = new Map<string, A.Spec>();
  /** Whether the last parse was put together from pieces (false: the whole text was parsed). */
  fromPieces = false;

  parse(text: string, file: string): ParsedSpec {
    this.fromPieces = false;
    if (isYamlFile(file) || text.length > MAX_SPEC_CHARS) return parseSpec(text, file);
    const starts = pieceStarts(text);
    if (starts.length < 3) return parseSpec(text, file);
    const next = new Map<string, A.Spec>();
    const decls: A.Decl[] = [];
    let name: string | null = null;
    let end = 0;
    for (let i = 0; i < starts.length; i++) {
      const at = starts[i]!;
      const piece = text.slice(at, starts[i + 1] ?? text.length);
      let spec = this.pieces.get(piece) ?? next.get(piece);
      if (!spec) {
        const r = parseSpec(piece, file);
        if (!r.spec || r.diagnostics.length) {
          this.pieces = new Map();
          return parseSpec(text, file);
        }
        spec = r.spec;
      }
      next.set(piece, spec);
      // `gan "name"` belongs before the first declaration only.
      if (i === 0) name = spec.name;
      else if (spec.name !== null) {
        this.pieces = new Map();
        return parseSpec(text, file);
      }
      for (const d of spec.decls) decls.push(shifted(d, at));
      if (spec.decls.length) end = spec.span.end + at;
    }
    this.pieces = next;
    this.fromPieces = true;
    return { spec: { kind: "Spec", file, name, decls, span: { start: 0, end } }, diagnostics: [] };
  }
}
