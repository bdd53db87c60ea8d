import { loadEmbeddedMnist, loadIdxDir } from "../runtime/data.ts";
import { BATCH_DOC, LIMIT_DOC, readLimit, type DataSource } from "./source.ts";
import { limited } from "./limit.ts";

/** MNIST digits: the 10,000 embedded in the `mnist` package, or a folder of IDX files. */
export const mnist: DataSource = {
  doc: "MNIST digits 28x28x1 in [0,1] with labels; the embedded 10,000 digits unless a folder of IDX files is given",
  params: { batch: BATCH_DOC, path: "folder of IDX files (train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz])", limit: LIMIT_DOC },
  resolve: ({ r }) => ({ shape: [28, 28, 1], numClasses: 10, labelled: true, classNames: null, args: readLimit(r), range: [0, 1] }),
  async load(d, ctx) {
    return limited(ctx.path ? loadIdxDir(ctx.path, { name: "mnist" }) : loadEmbeddedMnist(), d.args.limit);
  },
};
