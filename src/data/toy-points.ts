import { toyDataset } from "../runtime/data.ts";
import { BATCH_DOC, type DataSource } from "./source.ts";

export const toySource = (kind: "ring8" | "grid25", modes: number, doc: string): DataSource => ({
  doc,
  params: { batch: BATCH_DOC, count: "number of points generated (default 10000)" },
  resolve: ({ r }) => ({ shape: [2], numClasses: modes, labelled: true, classNames: null, args: { count: r.posInt("count", 10000)! }, range: null }),
  // The run's seed (--seed, else the spec's) draws the points too: `--seed 5` is the run `seed=5` makes.
  load: async (d, ctx) => toyDataset(kind, d.args.count as number, ctx.seed),
});

