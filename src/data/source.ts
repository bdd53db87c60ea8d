/**
 * What one data source is: its arguments and their docs (both front ends bind with them, the schema and
 * the checker read them), the shape and classes of its samples (from the arguments, or the files' headers
 * or folders, never from a table elsewhere), and its loader.
 *
 * A source module imports the parser's types only (erased at run time), so the trainer runtime that
 * loads data never loads the parser; decoders (sharp) and the cache are imported inside `load`, so
 * `ganc check` never loads them.
 */
import type { ArgReader } from "../parser/check/args.ts";
import type { ErrorCode } from "../parser/codes.ts";
import type { Span } from "../parser/ast.ts";
import type { Dataset } from "../runtime/data.ts";

/** A resolved argument value, as it is printed by `check --resolved` and stored in the trainer. */
export type ArgValue = number | string | boolean | readonly number[];

export interface Resolved {
  /** Per-sample shape: [28, 28, 1], [32, 32, 3], [2]. */
  readonly shape: readonly number[];
  /** Width of `real.label` (1 where the data has no labels). */
  readonly numClasses: number;
  /** False: the data has no labels, and `real.label` is an error. */
  readonly labelled: boolean;
  /** Class names where the source has them (folder names); null otherwise. */
  readonly classNames: readonly string[] | null;
  /** Every argument the loader reads, defaults filled in; also printed by `check --resolved`. */
  readonly args: Readonly<Record<string, ArgValue>>;
  /** Where the samples lie; [0, 1] for images. null: unknown. */
  readonly range: readonly [number, number] | null;
}

/** What the checker gives a source to read its arguments with. */
export interface CheckContext {
  readonly r: ArgReader;
  /** The declaration (for errors about the whole of it). */
  readonly span: Span;
  /** Folder of the spec file: relative paths in the spec are read from here. */
  readonly specDir: string;
  /** The spec's `path` argument, when it is a string. */
  readonly path: string | null;
  readonly error: (code: ErrorCode, message: string, at?: Span) => void;
}

/** The data declaration as the generated trainer states it (all defaults resolved by the compiler). */
export interface DataInfo {
  name: string;
  source: string;
  batch: number;
  shape: number[];
  numClasses: number;
  classNames: string[] | null;
  /** The spec's `path`, relative to the spec file; null when the spec gives none. */
  path: string | null;
  args: Record<string, ArgValue>;
}

export interface LoadContext {
  /** The folder or file to read: `--data`, else the spec's `path` resolved against the spec's folder; null if neither. */
  readonly path: string | null;
  /** A further path the spec names (like a labels file): resolved against the spec's folder, and kept inside it. */
  readonly resolve: (p: string) => string;
  /** The run's seed (toy sets draw their points with it). */
  readonly seed: number;
  /** One line of progress or warning for the user. */
  readonly log: (line: string) => void;
  /** False when output is not a terminal or the run is quiet: no progress bar. */
  readonly progress: boolean;
}

export interface DataSource {
  /** One line for the docs, the schema and `ganc explain`. */
  readonly doc: string;
  /** Parameters in positional order, each with its doc (batch comes first everywhere). */
  readonly params: Readonly<Record<string, string>>;
  /** Reads and checks the arguments. Cheap: at most a folder listing or a file header, never a decode. */
  resolve(ctx: CheckContext): Resolved | null;
  load(d: DataInfo, ctx: LoadContext): Promise<Dataset>;
}

export const BATCH_DOC = "samples per batch (default 64)";
export const FLIP_DOC = "mirror each real image left-right with probability 1/2, drawn from the seed, epoch and position (default false)";
export const LIMIT_DOC = "use at most this many samples (the first ones, in file order)";

/** `{ limit }` when the spec limits the samples, else nothing (read from `r` unless already read). */
export function readLimit(r: ArgReader, read: number | null = r.posInt("limit", null)): Record<string, ArgValue> {
  return read === null ? {} : { limit: read };
}
