import { loadIdxDir, DataError } from "../runtime/data.ts";
import type { DataSource } from "./source.ts";
import { limited } from "./limit.ts";
import { mnist } from "./mnist.ts";

/** Fashion-MNIST: IDX files only (nothing is embedded). */
export const fashion_mnist: DataSource = {
  doc: "Fashion-MNIST 28x28x1 in [0,1] with labels, from IDX files",
  params: mnist.params,
  resolve: mnist.resolve,
  async load(d, ctx) {
    if (!ctx.path) throw new DataError("fashion_mnist needs its IDX files: pass --data DIR (train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz])");
    return limited(loadIdxDir(ctx.path, { name: "fashion-mnist" }), d.args.limit);
  },
};
