/**
 * The data sources, one module each, in one table. Adding a source: a file beside this one exporting a
 * `DataSource`, its name in `SourceName`, one line in `SOURCES` (TypeScript refuses the table until both
 * agree), and its branch in grammar/gan.schema.json (test/parser/yaml.test.ts says what is missing).
 */
import * as path from "node:path";
import { DataError, type Dataset } from "../runtime/data.ts";
import type { DataInfo, DataSource } from "./source.ts";
import { mnist } from "./mnist.ts";
import { fashion_mnist } from "./fashion-mnist.ts";
import { mnist_color } from "./mnist-color.ts";
import { ring8 } from "./ring8.ts";
import { grid25 } from "./grid25.ts";
import { images } from "./images.ts";
import { cifar10 } from "./cifar10.ts";
import { cifar100 } from "./cifar100.ts";
import { npy } from "./npy.ts";

export type SourceName = "mnist" | "fashion_mnist" | "mnist_color" | "ring8" | "grid25" | "images" | "cifar10" | "cifar100" | "npy";

export const SOURCES: { readonly [K in SourceName]: DataSource } = {
  mnist,
  fashion_mnist,
  mnist_color,
  ring8,
  grid25,
  images,
  cifar10,
  cifar100,
  npy,
};

export const isSourceName = (s: string): s is SourceName => Object.hasOwn(SOURCES, s);

export type { DataInfo, DataSource } from "./source.ts";

/**
 * A path written inside a spec is data, not a licence to read anywhere: it is resolved against the spec's
 * folder and must stay inside that folder or the working folder. Paths given on the command line
 * (--data) are the user's own choice and are not restricted.
 */
export function specRelativePath(specFile: string, p: string): string {
  const specDir = path.resolve(path.dirname(specFile));
  const full = path.resolve(specDir, p);
  const inside = (root: string) => full === root || full.startsWith(root + path.sep);
  if (!inside(specDir) && !inside(process.cwd())) {
    throw new DataError(`data path "${p}" in ${specFile} resolves to ${full}, outside the spec's folder and the working folder; pass it with --data if you mean it`);
  }
  return full;
}

/** Loads the data a trainer declares: `--data` (opts.data) overrides the spec's path. */
export async function loadDataset(
  d: DataInfo,
  opts: { specFile: string; data?: string; seed: number; log?: (line: string) => void; progress?: boolean },
): Promise<Dataset> {
  if (!isSourceName(d.source)) throw new DataError(`unknown data source '${d.source}' (known: ${Object.keys(SOURCES).join(", ")})`);
  const p = opts.data ?? (d.path ? specRelativePath(opts.specFile, d.path) : null);
  const resolve = (q: string) => specRelativePath(opts.specFile, q);
  return SOURCES[d.source].load(d, { path: p, resolve, seed: opts.seed, log: opts.log ?? (() => {}), progress: opts.progress ?? false });
}
