import { DataError } from "../runtime/data.ts";
import { cifarFiles, namesFile, readCifar } from "./cifar-format.ts";
import { BATCH_DOC, FLIP_DOC, LIMIT_DOC, readLimit, type DataSource } from "./source.ts";

export const SPLIT_DOC = "train (default) or test: which files of the folder to read";

export const cifar10: DataSource = {
  doc: "CIFAR-10 from its binary files (data_batch_1.bin ... data_batch_5.bin, test_batch.bin): 32x32x3 in [0,1], 10 classes",
  params: { batch: BATCH_DOC, path: "the folder of the binary files (cifar-10-batches-bin), or one .bin file", split: SPLIT_DOC, flip: FLIP_DOC, limit: LIMIT_DOC },
  resolve({ r, span, path: p }) {
    if (p === null && !r.has("path")) r.required("path", span);
    const split = r.word("split", "train", ["train", "test"]);
    const limit = r.posInt("limit", null);
    return { shape: [32, 32, 3], numClasses: 10, labelled: true, classNames: null, args: { split, flip: r.bool("flip", false), ...readLimit(r, limit) }, range: [0, 1] };
  },
  async load(d, ctx) {
    if (!ctx.path) throw new DataError("cifar10 needs its binary files: give path in the spec or --data DIR");
    const names = d.args.split === "test" ? ["test_batch.bin"] : [1, 2, 3, 4, 5].map((i) => `data_batch_${i}.bin`);
    const files = cifarFiles(ctx.path, names, "cifar10");
    return readCifar(files, { labelBytes: 1, labelAt: 0, numClasses: 10, name: "cifar10", limit: d.args.limit as number | undefined, classNames: namesFile(ctx.path, "batches.meta.txt", 10), flip: d.args.flip === true });
  },
};
