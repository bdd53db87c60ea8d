/**
 * Loading speed of an image folder: a folder of generated 64x64 JPEGs is decoded into the cache once (first
 * run), then read back as training reads it (shuffled batches of 64 through BatchIterator, one epoch).
 * Prints images per second for both; the folder's generation is not timed.
 *
 *   node bin/run-ts.mjs bench/data-loading.ts [--count 10000] [--keep DIR] [--json]
 *
 * `--json` prints one JSON object instead of the table (npm run bench reads it).
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import sharp from "sharp";
import { prepareImageFolder, loadImageFolder } from "../src/data/image-folder.ts";
import { BatchIterator } from "../src/runtime/data.ts";

const arg = (name: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : undefined;
};
const count = Number(arg("count") ?? 10000);
const keep = arg("keep");
const dir = keep ?? fs.mkdtempSync(path.join(os.tmpdir(), "ganc-bench-images-"));

async function generate(): Promise<void> {
  let s = 1;
  const rnd = () => (s = (Math.imul(s, 1103515245) + 12345) >>> 0) >>> 24;
  const have = fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => f.endsWith(".jpg")).length : 0;
  if (have === count) return;
  fs.mkdirSync(dir, { recursive: true });
  for (let i = 0; i < count; i += 64) {
    await Promise.all(
      Array.from({ length: Math.min(64, count - i) }, (_, k) => {
        // Smooth color fields with noise: JPEG-like content, not flat blocks.
        const raw = Buffer.alloc(64 * 64 * 3);
        const [r, g, b] = [rnd(), rnd(), rnd()];
        for (let p = 0; p < 64 * 64; p++) {
          const x = p % 64, y = (p / 64) | 0;
          raw[p * 3] = (r + x * 2 + (rnd() >> 4)) & 255;
          raw[p * 3 + 1] = (g + y * 2 + (rnd() >> 4)) & 255;
          raw[p * 3 + 2] = (b + x + y + (rnd() >> 4)) & 255;
        }
        return sharp(raw, { raw: { width: 64, height: 64, channels: 3 } }).jpeg({ quality: 90 }).toFile(path.join(dir, `${String(i + k).padStart(6, "0")}.jpg`));
      }),
    );
  }
}

await generate();
const settings = { height: 64, width: 64, channels: 3 as const, resize: "crop" as const, labels: false };
fs.rmSync(path.join(dir, ".ganc-cache"), { recursive: true, force: true });
const quiet = { log: () => {}, progress: false };

let t = performance.now();
const first = await prepareImageFolder(dir, settings, quiet);
const decodeSecs = (performance.now() - t) / 1000;

const ds = await loadImageFolder(dir, settings, quiet);
const it = new BatchIterator(ds, 64, 0);
t = performance.now();
for (let i = 0; i < it.stepsPerEpoch; i++) it.next();
const epochSecs = (performance.now() - t) / 1000;
const read = it.stepsPerEpoch * 64;

const rss = process.memoryUsage().rss / 2 ** 20;
if (process.argv.includes("--json")) {
  console.log(JSON.stringify({ images: first.header.count, decodeSecs, decodeImagesPerSec: first.header.count / decodeSecs, epochImages: read, epochSecs, cachedImagesPerSec: read / epochSecs, rssMB: Math.round(rss), cores: os.cpus().length }));
  if (!keep) fs.rmSync(dir, { recursive: true, force: true });
  process.exit(0);
}
console.log(`| images | first decode (images/s) | cached epoch, batches of 64 (images/s) | RSS after (MiB) | cores |`);
console.log(`|---|---|---|---|---|`);
console.log(`| ${first.header.count} 64x64 JPEG | ${Math.round(first.header.count / decodeSecs)} (${decodeSecs.toFixed(1)} s) | ${Math.round(read / epochSecs)} (${epochSecs.toFixed(2)} s) | ${Math.round(rss)} | ${os.cpus().length} |`);
if (!keep) fs.rmSync(dir, { recursive: true, force: true });
