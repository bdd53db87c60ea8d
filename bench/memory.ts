/**
 * Memory of training on a data set larger than memory: a folder of 200,000 64x64 RGB JPEGs (2.46 GB
 * decoded) trained by `ganc train` through the decode cache, which training reads a batch at a time from
 * disk (src/data/cache.ts). Samples the resident set size of the training process (and any process it
 * starts) every 50 ms and prints the peak, with VmHWM (the kernel's own peak) as a check.
 *
 *   nice node bin/run-ts.mjs bench/memory.ts [--count 200000] [--distinct 1000] [--steps 300] [--keep DIR]
 *
 * How the data is made, so that it takes minutes rather than the hour 200,000 JPEG encodes and decodes
 * would: `--distinct` different JPEGs are encoded, and the folder's `--count` files are hard links to
 * them in turn (file i is image i mod distinct; each has its own name, so the folder lists `--count`
 * images). The decode cache is then written with ganc's own CacheWriter and cache key, holding for each
 * listed file the pixels ganc's decoder gives for its JPEG, which is what `ganc train` would write after
 * decoding every file; a sample of the files is decoded again and compared with the cache to show it. The
 * training run then finds the cache valid and reads every batch from the 2.46 GB file, as it would for a
 * decoded folder. Only the decode is skipped (its speed is measured by bench/data-loading.ts).
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { spawn } from "node:child_process";
import sharp from "sharp";
import { cacheFile, cacheKey, decodeImage, listImages } from "../src/data/image-folder.ts";
import { CacheWriter, readCacheHeader } from "../src/data/cache.ts";

const arg = (name: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : undefined;
};
const count = Number(arg("count") ?? 200000);
const distinct = Math.min(count, Number(arg("distinct") ?? 1000));
const steps = Number(arg("steps") ?? 300);
const keep = arg("keep");
const dir = keep ?? fs.mkdtempSync(path.join(os.tmpdir(), "ganc-bench-memory-"));
const root = path.resolve(import.meta.dirname, "..");
const settings = { height: 64, width: 64, channels: 3 as const, resize: "crop" as const, labels: false };
const say = (s: string) => process.stderr.write(s + "\n");

async function makeFolder(): Promise<void> {
  const src = path.join(dir, ".sources");
  fs.mkdirSync(src, { recursive: true });
  let s = 7;
  const rnd = () => (s = (Math.imul(s, 1103515245) + 12345) >>> 0) >>> 24;
  const t = performance.now();
  for (let i = 0; i < distinct; i += 32) {
    await Promise.all(
      Array.from({ length: Math.min(32, distinct - i) }, (_, k) => {
        const file = path.join(src, `${String(i + k).padStart(5, "0")}.jpg`);
        if (fs.existsSync(file)) return null;
        const raw = Buffer.alloc(64 * 64 * 3);
        const [r, g, b] = [rnd(), rnd(), rnd()];
        for (let p = 0; p < 64 * 64; p++) {
          const x = p % 64, y = (p / 64) | 0;
          raw[p * 3] = (r + x * 2 + (rnd() >> 4)) & 255;
          raw[p * 3 + 1] = (g + y * 2 + (rnd() >> 4)) & 255;
          raw[p * 3 + 2] = (b + x + y + (rnd() >> 4)) & 255;
        }
        return sharp(raw, { raw: { width: 64, height: 64, channels: 3 } }).jpeg({ quality: 90 }).toFile(file);
      }),
    );
  }
  const img = path.join(dir, "images");
  fs.mkdirSync(img, { recursive: true });
  const have = new Set(fs.readdirSync(img));
  for (let i = 0; i < count; i++) {
    const name = `${String(i).padStart(6, "0")}.jpg`;
    if (!have.has(name)) fs.linkSync(path.join(src, `${String(i % distinct).padStart(5, "0")}.jpg`), path.join(img, name));
  }
  say(`folder: ${count} files (${distinct} distinct JPEGs) in ${((performance.now() - t) / 1000).toFixed(1)} s`);
}

async function writeCache(): Promise<string> {
  const img = path.join(dir, "images");
  const { files } = listImages(img, null);
  const key = cacheKey(files, settings, null);
  const file = cacheFile(img, settings);
  if (readCacheHeader(file)?.key === key) return file;
  const t = performance.now();
  const pixels: Uint8Array[] = [];
  for (let i = 0; i < distinct; i++) pixels.push(await decodeImage(sharp, fs.readFileSync(path.join(dir, ".sources", `${String(i).padStart(5, "0")}.jpg`)), settings));
  const w = new CacheWriter(file, 64 * 64 * 3);
  for (const f of files) w.add(pixels[Number(f.rel.slice(0, 6)) % distinct]!, 0);
  w.finish({ key, shape: [64, 64, 3], classNames: null, classCounts: null, skipped: 0 });
  // The cache must be what decoding gives: decode a spread of the listed files and compare.
  const fd = fs.openSync(file, "r");
  const got = Buffer.alloc(64 * 64 * 3);
  for (let j = 0; j < 50; j++) {
    const i = Math.floor((j * files.length) / 50);
    const want = await decodeImage(sharp, fs.readFileSync(path.join(img, files[i]!.rel)), settings);
    fs.readSync(fd, got, 0, got.length, 8 + i * got.length);
    if (!got.equals(want)) throw new Error(`cache entry ${i} differs from decoding ${files[i]!.rel}`);
  }
  fs.closeSync(fd);
  say(`cache: ${files.length} images, ${(fs.statSync(file).size / 1e9).toFixed(2)} GB, written in ${((performance.now() - t) / 1000).toFixed(1)} s; 50 entries checked against a fresh decode`);
  return file;
}

/** Resident set (kB) of `pid` and every process under it, and the largest VmHWM among them. */
function treeRss(pid: number): { rss: number; hwm: number } {
  const children = new Map<number, number[]>();
  for (const e of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${e}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      (children.get(ppid) ?? children.set(ppid, []).get(ppid)!).push(Number(e));
    } catch { /* gone */ }
  }
  let rss = 0, hwm = 0;
  const visit = (p: number) => {
    try {
      const st = fs.readFileSync(`/proc/${p}/status`, "utf8");
      rss += Number(/VmRSS:\s+(\d+)/.exec(st)?.[1] ?? 0);
      hwm = Math.max(hwm, Number(/VmHWM:\s+(\d+)/.exec(st)?.[1] ?? 0));
    } catch { /* gone */ }
    for (const c of children.get(p) ?? []) visit(c);
  };
  visit(pid);
  return { rss, hwm };
}

await makeFolder();
const cache = await writeCache();
const out = path.join(dir, "run");
const args = ["bin/ganc.mjs", "train", "bench/specs/images64.gan", "--data", path.join(dir, "images"), "--out", out, "--steps", String(steps), "--fresh"];
say(`training: node ${args.join(" ")}`);
const t = performance.now();
const child = spawn(process.execPath, args, { cwd: root, stdio: ["ignore", "inherit", "inherit"] });
let peak = 0, hwm = 0;
const timer = setInterval(() => {
  const r = treeRss(child.pid!);
  peak = Math.max(peak, r.rss);
  hwm = Math.max(hwm, r.hwm);
}, 50);
const code = await new Promise<number>((res) => child.on("exit", (c) => res(c ?? 1)));
clearInterval(timer);
const secs = (performance.now() - t) / 1000;
if (code !== 0) throw new Error(`training failed (exit ${code})`);
const gb = (fs.statSync(cache).size / 1e9).toFixed(2);
console.log(`| images | decoded size | iterations (batch 32) | wall | peak RSS (sampled every 50 ms) | VmHWM |`);
console.log(`|---|---|---|---|---|---|`);
console.log(`| ${count} 64x64x3 | ${gb} GB | ${steps} | ${secs.toFixed(0)} s | ${(peak / 1024).toFixed(0)} MiB | ${(hwm / 1024).toFixed(0)} MiB |`);
const limit = 1.5 * 1024 * 1024;
console.log(peak < limit && hwm < limit ? "under 1.5 GB: yes" : "under 1.5 GB: NO");
if (!keep) fs.rmSync(dir, { recursive: true, force: true });
