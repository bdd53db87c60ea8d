import * as path from "node:path";
import { loadEmbeddedMnist, loadIdxDir, toyDataset, type Dataset } from "./data.ts";
import { TrainingError, type SpecInfo } from "./run-spec.ts";

/**
 * The session's one door to the data sources: the spec's data (or --data) as a Dataset. The session
 * batches it (data.ts's BatchIterator) and knows nothing else about where it came from.
 */

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
    throw new TrainingError(`data path "${p}" in ${specFile} resolves to ${full}, outside the spec's folder and the working folder; pass it with --data if you mean it`);
  }
  return full;
}

export function loadData(spec: SpecInfo, opts: { data?: string; seed?: number }): Dataset {
  const d = spec.data;
  // The run's seed (--seed, else the spec's) draws the toy points too: `--seed 5` is the run `seed=5` makes.
  if (d.source === "ring8" || d.source === "grid25") return toyDataset(d.source, d.count ?? 10000, opts.seed ?? spec.train.seed);
  const dir = opts.data ?? (d.path ? specRelativePath(spec.source, d.path) : null);
  let ds: Dataset;
  if (dir) ds = loadIdxDir(dir, { name: d.source === "fashion_mnist" ? "fashion-mnist" : "mnist" });
  else if (d.source === "fashion_mnist") throw new TrainingError("fashion_mnist needs its IDX files: pass --data DIR (train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz])");
  else ds = loadEmbeddedMnist();
  if (d.limit && d.limit < ds.count) {
    const per = ds.shape.reduce((a, b) => a * b, 1);
    ds = { ...ds, count: d.limit, x: ds.x.subarray(0, d.limit * per), labels: ds.labels ? ds.labels.subarray(0, d.limit) : null };
  }
  return ds;
}
