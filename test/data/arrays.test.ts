import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { zipSync } from "fflate";
import { checkText } from "../../src/compile.ts";
import { parseSpec } from "../../src/parser/index.ts";
import { printYaml } from "../../src/parser/print.ts";
import { loadDataset, type DataInfo } from "../../src/data/index.ts";
import { DataError, type Dataset } from "../../src/runtime/data.ts";
import { arrayFileReads, readNpy, readNpyHeader } from "../../src/data/npy-format.ts";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "ganc-arrays-"));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const SPEC = path.join(tmp, "spec.gan");

/** Every sample of a data set as floats, in order. */
function samples(ds: Dataset): number[][] {
  const per = ds.shape.reduce((a, b) => a * b, 1);
  return Array.from({ length: ds.count }, (_, i) => {
    if (ds.x) return Array.from(ds.x.subarray(i * per, (i + 1) * per));
    const out = new Float32Array(per);
    ds.read!([i], out);
    return Array.from(out);
  });
}
const bytesOf = (ds: Dataset) => samples(ds).map((s) => s.map((v) => Math.round(v * 255)));

/** Checks a spec declaring `data`, in .gan and in YAML; both give the same data IR, which is returned. */
function checkBoth(data: string, shape: number[]): DataInfo & { labelled: boolean } {
  const flat = shape.reduce((a, b) => a * b, 1);
  const text = `data real: ${data}
noise z: uniform(-1, 1, [4])
net G(z) {
  dense ${flat}${shape.length > 1 ? `, reshape [${shape.join(", ")}]` : ""}
}
net D(x) {
  flatten, dense 1 -> logit
}
fake = G(z)
loss d = bce_logits(D(real).logit, ones) + bce_logits(D(fake).logit, zeros)
loss g = bce_logits(D(fake).logit, ones)
step d: adam(lr=1e-3) minimize d over D
step g: adam(lr=1e-3) minimize g over G
train { steps=10, schedule=[d, g] }
`;
  fs.writeFileSync(SPEC, text);
  const yamlFile = SPEC + ".yaml";
  fs.writeFileSync(yamlFile, printYaml(parseSpec(text, SPEC).spec!));
  const [a, b] = [SPEC, yamlFile].map((f) => {
    const r = checkText(fs.readFileSync(f, "utf8"), f);
    expect(r.diagnostics.map((d) => d.message), f).toEqual([]);
    const { line: _line, ...d } = r.program!.data;
    return d;
  });
  expect(b).toEqual(a);
  return a as unknown as DataInfo & { labelled: boolean };
}
const load = (d: DataInfo) => loadDataset(d, { specFile: SPEC, seed: 0 });

// ---- writers of the file formats, from their specifications ----------------------------------------

/** A .npy file (format 1.0) of `shape` holding `values` as dtype `descr`. */
function npyBytes(descr: string, shape: number[], values: ArrayLike<number>): Uint8Array {
  const dict = `{'descr': '${descr}', 'fortran_order': False, 'shape': (${shape.join(", ")}${shape.length === 1 ? "," : ""}), }`;
  const pad = 64 - ((10 + dict.length + 1) % 64);
  const header = Buffer.from(dict + " ".repeat(pad === 64 ? 0 : pad) + "\n", "latin1");
  const size = { "|u1": 1, "<f4": 4, "<i8": 8 }[descr]!;
  const data = Buffer.alloc(values.length * size);
  for (let i = 0; i < values.length; i++) {
    if (descr === "|u1") data[i] = values[i]!;
    else if (descr === "<f4") data.writeFloatLE(values[i]!, i * 4);
    else data.writeBigInt64LE(BigInt(values[i]!), i * 8);
  }
  const pre = Buffer.from([0x93, ...Buffer.from("NUMPY", "latin1"), 1, 0, 0, 0]);
  pre.writeUInt16LE(header.length, 8);
  return Buffer.concat([pre, header, data]);
}

/** A CIFAR record: label byte(s), then the red, green and blue planes. */
function cifarRecord(labels: number[], rgbAt: (p: number) => [number, number, number]): Buffer {
  const planes = Buffer.alloc(3072);
  for (let p = 0; p < 1024; p++) {
    const [r, g, b] = rgbAt(p);
    planes[p] = r;
    planes[1024 + p] = g;
    planes[2048 + p] = b;
  }
  return Buffer.concat([Buffer.from(labels), planes]);
}
const rgb = (i: number) => (p: number): [number, number, number] => [(p + i) % 256, (p * 3 + i) % 256, (255 - p - i) & 255];
const hwc = (i: number) => Array.from({ length: 1024 }, (_, p) => rgb(i)(p)).flat();

describe("CIFAR binary files", () => {
  it("CIFAR-10: the batches of a folder in order, planes to pixels, labels and class names", async () => {
    const dir = path.join(tmp, "cifar-10-batches-bin");
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, "data_batch_1.bin"), Buffer.concat([cifarRecord([3], rgb(0)), cifarRecord([9], rgb(1))]));
    fs.writeFileSync(path.join(dir, "data_batch_2.bin"), cifarRecord([0], rgb(2)));
    fs.writeFileSync(path.join(dir, "test_batch.bin"), cifarRecord([5], rgb(7)));
    fs.writeFileSync(path.join(dir, "batches.meta.txt"), "airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n\n");
    const d = checkBoth('cifar10(batch=2, path="cifar-10-batches-bin")', [32, 32, 3]);
    expect(d).toMatchObject({ shape: [32, 32, 3], numClasses: 10, args: { split: "train" }, range: [0, 1] });
    const ds = await load(d);
    expect(ds.count).toBe(3);
    expect(Array.from(ds.labels!)).toEqual([3, 9, 0]);
    expect(ds.classNames?.[3]).toBe("cat");
    expect(bytesOf(ds)).toEqual([hwc(0), hwc(1), hwc(2)]);

    const test = await load(checkBoth('cifar10(batch=1, path="cifar-10-batches-bin", split=test)', [32, 32, 3]));
    expect([Array.from(test.labels!), bytesOf(test)]).toEqual([[5], [hwc(7)]]);
    const one = await load(checkBoth('cifar10(batch=1, path="cifar-10-batches-bin/data_batch_2.bin", limit=1)', [32, 32, 3]));
    expect(bytesOf(one)).toEqual([hwc(2)]);
    expect(d.args.flip).toBe(false);
    expect(ds.flip).toBe(false);
    const flipped = checkBoth('cifar10(batch=2, path="cifar-10-batches-bin", flip=true)', [32, 32, 3]);
    expect(flipped.args.flip).toBe(true);
    expect((await load(flipped)).flip).toBe(true);
  });

  it("CIFAR-100: fine or coarse labels", async () => {
    const dir = path.join(tmp, "cifar-100-binary");
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, "train.bin"), Buffer.concat([cifarRecord([4, 77], rgb(3)), cifarRecord([19, 2], rgb(4))]));
    const fine = checkBoth('cifar100(batch=2, path="cifar-100-binary")', [32, 32, 3]);
    expect(fine.numClasses).toBe(100);
    const ds = await load(fine);
    expect([Array.from(ds.labels!), bytesOf(ds)]).toEqual([[77, 2], [hwc(3), hwc(4)]]);
    const coarse = checkBoth('cifar100(batch=2, path="cifar-100-binary", labels=coarse)', [32, 32, 3]);
    expect(coarse.numClasses).toBe(20);
    expect(Array.from((await load(coarse)).labels!)).toEqual([4, 19]);
  });

  it("names what is wrong with a folder or file that is not CIFAR", async () => {
    const d = checkBoth('cifar100(batch=2, path="cifar-100-binary", split=test)', [32, 32, 3]);
    await expect(load(d)).rejects.toThrow(new DataError(`cifar100: no test.bin in ${path.join(tmp, "cifar-100-binary")}`));
    fs.writeFileSync(path.join(tmp, "short.bin"), Buffer.alloc(3000));
    await expect(load(checkBoth('cifar10(batch=2, path="short.bin")', [32, 32, 3]))).rejects.toThrow(/short\.bin is not a cifar10 binary file: its 3000 bytes are not a whole number of 3073-byte records/);
  });
});

describe("NumPy arrays", () => {
  // 3 images of 2x2 pixels with 3 channels, value = 100*i + 10*(pixel) + channel.
  const N = 3, H = 2, W = 2, C = 3;
  const nhwc = Array.from({ length: N * H * W * C }, (_, k) => {
    const i = Math.floor(k / (H * W * C)), p = Math.floor(k / C) % (H * W), c = k % C;
    return 100 * i + 10 * p + c;
  });
  const nchw = Array.from({ length: N * C * H * W }, (_, k) => {
    const i = Math.floor(k / (H * W * C)), c = Math.floor(k / (H * W)) % C, p = k % (H * W);
    return 100 * i + 10 * p + c;
  });
  const perImage = (v: number[]) => Array.from({ length: N }, (_, i) => v.slice(i * 12, (i + 1) * 12));

  it("uint8 NHWC .npy with labels from a second .npy: pixels / 255 and classes from the labels", async () => {
    fs.writeFileSync(path.join(tmp, "x.npy"), npyBytes("|u1", [N, H, W, C], nhwc));
    fs.writeFileSync(path.join(tmp, "y.npy"), npyBytes("<i8", [N], [2, 0, 6]));
    const d = checkBoth('npy(batch=2, path="x.npy", labels="y.npy")', [H, W, C]);
    expect(d).toMatchObject({ shape: [2, 2, 3], numClasses: 7, labelled: true, range: [0, 1] });
    const ds = await load(d);
    expect(Array.from(ds.labels!)).toEqual([2, 0, 6]);
    expect(bytesOf(ds)).toEqual(perImage(nhwc));
  });

  it("float32 NCHW .npy (layout=nchw): values as stored, transposed to NHWC; no labels", async () => {
    fs.writeFileSync(path.join(tmp, "xf.npy"), npyBytes("<f4", [N, C, H, W], nchw.map((v) => v / 1000)));
    const d = checkBoth('npy(batch=2, path="xf.npy", layout=nchw)', [H, W, C]);
    expect(d).toMatchObject({ shape: [2, 2, 3], labelled: false, range: null });
    const ds = await load(d);
    expect(ds.labels).toBeNull();
    expect(samples(ds).map((s) => s.map((v) => Math.round(v * 1000)))).toEqual(perImage(nhwc));
  });

  it.each([
    ["stored", 0],
    ["deflated", 6],
  ] as const)(".npz (%s): images and labels by key, in both layouts", async (_name, level) => {
    const file = path.join(tmp, `data-${level}.npz`);
    fs.writeFileSync(file, zipSync({ "images.npy": npyBytes("|u1", [N, C, H, W], nchw), "classes.npy": npyBytes("<i8", [N], [1, 1, 0]) }, { level }));
    const d = checkBoth(`npy(batch=2, path="data-${level}.npz", key="images", labels="classes", layout=nchw)`, [H, W, C]);
    expect(d.numClasses).toBe(2);
    const ds = await load(d);
    expect([Array.from(ds.labels!), bytesOf(ds)]).toEqual([[1, 1, 0], perImage(nhwc)]);

    const plain = path.join(tmp, `plain-${level}.npz`);
    fs.writeFileSync(plain, zipSync({ "x.npy": npyBytes("|u1", [N, H, W, C], nhwc) }, { level }));
    expect(bytesOf(await load(checkBoth(`npy(batch=2, path="plain-${level}.npz")`, [H, W, C])))).toEqual(perImage(nhwc));
  });

  it("gray [N, H, W] arrays are one-channel images, [N, D] arrays vectors", async () => {
    fs.writeFileSync(path.join(tmp, "g.npy"), npyBytes("|u1", [2, 2, 3], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]));
    const g = await load(checkBoth('npy(batch=1, path="g.npy")', [2, 3, 1]));
    expect(bytesOf(g)).toEqual([[1, 2, 3, 4, 5, 6], [7, 8, 9, 10, 11, 12]]);
    fs.writeFileSync(path.join(tmp, "v.npy"), npyBytes("<f4", [4, 2], [0.5, -1, 2, 3, 4, 5, 6, 7]));
    const v = await load(checkBoth('npy(batch=2, path="v.npy")', [2]));
    expect(samples(v)).toEqual([[0.5, -1], [2, 3], [4, 5], [6, 7]]);
  });

  it("E0151 names the problem with an array file at check time", () => {
    const errorOf = (data: string) => {
      const r = checkText(`data real: ${data}\nnoise z: uniform(-1, 1, [4])\nnet G(z) {\n  dense 2\n}\nnet D(x) {\n  dense 1 -> logit\n}\nfake = G(z)\nloss d = bce_logits(D(real).logit, ones) + bce_logits(D(fake).logit, zeros)\nloss g = bce_logits(D(fake).logit, ones)\nstep d: adam(lr=1e-3) minimize d over D\nstep g: adam(lr=1e-3) minimize g over G\n`, SPEC);
      return r.diagnostics.map((d) => `${d.code} ${d.message}`);
    };
    fs.writeFileSync(path.join(tmp, "y3.npy"), npyBytes("<i8", [2], [0, 1]));
    fs.writeFileSync(path.join(tmp, "bad.npy"), "not numpy");
    fs.writeFileSync(path.join(tmp, "i64.npy"), npyBytes("<i8", [2, 3], [1, 2, 3, 4, 5, 6]));
    expect(errorOf('npy(batch=2, path="missing.npy")')).toEqual(["E0151 cannot read missing.npy: no such file (paths are relative to the spec's folder)"]);
    expect(errorOf('npy(batch=2, path="bad.npy")')).toEqual(["E0151 bad.npy is not a NumPy .npy array (no \\x93NUMPY magic) (paths are relative to the spec's folder)"]);
    expect(errorOf('npy(batch=2, path="i64.npy")')).toEqual(["E0151 i64.npy: samples must be uint8 (scaled to [0, 1]) or float32 (taken as stored), got dtype i8 (paths are relative to the spec's folder)"]);
    expect(errorOf('npy(batch=2, path="x.npy", labels="y3.npy")')).toEqual(["E0151 y3.npy holds 2 labels for the 3 samples of x.npy (paths are relative to the spec's folder)"]);
    expect(errorOf('npy(batch=2, path="data-0.npz", key="nope")')[0]).toMatch(/^E0151 .*data-0\.npz has no array 'nope' \(it has: images, classes\)/);
  });
});

describe(".npz at check time", () => {
  it.each([
    ["stored", 0],
    ["deflated", 6],
  ] as const)("(%s) check reads the zip directory and the array header, not the archive (a 3 MB file, under 80 kB read)", (_name, level) => {
    // Random bytes: the deflated archive is as large as the stored one.
    const n = 1000, h = 32, w = 32, c = 3;
    const data = new Uint8Array(n * h * w * c);
    let s = 1;
    for (let i = 0; i < data.length; i++) data[i] = (s = (Math.imul(s, 1103515245) + 12345) >>> 0) >>> 24;
    const file = path.join(tmp, `big-${level}.npz`);
    // A small array first and one after: the images' entry is found through the directory, not by scanning.
    fs.writeFileSync(file, zipSync({ "meta.npy": npyBytes("<i8", [2], [7, 8]), "x.npy": npyBytes("|u1", [n, h, w, c], data), "y.npy": npyBytes("<i8", [n], Array.from({ length: n }, (_, i) => i % 4)) }, { level }));
    const size = fs.statSync(file).size;
    expect(size).toBeGreaterThan(3_000_000);
    arrayFileReads.bytes = 0;
    const d = checkBoth(`npy(batch=2, path="big-${level}.npz", labels="y")`, [h, w, c]);
    expect(d.numClasses).toBe(4);
    // Two checks (the .gan and YAML forms), each reading the directory, the header and the 8 kB of labels.
    expect(arrayFileReads.bytes).toBeGreaterThan(0);
    expect(arrayFileReads.bytes).toBeLessThan(80_000);
    // Loading reads the images' entry in full.
    arrayFileReads.bytes = 0;
    const x = readNpy({ file, key: "x" }).data;
    expect(Buffer.from(x.buffer, x.byteOffset, x.byteLength).equals(data)).toBe(true);
    expect(arrayFileReads.bytes).toBeGreaterThan(data.length);
    expect(readNpyHeader({ file, key: "x" }).shape).toEqual([n, h, w, c]);
  });
});
