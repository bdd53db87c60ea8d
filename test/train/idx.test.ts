import * as fs from "node:fs";
import * as path from "node:path";
import * as zlib from "node:zlib";
import { describe, expect, it } from "vitest";
import { loadEmbeddedMnist } from "../../src/runtime/data.ts";
import { ganc, readJsonl, tmpDir } from "../helpers.ts";

/** Writes MNIST-format IDX files (images magic 2051, labels magic 2049), gzipped like the originals. */
function writeIdx(dir: string, images: Uint8Array, labels: Uint8Array, n: number): void {
  const img = Buffer.alloc(16 + n * 784);
  img.writeUInt32BE(2051, 0);
  img.writeUInt32BE(n, 4);
  img.writeUInt32BE(28, 8);
  img.writeUInt32BE(28, 12);
  img.set(images, 16);
  const lab = Buffer.alloc(8 + n);
  lab.writeUInt32BE(2049, 0);
  lab.writeUInt32BE(n, 4);
  lab.set(labels, 8);
  fs.writeFileSync(path.join(dir, "train-images-idx3-ubyte.gz"), zlib.gzipSync(img));
  fs.writeFileSync(path.join(dir, "train-labels-idx1-ubyte.gz"), zlib.gzipSync(lab));
}

describe("real MNIST / Fashion-MNIST IDX files from a local folder", () => {
  it("ganc train --data DIR trains on them (fashion_mnist and mnist), and a broken folder is a clear error", () => {
    const dir = tmpDir();
    const ds = loadEmbeddedMnist();
    const n = 256;
    const images = Uint8Array.from(ds.x.subarray(0, n * 784), (v) => Math.round(v * 255));
    writeIdx(dir, images, Uint8Array.from(ds.labels!.subarray(0, n)), n);
    const spec = path.join(dir, "fashion.gan");
    fs.writeFileSync(spec, fs.readFileSync("test/fixtures/mlp-mnist.gan", "utf8").replace("mnist(batch=64)", "fashion_mnist(batch=64)"));
    const out = path.join(dir, "run");
    const r = ganc(["train", spec, "--data", dir, "--out", out, "--steps", "8", "--log-every", "4"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain("data: fashion-mnist, 256 samples of [28, 28, 1], batch 64, 4 iterations per epoch");
    expect(readJsonl(path.join(out, "metrics.jsonl")).map((m) => m.epoch)).toEqual([1, 2]);
    // fashion_mnist without files says what it needs.
    const missing = ganc(["train", spec, "--out", path.join(dir, "run2"), "--steps", "1"]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/error: fashion_mnist needs its IDX files: pass --data DIR/);
    // A truncated image file is named in the error.
    fs.writeFileSync(path.join(dir, "train-images-idx3-ubyte.gz"), zlib.gzipSync(Buffer.alloc(100)));
    const broken = ganc(["train", "test/fixtures/mlp-mnist.gan", "--data", dir, "--out", path.join(dir, "run3"), "--steps", "1"]);
    expect(broken.code).toBe(1);
    expect(broken.stderr).toMatch(/error: .*train-images-idx3-ubyte\.gz/);
    expect(broken.stderr).not.toMatch(/\n\s+at /);
  }, 120_000);
});
