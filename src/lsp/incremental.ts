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
import { NetCache } from "../parser/check/net-cache.ts";

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
  if (typeof node !== "object" || node === null) return node;
  if (Array.isArray(node)) {
    const out = new Array(node.length);
    for (let i = 0; i < node.length; i++) out[i] = shifted(node[i], by);
    return out as T;
  }
  const out: Record<string, unknown> = {};
  for (const k in node) {
    const v = (node as Record<string, unknown>)[k];
    out[k] = k === "span" ? { start: (v as A.Span).start + by, end: (v as A.Span).end + by } : shifted(v, by);
  }
  return out as T;
}

/** A piece's parse (relative to the piece) and its declarations where the piece stood last (at `at`). */
interface Piece {
  readonly spec: A.Spec;
  at: number;
  decls: readonly A.Decl[];
}

export class IncrementalParser {
  /** Each piece's parse, by its text: those of the last version parsed. */
  private pieces = new Map<string, Piece>();
  /** The nets' shape inference of the document's last check (src/parser/check/net-cache.ts). */
  readonly nets = new NetCache();
  /** Whether the last parse was put together from pieces (false: the whole text was parsed). */
  fromPieces = false;

  parse(text: string, file: string): ParsedSpec {
    this.fromPieces = false;
    if (isYamlFile(file) || text.length > MAX_SPEC_CHARS) return parseSpec(text, file);
    const starts = pieceStarts(text);
    if (starts.length < 3) return parseSpec(text, file);
    const next = new Map<string, Piece>();
    const decls: A.Decl[] = [];
    let name: string | null = null;
    let end = 0;
    for (let i = 0; i < starts.length; i++) {
      const at = starts[i]!;
      const pieceText = text.slice(at, starts[i + 1] ?? text.length);
      let piece = next.get(pieceText) ?? this.pieces.get(pieceText);
      if (!piece) {
        const r = parseSpec(pieceText, file);
        if (!r.spec || r.diagnostics.length) {
          this.pieces = new Map();
          return parseSpec(text, file);
        }
        piece = { spec: r.spec, at: 0, decls: r.spec.decls };
      }
      next.set(pieceText, piece);
      const spec = piece.spec;
      // `gan "name"` belongs before the first declaration only.
      if (i === 0) name = spec.name;
      else if (spec.name !== null) {
        this.pieces = new Map();
        return parseSpec(text, file);
      }
      // Declarations that did not move are the last version's; the others are copies moved to their place.
      if (piece.at !== at) {
        piece.decls = spec.decls.map((d) => shifted(d, at));
        piece.at = at;
      }
      for (const d of piece.decls) decls.push(d);
      if (spec.decls.length) end = spec.span.end + at;
    }
    this.pieces = next;
    this.fromPieces = true;
    return { spec: { kind: "Spec", file, name, decls, span: { start: 0, end } }, diagnostics: [] };
  }
}
