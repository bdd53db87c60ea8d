import type { LayerInfo, NetIR } from "../../ir/types.ts";

/**
 * Nets' shape inference kept from one check of a document to the next (the language server re-checks a
 * spec after every edit, and most nets are unchanged). A net's result is a function of its declaration's
 * text, where it stands, the shapes and labels given to its inputs, the blocks (their text and place) and
 * the file: that is the key, less the net's place, which is applied to a kept result by moving its lines.
 * Only nets that checked without a diagnostic and share no table are kept, so a hit adds no diagnostic.
 *
 * Entries not used by the last check are dropped after it (see `sweep`), so the cache holds one version.
 */
export class NetCache {
  private entries = new Map<string, { ir: NetIR; line: number }>();
  private used = new Map<string, { ir: NetIR; line: number }>();
  /** Counts, for tests and the benchmark: nets taken from the cache (`moved`: of them, moved to other lines). */
  hits = 0;
  moved = 0;
  misses = 0;

  /** The kept result for `key`, moved to a declaration that starts on `line`; undefined when none. */
  get(key: string, line: number): NetIR | undefined {
    const e = this.entries.get(key) ?? this.used.get(key);
    if (!e) {
      this.misses++;
      return undefined;
    }
    this.hits++;
    if (e.line !== line) this.moved++;
    const ir = e.line === line ? e.ir : moveLines(e.ir, line - e.line);
    this.used.set(key, { ir, line });
    return ir;
  }

  set(key: string, ir: NetIR, line: number): void {
    this.used.set(key, { ir, line });
  }

  /** Ends a check: what it did not use is dropped. */
  sweep(): void {
    this.entries = this.used;
    this.used = new Map();
  }
}

/**
 * The net's lines moved by `by`: its own and its own layers'. A block instance's layers keep theirs (they
 * are the block's lines, and the blocks' text and place are part of the key).
 */
function moveLines(ir: NetIR, by: number): NetIR {
  return { ...ir, line: ir.line + by, layers: ir.layers.map((l): LayerInfo => (l.instance === undefined ? { ...l, line: l.line + by } : l)) };
}
