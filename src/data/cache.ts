import * as fs from "node:fs";
import * as path from "node:path";
import { DataError, type Dataset } from "../runtime/data.ts";

/**
 * The decode cache: uint8 samples on disk, read back a batch at a time, so that an epoch costs no decoding
 * and a data set larger than memory trains (only the labels are held in memory).
 *
 *   "GANCU8\0\1" | count x prod(shape) pixel bytes | count x int32 LE labels | header JSON | u32 LE JSON length | "GANCU8\0\1"
 *
 * The header goes last because the count is known only once every file was tried (corrupt ones are
 * skipped). The file is written under a temporary name and renamed when complete, so an interrupted
 * decode leaves nothing that a later run trusts; the header's `key` (a hash of the file list, sizes,
 * mtimes and decode settings) decides whether a cache belongs to the data and settings at hand.
 */
const MAGIC = Buffer.from("GANCU8\0\x01", "latin1");
const TRAILER = 4 + MAGIC.length;

export interface CacheHeader {
  key: string;
  shape: number[];
  count: number;
  classNames: string[] | null;
  /** Samples per class (labelled sets), for run.json and the log. */
  classCounts: number[] | null;
  /** Files skipped (corrupt, empty, or without a class folder), for the log. */
  skipped: number;
}

export class CacheWriter {
  private readonly fd: number;
  private readonly tmp: string;
  private count = 0;
  private readonly labels: number[] = [];
  private offset = 0;

  constructor(
    readonly file: string,
    private readonly sampleBytes: number,
  ) {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    removeStaleTemps(file);
    this.tmp = `${file}.${process.pid}.tmp`;
    this.fd = fs.openSync(this.tmp, "w", 0o644);
    this.write(MAGIC);
  }

  private write(b: Uint8Array): void {
    for (let off = 0; off < b.length; ) {
      const n = fs.writeSync(this.fd, b, off, b.length - off, this.offset);
      off += n;
      this.offset += n;
    }
  }

  add(pixels: Uint8Array, label: number): void {
    if (pixels.length !== this.sampleBytes) throw new Error(`cache sample of ${pixels.length} bytes, expected ${this.sampleBytes}`);
    this.write(pixels);
    this.labels.push(label);
    this.count++;
  }

  /** Writes labels and header, then renames the file into place: from here on it is trusted. */
  finish(header: Omit<CacheHeader, "count">): CacheHeader {
    const full: CacheHeader = { ...header, count: this.count };
    this.write(new Uint8Array(Int32Array.from(this.labels).buffer));
    const json = Buffer.from(JSON.stringify(full), "utf8");
    const len = Buffer.alloc(4);
    len.writeUInt32LE(json.length);
    this.write(Buffer.concat([json, len, MAGIC]));
    fs.fsyncSync(this.fd);
    fs.closeSync(this.fd);
    fs.renameSync(this.tmp, this.file);
    return full;
  }

  /** Gives up: the temporary file is removed, the cache (if any) stays as it was. */
  abort(): void {
    try { fs.closeSync(this.fd); } catch { /* already closed */ }
    fs.rmSync(this.tmp, { force: true });
  }
}

/** Temporary files of decodes that were interrupted (their process is gone): never read, so removed. */
function removeStaleTemps(file: string): void {
  const base = path.basename(file);
  for (const name of fs.readdirSync(path.dirname(file))) {
    const m = name.startsWith(base + ".") ? /^\.(\d+)\.tmp$/.exec(name.slice(base.length)) : null;
    if (!m) continue;
    const pid = Number(m[1]);
    let alive = pid !== process.pid;
    try {
      if (alive) process.kill(pid, 0);
    } catch (err) {
      alive = (err as NodeJS.ErrnoException).code === "EPERM";
    }
    if (!alive) fs.rmSync(path.join(path.dirname(file), name), { force: true });
  }
}

/** The header of a complete cache file, or null when the file is missing, incomplete or foreign. */
export function readCacheHeader(file: string): CacheHeader | null {
  let fd: number;
  try {
    fd = fs.openSync(file, "r");
  } catch {
    return null;
  }
  try {
    const size = fs.fstatSync(fd).size;
    if (size < MAGIC.length + TRAILER) return null;
    const tail = Buffer.alloc(TRAILER);
    fs.readSync(fd, tail, 0, TRAILER, size - TRAILER);
    if (!tail.subarray(4).equals(MAGIC)) return null;
    const len = tail.readUInt32LE(0);
    if (len > size - MAGIC.length - TRAILER) return null;
    const json = Buffer.alloc(len);
    fs.readSync(fd, json, 0, len, size - TRAILER - len);
    const h = JSON.parse(json.toString("utf8")) as CacheHeader;
    const per = h.shape.reduce((a, b) => a * b, 1);
    // Every section where the header says: a file cut short or grown is not trusted.
    if (MAGIC.length + h.count * (per + 4) + len + TRAILER !== size) return null;
    return h;
  } catch {
    return null;
  } finally {
    fs.closeSync(fd);
  }
}

/** A data set read from a cache file batch by batch: the labels in memory, the pixels on disk. */
export function openCache(file: string, h: CacheHeader, name: string, opts: { flip?: boolean; limit?: number }): Dataset {
  const per = h.shape.reduce((a, b) => a * b, 1);
  const fd = fs.openSync(file, "r");
  const labelBytes = Buffer.alloc(h.count * 4);
  fs.readSync(fd, labelBytes, 0, labelBytes.length, MAGIC.length + h.count * per);
  const allLabels = new Int32Array(labelBytes.buffer, labelBytes.byteOffset, h.count);
  const count = Math.min(opts.limit ?? h.count, h.count);
  if (count === 0) throw new DataError(`${file}: the cache holds no images`);
  const sample = Buffer.alloc(per);
  const inv = 1 / 255;
  return {
    name,
    shape: h.shape,
    count,
    x: null,
    // Unlabelled sets read as one class (the checker refuses `real.label` for them).
    labels: allLabels.slice(0, count),
    numClasses: h.classNames ? h.classNames.length : 1,
    classNames: h.classNames,
    flip: opts.flip ?? false,
    read(indices, out) {
      for (let i = 0; i < indices.length; i++) {
        const pos = MAGIC.length + indices[i]! * per;
        for (let got = 0; got < per; ) {
          const n = fs.readSync(fd, sample, got, per - got, pos + got);
          if (n === 0) throw new DataError(`${file}: cache file ended early (changed while training?)`);
          got += n;
        }
        const dst = i * per;
        for (let k = 0; k < per; k++) out[dst + k] = sample[k]! * inv;
      }
    },
  };
}
