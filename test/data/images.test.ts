import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import sharp from "sharp";
import { BatchIterator, DataError, type Dataset } from "../../src/runtime/data.ts";
import { cacheFile, prepareImageFolder, loadImageFolder } from "../../src/data/image-folder.ts";
import { readCacheHeader } from "../../src/data/cache.ts";
import type { ImageSettings } from "../../src/data/images.ts";
import { loadDataset } from "../../src/data/index.ts";

type RGB = [number, number, number];
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "ganc-images-"));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** Writes a PNG of `w x h` pixels, `px(x, y)` giving each pixel's channels (1, 3 or 4 of them). */
function png(file: string, w: number, h: number, channels: 1 | 3 | 4, px: (x: number, y: number) => number[]): Promise<unknown> {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const raw = Buffer.alloc(w * h * channels);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) raw.set(px(x, y), (y * w + x) * channels);
  return sharp(raw, { raw: { width: w, height: h, channels } }).png().toFile(file);
}
const solid = (file: string, w: number, h: number, c: RGB) => png(file, w, h, 3, () => c);

/** Every sample of a data set, as bytes (the loader hands out value / 255). */
function allSamples(ds: Dataset): Uint8Array[] {
  const per = ds.shape.reduce((a, b) => a * b, 1);
  const out = new Float32Array(per);
  return Array.from({ length: ds.count }, (_, i) => {
    ds.read!([i], out);
    return Uint8Array.from(out, (v) => Math.round(v * 255));
  });
}
const filled = (n: number, c: readonly number[]) => Uint8Array.from({ length: n * c.length }, (_, i) => c[i % c.length]!);
const quiet = { log: () => {}, progress: false };
const RGB8: ImageSettings = { height: 8, width: 8, channels: 3, resize: "crop", labels: false };

describe("image folders", () => {
  const dir = path.join(tmp, "mixed");
  const warnings: string[] = [];
  let jpegPixels: Uint8Array;

  beforeAll(async () => {
    // Nested folders, mixed sizes, PNG and JPEG, a gray image in a color set, a corrupt and an empty file.
    await solid(path.join(dir, "a.png"), 8, 8, [200, 10, 20]);
    await solid(path.join(dir, "deep/er/b.png"), 37, 23, [5, 250, 100]);
    await solid(path.join(dir, "deep/c.PNG"), 3, 5, [90, 91, 92]);
    await png(path.join(dir, "gray.png"), 8, 8, 1, () => [77]);
    await png(path.join(dir, "rgba.png"), 8, 8, 4, (x) => (x < 4 ? [255, 255, 255, 255] : [255, 255, 255, 0]));
    const jpeg = await sharp(Buffer.alloc(8 * 8 * 3, 140), { raw: { width: 8, height: 8, channels: 3 } }).jpeg({ quality: 90 }).toBuffer();
    fs.writeFileSync(path.join(dir, "deep/d.jpg"), jpeg);
    jpegPixels = new Uint8Array(await sharp(jpeg).raw().toBuffer());
    await sharp(Buffer.alloc(8 * 8 * 3, 33), { raw: { width: 8, height: 8, channels: 3 } }).webp({ lossless: true }).toFile(path.join(dir, "deep/er/e.webp"));
    fs.writeFileSync(path.join(dir, "deep/corrupt.jpg"), "this is not a JPEG");
    fs.writeFileSync(path.join(dir, "empty.png"), "");
    fs.writeFileSync(path.join(dir, "notes.txt"), "not an image, not counted");
    fs.mkdirSync(path.join(dir, ".hidden"));
    await solid(path.join(dir, ".hidden/x.png"), 8, 8, [1, 2, 3]);
  });

  it("decodes every image to the expected pixels, in file order, skipping corrupt and empty files by name", async () => {
    const log = (l: string) => warnings.push(l);
    const ds = await loadImageFolder(dir, RGB8, { log, progress: false });
    expect(ds.shape).toEqual([8, 8, 3]);
    expect(ds.x).toBeNull(); // read from the cache file, batch by batch
    // Code-point order of the relative paths: a.png, deep/c.PNG, deep/d.jpg, deep/er/b.png, deep/er/e.webp, gray.png, rgba.png.
    const want = [
      filled(64, [200, 10, 20]),
      filled(64, [90, 91, 92]),
      jpegPixels,
      filled(64, [5, 250, 100]),
      filled(64, [33, 33, 33]),
      filled(64, [77, 77, 77]),
      Uint8Array.from({ length: 192 }, (_, i) => (Math.floor(i / 3) % 8 < 4 ? 255 : 0)), // alpha 0 -> black
    ];
    expect(allSamples(ds)).toEqual(want);
    expect(warnings.filter((w) => w.startsWith("warning:"))).toEqual([
      expect.stringMatching(new RegExp(`^warning: ${path.join(dir, "deep/corrupt.jpg")}: .*; skipped$`)),
      `warning: ${path.join(dir, "empty.png")}: empty file; skipped`,
    ]);
    expect(warnings.at(-1)).toMatch(/decoded 7 images, skipped 2 files/);
  });

  it("reads the cache on the second run; a changed file or setting decodes again", async () => {
    const again = await prepareImageFolder(dir, RGB8, quiet);
    expect(again.decoded).toBe(0);
    expect(again.header.count).toBe(7);

    const other = await prepareImageFolder(dir, { ...RGB8, height: 4, width: 4 }, quiet);
    expect(other.decoded).toBe(7);
    expect(other.cache).not.toBe(again.cache);
    expect((await prepareImageFolder(dir, { ...RGB8, resize: "pad" }, quiet)).decoded).toBe(7);
    expect((await prepareImageFolder(dir, { ...RGB8, resize: "pad" }, quiet)).decoded).toBe(0);

    // A file rewritten with other pixels (and so another mtime or size) invalidates the cache.
    await solid(path.join(dir, "a.png"), 8, 8, [0, 0, 255]);
    const t = new Date(Date.now() + 5000);
    fs.utimesSync(path.join(dir, "a.png"), t, t);
    const changed = await prepareImageFolder(dir, RGB8, quiet);
    expect(changed.decoded).toBe(7);
    expect(allSamples(await loadImageFolder(dir, RGB8, quiet))[0]).toEqual(filled(64, [0, 0, 255]));
  });

  it("never trusts a cache cut short (an interrupted write) nor a leftover temporary file", async () => {
    const file = cacheFile(dir, RGB8);
    const whole = fs.readFileSync(file);
    expect(readCacheHeader(file)).not.toBeNull();
    fs.writeFileSync(file, whole.subarray(0, whole.length - 100));
    expect(readCacheHeader(file)).toBeNull();
    // A leftover of a process that is gone (pid 2^22 + 1 is above the largest pid Linux gives).
    const stale = `${file}.${2 ** 22 + 1}.tmp`;
    fs.writeFileSync(stale, whole.subarray(0, 500));
    const r = await prepareImageFolder(dir, RGB8, quiet);
    expect(r.decoded).toBe(7);
    expect(fs.readFileSync(file).equals(whole)).toBe(true);
    expect(fs.existsSync(stale)).toBe(false);
  });

  it("GANC_CACHE_DIR moves the cache out of the data folder", async () => {
    const d = path.join(tmp, "elsewhere");
    await solid(path.join(d, "one.png"), 8, 8, [1, 2, 3]);
    const cacheDir = path.join(tmp, "cache-dir");
    process.env.GANC_CACHE_DIR = cacheDir;
    try {
      const r = await prepareImageFolder(d, RGB8, quiet);
      expect(path.dirname(r.cache)).toBe(cacheDir);
      expect(fs.existsSync(path.join(d, ".ganc-cache"))).toBe(false);
      expect((await prepareImageFolder(d, RGB8, quiet)).decoded).toBe(0);
    } finally {
      delete process.env.GANC_CACHE_DIR;
    }
  });

  it("center-crops (default) or pads to the size, HxW or square", async () => {
    const d = path.join(tmp, "geometry");
    // 24 wide, 8 high: red | blue | green thirds; the center crop to 8x8 is the blue third.
    await png(path.join(d, "wide.png"), 24, 8, 3, (x) => (x < 8 ? [255, 0, 0] : x < 16 ? [0, 0, 255] : [0, 255, 0]));
    const crop = allSamples(await loadImageFolder(d, { ...RGB8 }, quiet));
    expect(crop).toEqual([filled(64, [0, 0, 255])]);
    fs.rmSync(d, { recursive: true });
    // 8 wide, 4 high, white: padded to 8x8, two black rows above and below.
    await png(path.join(d, "flat.png"), 8, 4, 3, () => [255, 255, 255]);
    const pad = allSamples(await loadImageFolder(d, { ...RGB8, resize: "pad" }, quiet));
    expect(pad).toEqual([Uint8Array.from({ length: 192 }, (_, i) => (Math.floor(i / 24) >= 2 && Math.floor(i / 24) < 6 ? 255 : 0))]);
    // HxW: 4 high, 8 wide, no resampling needed.
    const hw = await loadImageFolder(d, { ...RGB8, height: 4, width: 8, channels: 1 }, quiet);
    expect(hw.shape).toEqual([4, 8, 1]);
    expect(allSamples(hw)).toEqual([filled(32, [255])]);
  });

  it("takes labels from the first-level subfolders (sorted), skipping images outside them by name", async () => {
    const d = path.join(tmp, "classes");
    await solid(path.join(d, "zebra/z1.png"), 8, 8, [10, 10, 10]);
    await solid(path.join(d, "cat/c1.png"), 8, 8, [20, 20, 20]);
    await solid(path.join(d, "cat/sub/c2.png"), 16, 16, [30, 30, 30]);
    await solid(path.join(d, "stray.png"), 8, 8, [40, 40, 40]);
    const lines: string[] = [];
    const ds = await loadImageFolder(d, { ...RGB8, labels: true }, { log: (l) => lines.push(l), progress: false });
    expect(ds.classNames).toEqual(["cat", "zebra"]);
    expect(ds.numClasses).toBe(2);
    expect(Array.from(ds.labels!)).toEqual([0, 0, 1]);
    expect(allSamples(ds).map((s) => s[0])).toEqual([20, 30, 10]);
    expect(lines).toContain(`warning: ${path.join(d, "stray.png")} is not in a class subfolder; skipped`);

    // A class folder linked in from elsewhere counts; a link back up the tree is walked once.
    await solid(path.join(tmp, "outside/o1.png"), 8, 8, [50, 50, 50]);
    fs.symlinkSync(path.join(tmp, "outside"), path.join(d, "linked"));
    fs.symlinkSync(d, path.join(d, "cat/loop"));
    const linked = await loadImageFolder(d, { ...RGB8, labels: true }, quiet);
    expect(linked.classNames).toEqual(["cat", "linked", "zebra"]);
    expect(Array.from(linked.labels!)).toEqual([0, 0, 1, 2]);
    expect(allSamples(linked).map((s) => s[0])).toEqual([20, 30, 50, 10]);
  });

  it("refuses a folder (--data) whose classes are not the ones the trainer was compiled for", async () => {
    const d = path.join(tmp, "classes");
    const info = { name: "real", source: "images", batch: 1, shape: [8, 8, 3], numClasses: 2, classNames: ["cat", "dog"], path: null, args: { size: 8, channels: 3, resize: "crop", flip: false, labels: true } };
    await expect(loadDataset(info, { specFile: path.join(tmp, "x.gan"), data: d, seed: 0 })).rejects.toThrow(
      new DataError(`${d} has the classes cat, linked, zebra, but the trainer was compiled for cat, dog: compile the spec again for this folder`),
    );
    const ok = await loadDataset({ ...info, numClasses: 3, classNames: ["cat", "linked", "zebra"] }, { specFile: path.join(tmp, "x.gan"), data: d, seed: 0 });
    expect(ok.count).toBe(4);
  });

  it("names the folder when it holds no image, or none that decodes", async () => {
    const empty = path.join(tmp, "empty");
    fs.mkdirSync(path.join(empty, "sub"), { recursive: true });
    fs.writeFileSync(path.join(empty, "sub/readme.txt"), "x");
    await expect(loadImageFolder(empty, RGB8, quiet)).rejects.toThrow(new DataError(`no images in ${empty} (looked for .png, .jpg, .jpeg, .webp, in subfolders too)`));
    fs.writeFileSync(path.join(empty, "sub/bad.png"), "garbage");
    await expect(loadImageFolder(empty, RGB8, quiet)).rejects.toThrow(`no image in ${empty} could be decoded (1 files skipped`);
    await expect(loadImageFolder(path.join(tmp, "nope"), RGB8, quiet)).rejects.toThrow(`image folder ${path.join(tmp, "nope")} does not exist`);
  });

  it("flips real images left-right by (seed, epoch, position) only: a restored iterator flips the same ones", async () => {
    const d = path.join(tmp, "flip");
    for (let i = 0; i < 16; i++) await png(path.join(d, `${String(i).padStart(2, "0")}.png`), 4, 4, 1, (x) => [x * 60 + i]);
    const ds = { ...(await loadImageFolder(d, { ...RGB8, height: 4, width: 4, channels: 1 }, quiet)), flip: true };
    const take = (it: BatchIterator, n: number) => Array.from({ length: n }, () => Array.from(it.next().x, (v) => Math.round(v * 255)));
    const a = new BatchIterator(ds, 4, 7);
    const straight = take(a, 8);
    // Each image is its row [0, 60, 120, 180] + i, mirrored or not; both occur.
    const rows = straight.flatMap((b) => Array.from({ length: 16 }, (_, k) => b.slice(k * 4, k * 4 + 4)));
    const mirrored = rows.filter((r) => r[0]! > r[3]!).length;
    expect(mirrored).toBeGreaterThan(0);
    expect(mirrored).toBeLessThan(rows.length);
    const b = new BatchIterator(ds, 4, 7);
    take(b, 3);
    const c = new BatchIterator(ds, 4, 7);
    c.restore(b.state());
    expect(take(c, 5)).toEqual(straight.slice(3));
  });
});
