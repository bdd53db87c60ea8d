import type { MemoryDataset } from "../runtime/data.ts";
import type { ArgValue } from "./source.ts";

/** The first `limit` samples of an in-memory set (the set itself when there is no limit or it is larger). */
export function limited(ds: MemoryDataset, limit: ArgValue | undefined): MemoryDataset {
  if (typeof limit !== "number" || limit >= ds.count) return ds;
  const per = ds.shape.reduce((a, b) => a * b, 1);
  return { ...ds, count: limit, x: ds.x.subarray(0, limit * per), labels: ds.labels ? ds.labels.subarray(0, limit) : null };
}
