import { describe, it, expect, beforeAll, afterAll } from "vitest";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as zlib from "node:zlib";
import { createRequire } from "node:module";
import {
  BatchIterator,
  DataError,
  digitsArray,
  loadEmbeddedMnist,
  loadIdxDir,
  oneHot,
  toyDataset,
  toyModes,
  type Dataset,
  type MemoryDataset,
} from "../../src/runtime/data.ts";

describe("loadEmbeddedMnist", () => {
  it("has 10,000 28x28x1 digits in [0,1], every class, interleaved, cached", () => {
    const ds = loadEmbeddedMnist();
    expect(ds.name).toBe("mnist");
    expect(ds.count).toBe(10_000);
    expect(ds.shape).toEqual([28, 28, 1]);
    expect(ds.x.length).toBe(10_000 * 784);
    expect(ds.numClasses).toBe(10);
    let min = Infinity, max = -Infinity;
    for (const v of ds.x) {
      if (v < min) min = v;
      if (v > max) max = v;
    }
    expect(min).toBe(0);
    expect(max).toBeLessThanOrEqual(1);
    expect(max).toBeGreaterThan(0.9);

    const perClass = new Array(10).fill(0);
    for (const l of ds.labels!) perClass[l]++;
    for (const n of perClass) {
      expect(n).toBeGreaterThan(800);
      expect(n).toBeLessThan(1200);
    }

    // Not sorted by class: the first 100 samples hold every class, balanced.
    const head = new Array(10).fill(0);
    for (const l of ds.labels!.subarray(0, 100)) head[l]++;
    expect(head).toEqual(new Array(10).fill(10));
    // Each image actually has ink (not an all-zero slot from a bad copy).
    for (const i of [0, 1, 4999, 9999]) {
      const img = ds.x.subarray(i * 784, (i + 1) * 784);
      expect(img.reduce((a, b) => a + b, 0)).toBeGreaterThan(20);
    }
    expect(loadEmbeddedMnist()).toBe(ds);
  });

  const asJson = (text: string) => Float32Array.from(JSON.parse(text).data as number[]);
  const bits = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

  it("reads the package's digit files to the bits JSON.parse gives", () => {
    const dir = path.join(path.dirname(createRequire(import.meta.url).resolve("mnist/package.json")), "src", "digits");
    let values = 0;
    for (let d = 0; d < 10; d++) {
      const bytes = fs.readFileSync(path.join(dir, `${d}.json`));
      const fast = digitsArray(bytes);
      expect(fast, `${d}.json`).not.toBeNull();
      expect(bits(fast!).equals(bits(asJson(bytes.toString("utf8")))), `${d}.json`).toBe(true);
      values += fast!.length;
    }
    expect(values).toBe(10_000 * 784);
  });

  it("reads decimals of up to 15 digits as JSON.parse does, and leaves anything else to it", () => {
    const enc = (t: string) => new TextEncoder().encode(t);
    // values whose nearest float32 comes from the double nearest to the decimal, as JSON.parse gives it
    const ok = [
      '{"data":[]}',
      ' { "data" : [ 0 , 1,0.5 ,\n0.123456789012345,\t12345678901234.5, 0.1, 0.7, 0.333, 99 ] } \n',
      '{"data":[0.0039,0.0078,0.996,0.50000000000001]}',
    ];
    for (const t of ok) {
      const fast = digitsArray(enc(t));
      expect(fast, t).not.toBeNull();
      expect(bits(fast!).equals(bits(asJson(t))), t).toBe(true);
    }
    // an exponent, a sign, more digits than are exact, not JSON, other keys, or nothing after the array
    for (const t of ['{"data":[1e-3]}', '{"data":[-1]}', '{"data":[0.12345678901234567]}', '{"data":[.5]}', '{"data":[1.]}', '{"data":[01]}', '{"data":[1,]}', '{"data":[1 2]}', '{"data":[1],"x":2}', '{"data":[1]', '{"data":[1]} x', '{"x":1,"data":[1]}', '[1]']) {
      expect(digitsArray(enc(t)), t).toBeNull();
    }
  });
});

/** IDX bytes: big-endian magic, dims, then unsigned bytes. */
function idx(magic: number, dims: number[], body: Uint8Array): Buffer {
  const head = Buffer.alloc(4 + 4 * dims.length);
  head.writeUInt32BE(magic, 0);
  dims.forEach((d, i) => head.writeUInt32BE(d, 4 + 4 * i));
  return Buffer.concat([head, body]);
}

describe("loadIdxDir", () => {
  let root: string;
  const N = 5, R = 3, C = 4;
  const pixels = Uint8Array.from({ length: N * R * C }, (_, i) => (i * 37) % 256);
  const labels = Uint8Array.from([3, 0, 9, 1, 3]);
  const images = idx(2051, [N, R, C], pixels);
  const labelFile = idx(2049, [N], labels);

  function dir(name: string, files: Record<string, Buffer>): string {
    const d = path.join(root, name);
    fs.mkdirSync(d, { recursive: true });
    for (const [f, b] of Object.entries(files)) fs.writeFileSync(path.join(d, f), b);
    return d;
  }
  function expectDataError(fn: () => unknown, ...parts: string[]): void {
    let err: unknown;
    try {
      fn();
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(DataError);
    for (const p of parts) expect((err as Error).message).toContain(p);
  }
  function expectDs(ds: MemoryDataset): void {
    expect(ds.shape).toEqual([R, C, 1]);
    expect(ds.count).toBe(N);
    expect(ds.numClasses).toBe(10);
    expect(Array.from(ds.labels!)).toEqual([3, 0, 9, 1, 3]);
    expect(ds.x.length).toBe(N * R * C);
    for (let i = 0; i < pixels.length; i++) expect(ds.x[i]).toBeCloseTo(pixels[i] / 255, 6);
  }

  beforeAll(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), "ganc-idx-"));
  });
  afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

  it("reads raw train files", () => {
    const d = dir("raw", { "train-images-idx3-ubyte": images, "train-labels-idx1-ubyte": labelFile });
    const ds = loadIdxDir(d);
    expectDs(ds);
    expect(ds.name).toBe("mnist");
  });

  it("reads gzipped test files, the dotted spelling, and names fashion folders", () => {
    const d = dir("fashion-gz", {
      "t10k-images.idx3-ubyte.gz": zlib.gzipSync(images),
      "t10k-labels.idx1-ubyte.gz": zlib.gzipSync(labelFile),
    });
    const ds = loadIdxDir(d, { split: "test" });
    expectDs(ds);
    expect(ds.name).toBe("fashion-mnist");
    expect(loadIdxDir(d, { split: "test", name: "mine" }).name).toBe("mine");
    // The train split is not there: the message lists the names tried.
    expectDataError(() => loadIdxDir(d), "train-images-idx3-ubyte", "train-images-idx3-ubyte.gz", "train-images.idx3-ubyte");
  });

  it("rejects a missing folder and a missing label file", () => {
    const missing = path.join(root, "nope");
    expectDataError(() => loadIdxDir(missing), missing, "does not exist");
    const d = dir("nolabels", { "train-images-idx3-ubyte": images });
    expectDataError(() => loadIdxDir(d), "train-labels-idx1-ubyte", d);
  });

  it("rejects a truncated image file, naming it", () => {
    const d = dir("trunc", {
      "train-images-idx3-ubyte": images.subarray(0, images.length - 7),
      "train-labels-idx1-ubyte": labelFile,
    });
    expectDataError(() => loadIdxDir(d), path.join(d, "train-images-idx3-ubyte"), "truncated");
    // A header cut short too.
    fs.writeFileSync(path.join(d, "train-images-idx3-ubyte"), images.subarray(0, 10));
    expectDataError(() => loadIdxDir(d), path.join(d, "train-images-idx3-ubyte"), "too short");
  });

  it("rejects wrong magic numbers (e.g. images and labels swapped)", () => {
    const d = dir("swapped", { "train-images-idx3-ubyte": labelFile, "train-labels-idx1-ubyte": images });
    expectDataError(() => loadIdxDir(d), path.join(d, "train-images-idx3-ubyte"), "magic number 2049");
    const d2 = dir("badlabels", { "train-images-idx3-ubyte": images, "train-labels-idx1-ubyte": images });
    expectDataError(() => loadIdxDir(d2), path.join(d2, "train-labels-idx1-ubyte"), "magic number 2051");
  });

  it("rejects image/label count mismatch and corrupt gzip", () => {
    const d = dir("mismatch", {
      "train-images-idx3-ubyte": images,
      "train-labels-idx1-ubyte": idx(2049, [N - 1], labels.subarray(0, N - 1)),
    });
    expectDataError(() => loadIdxDir(d), "train-labels-idx1-ubyte", "4 labels", "5 images");
    const gz = zlib.gzipSync(images);
    const d2 = dir("badgz", {
      "train-images-idx3-ubyte.gz": gz.subarray(0, gz.length - 10),
      "train-labels-idx1-ubyte": labelFile,
    });
    expectDataError(() => loadIdxDir(d2), "train-images-idx3-ubyte.gz", "gzip");
  });
});

describe("toy datasets", () => {
  it.each(["ring8", "grid25"] as const)("%s samples lie near their mode's center", (kind) => {
    const { centers, std } = toyModes(kind);
    expect(centers.length).toBe(kind === "ring8" ? 8 : 25);
    const ds = toyDataset(kind, 2000, 7);
    expect(ds.shape).toEqual([2]);
    expect(ds.numClasses).toBe(centers.length);
    const seen = new Set<number>();
    let sq = 0;
    for (let i = 0; i < ds.count; i++) {
      const [cx, cy] = centers[ds.labels![i]];
      const dx = ds.x[2 * i] - cx, dy = ds.x[2 * i + 1] - cy;
      expect(Math.hypot(dx, dy)).toBeLessThan(6 * std);
      sq += dx * dx + dy * dy;
      seen.add(ds.labels![i]);
    }
    expect(seen.size).toBe(centers.length);
    // Empirical per-axis std matches the nominal one.
    expect(Math.sqrt(sq / (2 * ds.count))).toBeCloseTo(std, 2);
    expect(toyDataset(kind, 2000, 7).x).toEqual(ds.x);
    expect(toyDataset(kind, 2000, 8).x).not.toEqual(ds.x);
  });

  it("ring8 centers sit on the radius-2 circle; grid25 on {-4..4}^2", () => {
    for (const [x, y] of toyModes("ring8").centers) expect(Math.hypot(x, y)).toBeCloseTo(2, 10);
    const g = toyModes("grid25").centers.map((p) => p.join(","));
    expect(g).toContain("-4,-4");
    expect(g).toContain("4,2");
    expect(new Set(g).size).toBe(25);
  });
});

describe("oneHot", () => {
  it("encodes and range-checks", () => {
    expect(Array.from(oneHot(Int32Array.from([2, 0]), 3))).toEqual([0, 0, 1, 1, 0, 0]);
    expect(() => oneHot(Int32Array.from([3]), 3)).toThrow(DataError);
  });
});

describe("BatchIterator", () => {
  // Sample i has x = [i, -i] so batches reveal which samples they hold.
  const mk = (count: number): Dataset => ({
    name: "ids",
    shape: [2],
    count,
    x: Float32Array.from({ length: 2 * count }, (_, k) => (k % 2 ? -1 : 1) * Math.floor(k / 2)),
    labels: Int32Array.from({ length: count }, (_, i) => i % 7),
    numClasses: 7,
  });
  const ids = (b: { x: Float32Array }): number[] => Array.from(b.x.filter((_, k) => k % 2 === 0));

  it("covers every sample once per epoch, dropping the last partial batch", () => {
    const ds = mk(103);
    const it = new BatchIterator(ds, 10, 1);
    expect(it.stepsPerEpoch).toBe(10);
    const epochs: number[][] = [];
    for (let e = 0; e < 3; e++) {
      const seen: number[] = [];
      for (let s = 0; s < 10; s++) {
        const b = it.next();
        expect(b.epoch).toBe(e);
        expect(b.step).toBe(s);
        const got = ids(b);
        // x and labels stay paired.
        got.forEach((id, k) => expect(b.labels![k]).toBe(id % 7));
        got.forEach((id, k) => expect(b.x[2 * k + 1] === -id).toBe(true));
        seen.push(...got);
      }
      expect(new Set(seen).size).toBe(100);
      expect(seen.every((v) => Number.isInteger(v) && v >= 0 && v < 103)).toBe(true);
      epochs.push(seen);
    }
    expect(it.state()).toEqual({ epoch: 3, cursor: 0 });
    // Order differs between epochs; the dropped samples vary with the shuffle.
    expect(epochs[1]).not.toEqual(epochs[0]);
    expect(epochs[2]).not.toEqual(epochs[1]);
    expect(epochs[0].slice().sort((a, b) => a - b)).not.toEqual(Array.from({ length: 100 }, (_, i) => i));
  });

  it("is deterministic in the seed and reuses its buffers", () => {
    const ds = mk(50);
    const a = new BatchIterator(ds, 8, 42), b = new BatchIterator(ds, 8, 42), c = new BatchIterator(ds, 8, 43);
    const a1 = a.next(), b1 = b.next(), c1 = c.next();
    expect(ids(a1)).toEqual(ids(b1));
    expect(ids(a1)).not.toEqual(ids(c1));
    const first = ids(a1);
    const a2 = a.next();
    expect(a2.x).toBe(a1.x);
    expect(ids(a2)).not.toEqual(first);
  });

  it("restore() continues with exactly the uninterrupted batches", () => {
    const ds = mk(37);
    const ref = new BatchIterator(ds, 5, 9);
    const stream = Array.from({ length: 40 }, () => ids(ref.next()));
    for (const stop of [0, 3, 7, 13, 21]) {
      const first = new BatchIterator(ds, 5, 9);
      for (let i = 0; i < stop; i++) first.next();
      const saved = JSON.parse(JSON.stringify(first.state()));
      const resumed = new BatchIterator(ds, 5, 9);
      resumed.restore(saved);
      for (let i = stop; i < 40; i++) expect(ids(resumed.next())).toEqual(stream[i]);
    }
    // An end-of-epoch cursor means the start of the next epoch.
    const r = new BatchIterator(ds, 5, 9);
    r.restore({ epoch: 1, cursor: 7 });
    expect(r.state()).toEqual({ epoch: 2, cursor: 0 });
    expect(ids(r.next())).toEqual(stream[14]);
    expect(() => r.restore({ epoch: 0, cursor: 8 })).toThrow(DataError);
    expect(() => r.restore({ epoch: -1, cursor: 0 })).toThrow(DataError);
  });

  it("rejects a batch larger than the dataset", () => {
    expect(() => new BatchIterator(mk(4), 5, 0)).toThrow(/batch size 5 is larger than dataset "ids" \(4 samples\)/);
    expect(() => new BatchIterator(mk(4), 0, 0)).toThrow(DataError);
    expect(new BatchIterator(mk(4), 4, 0).stepsPerEpoch).toBe(1);
  });

  it("handles unlabelled data", () => {
    const ds = { ...mk(6), labels: null };
    expect(new BatchIterator(ds, 3, 0).next().labels).toBeNull();
  });
});
