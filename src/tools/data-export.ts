/*
 * `ganc data <spec> -o DIR`: the spec's data as the trainers see it, decoded, in NumPy's format: `x.npy`
 * (float32 [N, ...shape], images NHWC in [0, 1], samples in the data set's own order) and `labels.npy`
 * (int32 [N], when the data are labelled), plus `data.json` saying where they came from. The PyTorch trainer
 * (`ganc compile --target pytorch`) reads this folder with `--data DIR`, so that both trainers batch the same
 * values in the same order for a seed: each epoch's permutation is drawn over these indices.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import type { Dataset } from "../runtime/data.ts";
import { writeFileAtomic } from "../runtime/fsutil.ts";
import { npyBytes } from "../runtime/trace.ts";

/** Writes the data set's samples and labels to `dir`; returns what it wrote. */
export function exportDataset(ds: Dataset, dir: string, source: { spec: string; data: string }): { count: number; shape: number[]; files: string[] } {
  const size = ds.shape.reduce((a, b) => a * b, 1);
  let x = ds.x;
  if (!x) {
    // A data set read from disk a batch at a time (image folders, the decode cache): read it all, in order.
    x = new Float32Array(ds.count * size);
    const chunk = 1024;
    for (let i = 0; i < ds.count; i += chunk) {
      const n = Math.min(chunk, ds.count - i);
      const out = new Float32Array(n * size);
      ds.read!(Array.from({ length: n }, (_, k) => i + k), out);
      x.set(out, i * size);
    }
  }
  fs.mkdirSync(dir, { recursive: true });
  const files = ["x.npy"];
  writeFileAtomic(path.join(dir, "x.npy"), npyBytes(x, [ds.count, ...ds.shape]));
  if (ds.labels) {
    writeFileAtomic(path.join(dir, "labels.npy"), npyBytes(ds.labels, [ds.count]));
    files.push("labels.npy");
  }
  const info = { spec: source.spec, data: source.data, name: ds.name, count: ds.count, shape: ds.shape, numClasses: ds.numClasses, classNames: ds.classNames ?? null, flip: ds.flip ?? false };
  writeFileAtomic(path.join(dir, "data.json"), JSON.stringify(info, null, 2) + "\n");
  files.push("data.json");
  return { count: ds.count, shape: ds.shape, files };
}
