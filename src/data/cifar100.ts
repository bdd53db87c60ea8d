import { DataError } from "../runtime/data.ts";
import { cifarFiles, namesFile, readCifar } from "./cifar-format.ts";
import { SPLIT_DOC } from "./cifar10.ts";
import { BATCH_DOC, FLIP_DOC, LIMIT_DOC, readLimit, type DataSource } from "./source.ts";

export const cifar100: DataSource = {
  doc: "CIFAR-100 from its binary files (train.bin, test.bin): 32x32x3 in [0,1], 100 fine or 20 coarse classes",
  params: {
    batch: BATCH_DOC,
    path: "the folder of the binary files (cifar-100-binary), or one .bin file",
    split: SPLIT_DOC,
    labels: "fine (100 classes, default) or coarse (20 superclasses)",
    flip: FLIP_DOC,
    limit: LIMIT_DOC,
  },
  resolve({ r, span, path: p }) {
    if (p === null && !r.has("path")) r.required("path", span);
    const split = r.word("split", "train", ["train", "test"]);
    const labels = r.word("labels", "fine", ["fine", "coarse"]);
    const limit = r.posInt("limit", null);
    const args = { split, labels, flip: r.bool("flip", false), ...readLimit(r, limit) };
    return { shape: [32, 32, 3], numClasses: labels === "fine" ? 100 : 20, labelled: true, classNames: null, args, range: [0, 1] };
  },
  async load(d, ctx) {
    if (!ctx.path) throw new DataError("cifar100 needs its binary files: give path in the spec or --data DIR");
    const files = cifarFiles(ctx.path, [d.args.split === "test" ? "test.bin" : "train.bin"], "cifar100");
    const fine = d.args.labels !== "coarse";
    const n = fine ? 100 : 20;
    return readCifar(files, {
      labelBytes: 2,
      labelAt: fine ? 1 : 0,
      numClasses: n,
      name: "cifar100",
      limit: d.args.limit as number | undefined,
      classNames: namesFile(ctx.path, fine ? "fine_label_names.txt" : "coarse_label_names.txt", n),
      flip: d.args.flip === true,
    });
  },
};
