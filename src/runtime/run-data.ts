import { loadDataset, specRelativePath } from "../data/index.ts";
import type { Dataset } from "./data.ts";
import type { SpecInfo } from "./run-spec.ts";

/**
 * The session's one door to the data sources: the spec's data (or --data) as a Dataset. The session
 * batches it (data.ts's BatchIterator) and knows nothing else about where it came from; each source's
 * loader lives in src/data/.
 */

export { specRelativePath };

/** The run's data: the spec's source, `--data` overriding its path, the run's seed drawing toy points. */
export function loadData(spec: SpecInfo, opts: { data?: string; seed?: number }, io: { log?: (line: string) => void; progress?: boolean } = {}): Promise<Dataset> {
  return loadDataset(spec.data, { specFile: spec.source, data: opts.data, seed: opts.seed ?? spec.train.seed, ...io });
}
