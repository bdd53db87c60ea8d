import * as fs from "node:fs";
import * as path from "node:path";
import { Inflate, inflateSync } from "fflate";

/**
 * NumPy's .npy format (format version 1.0-3.0): "\x93NUMPY", two version bytes, the header length
 * (u16 LE, or u32 LE from version 2.0), then a Python dict literal
 * `{'descr': '<f4', 'fortran_order': False, 'shape': (100, 32, 32, 3), }` padded with spaces, then the data.
 * An .npz file is a zip of such files named `<key>.npy` (stored by np.savez, deflated by np.savez_compressed).
 * It is read through its central directory (at the end of the file): listing the arrays or reading an
 * array's header reads the directory and the first bytes of that entry only (inflated by fflate as far as
 * the header reaches), never the whole file; an array's data reads only its own entry.
 */
export class NpyError extends Error {
  override name = "NpyError";
}

export type NpyType = "u1" | "i1" | "u2" | "i2" | "u4" | "i4" | "u8" | "i8" | "f4" | "f8";

export interface NpyHeader {
  type: NpyType;
  shape: number[];
  /** Byte offset of the data in the .npy bytes. */
  offset: number;
}

const MAGIC = "\x93NUMPY";
const SIZES: Record<NpyType, number> = { u1: 1, i1: 1, u2: 2, i2: 2, u4: 4, i4: 4, u8: 8, i8: 8, f4: 4, f8: 8 };

export function parseNpyHeader(buf: Uint8Array, where: string): NpyHeader {
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  if (b.length < 10 || b.toString("latin1", 0, 6) !== MAGIC) throw new NpyError(`${where} is not a NumPy .npy array (no \\x93NUMPY magic)`);
  const major = b[6]!;
  const lenBytes = major === 1 ? 2 : 4;
  if (major < 1 || major > 3) throw new NpyError(`${where}: .npy format version ${major} is not supported (1 to 3 are)`);
  const hlen = lenBytes === 2 ? b.readUInt16LE(8) : b.readUInt32LE(8);
  const offset = 8 + lenBytes + hlen;
  if (b.length < offset) throw new NpyError(`${where}: the .npy header is cut short`);
  const header = b.toString(major === 3 ? "utf8" : "latin1", 8 + lenBytes, offset);
  const descr = /'descr'\s*:\s*'([^']*)'/.exec(header)?.[1];
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape'\s*:\s*\(([^)]*)\)/.exec(header)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined) throw new NpyError(`${where}: unreadable .npy header ${JSON.stringify(header.trim())}`);
  if (fortran === "True") throw new NpyError(`${where}: the array is stored in Fortran order; save it with np.ascontiguousarray first`);
  const m = /^([<|=])([uif])(\d)$/.exec(descr);
  const type = m ? (`${m[2]}${m[3]}` as NpyType) : undefined;
  if (!m || !type || !(type in SIZES) || (SIZES[type] > 1 && m[1] === "|")) {
    throw new NpyError(`${where}: dtype '${descr}' is not supported (little-endian integers, float32 or float64 are)`);
  }
  const shape = shapeText.split(",").map((s) => s.trim()).filter((s) => s !== "").map(Number);
  if (shape.some((n) => !Number.isSafeInteger(n) || n < 0)) throw new NpyError(`${where}: bad shape (${shapeText})`);
  return { type, shape, offset };
}

export const npyBytes = (h: NpyHeader) => h.shape.reduce((a, b) => a * b, 1) * SIZES[h.type];

/** Where an array lives: a .npy file, or `<key>.npy` inside an .npz file. */
export interface ArrayRef {
  file: string;
  key: string | null;
}

/** Bytes read from .npy/.npz files by this module (for tests: what `check` reads of a large archive). */
export const arrayFileReads = { bytes: 0 };

function openFile(file: string): number {
  try {
    return fs.openSync(file, "r");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new NpyError(`cannot read ${file}: ${code === "ENOENT" ? "no such file" : (err as Error).message}`);
  }
}

/** `length` bytes at `position` (fewer at the end of the file). */
function readAt(fd: number, length: number, position: number): Buffer {
  const buf = Buffer.alloc(length);
  let got = 0;
  while (got < length) {
    const n = fs.readSync(fd, buf, got, length - got, position + got);
    if (n === 0) break;
    got += n;
  }
  arrayFileReads.bytes += got;
  return got === length ? buf : buf.subarray(0, got);
}

interface ZipEntry {
  name: string;
  method: number;
  compressedSize: number;
  size: number;
  /** Offset of the entry's local header. */
  offset: number;
}

/** The entries of a zip file, from its central directory (ZIP64 included, as NumPy writes large archives). */
function zipEntries(fd: number, file: string): ZipEntry[] {
  const bad = (why: string) => new NpyError(`${file} is not a readable .npz (zip) file: ${why}`);
  const size = fs.fstatSync(fd).size;
  // The end record is the last 22 bytes unless the archive has a comment (up to 64 kB): the last 1 kB
  // is read first, everything a comment could cover only when the record is not in it.
  let tail: Buffer = Buffer.alloc(0);
  let eocd = -1;
  for (const want of [1024, 22 + 65535]) {
    const len = Math.min(size, want);
    if (len <= tail.length) break;
    tail = readAt(fd, len, size - len);
    for (let i = tail.length - 22; i >= 0; i--) {
      if (tail.readUInt32LE(i) === 0x06054b50) {
        eocd = i;
        break;
      }
    }
    if (eocd >= 0) break;
  }
  if (eocd < 0) throw bad("no end of central directory record");
  let count = tail.readUInt16LE(eocd + 10);
  let dirSize = tail.readUInt32LE(eocd + 12);
  let dirOffset = tail.readUInt32LE(eocd + 16);
  if (count === 0xffff || dirSize === 0xffffffff || dirOffset === 0xffffffff) {
    if (eocd < 20 || tail.readUInt32LE(eocd - 20) !== 0x07064b50) throw bad("no ZIP64 end of central directory locator");
    const at = Number(tail.readBigUInt64LE(eocd - 20 + 8));
    const rec = readAt(fd, 56, at);
    if (rec.length < 56 || rec.readUInt32LE(0) !== 0x06064b50) throw bad("no ZIP64 end of central directory record");
    count = Number(rec.readBigUInt64LE(32));
    dirSize = Number(rec.readBigUInt64LE(40));
    dirOffset = Number(rec.readBigUInt64LE(48));
  }
  if (dirOffset + dirSize > size) throw bad("the central directory lies past the end of the file");
  const dir = readAt(fd, dirSize, dirOffset);
  const entries: ZipEntry[] = [];
  let p = 0;
  for (let k = 0; k < count; k++) {
    if (p + 46 > dir.length || dir.readUInt32LE(p) !== 0x02014b50) throw bad("a damaged central directory");
    const flags = dir.readUInt16LE(p + 8);
    const method = dir.readUInt16LE(p + 10);
    let compressedSize = dir.readUInt32LE(p + 20);
    let usize = dir.readUInt32LE(p + 24);
    const nameLen = dir.readUInt16LE(p + 28), extraLen = dir.readUInt16LE(p + 30), commentLen = dir.readUInt16LE(p + 32);
    let offset = dir.readUInt32LE(p + 42);
    const name = dir.toString(flags & 0x800 ? "utf8" : "latin1", p + 46, p + 46 + nameLen);
    // ZIP64 extended information: the 8-byte values of the fields that hold 0xffffffff, in this order.
    for (let e = p + 46 + nameLen; e + 4 <= p + 46 + nameLen + extraLen; ) {
      const id = dir.readUInt16LE(e), len = dir.readUInt16LE(e + 2);
      if (id === 0x0001) {
        let q = e + 4;
        const next = () => {
          const v = Number(dir.readBigUInt64LE(q));
          q += 8;
          return v;
        };
        if (usize === 0xffffffff) usize = next();
        if (compressedSize === 0xffffffff) compressedSize = next();
        if (offset === 0xffffffff) offset = next();
      }
      e += 4 + len;
    }
    if (flags & 1) throw bad(`${name} is encrypted`);
    entries.push({ name, method, compressedSize, size: usize, offset });
    p += 46 + nameLen + extraLen + commentLen;
  }
  return entries;
}

/** Where an entry's data starts: after its local header, whose name and extra field lengths may differ from the directory's. */
function entryDataStart(fd: number, e: ZipEntry, file: string): number {
  const h = readAt(fd, 30, e.offset);
  if (h.length < 30 || h.readUInt32LE(0) !== 0x04034b50) throw new NpyError(`${file} is not a readable .npz (zip) file: no local header for ${e.name}`);
  return e.offset + 30 + h.readUInt16LE(26) + h.readUInt16LE(28);
}

function withArchive<T>(file: string, fn: (fd: number, entries: ZipEntry[]) => T): T {
  const fd = openFile(file);
  try {
    return fn(fd, zipEntries(fd, file));
  } finally {
    fs.closeSync(fd);
  }
}

const arrayEntry = (entries: ZipEntry[], ref: ArrayRef): ZipEntry => {
  const e = entries.find((x) => x.name === `${ref.key}.npy`);
  if (!e) throw new NpyError(`${ref.file} has no array '${ref.key}' (it has: ${keysOf(entries).join(", ") || "none"})`);
  if (e.method !== 0 && e.method !== 8) throw new NpyError(`${ref.file}: ${e.name} uses zip compression method ${e.method} (stored and deflated entries are readable)`);
  return e;
};

const keysOf = (entries: ZipEntry[]) => entries.filter((e) => e.name.endsWith(".npy")).map((e) => e.name.slice(0, -4));

/** Names of the arrays in an .npz file (its `<key>.npy` entries), in archive order. */
export function npzKeys(file: string): string[] {
  return withArchive(file, (_fd, entries) => keysOf(entries));
}

function readFile(file: string): Uint8Array {
  const fd = openFile(file);
  try {
    return readAt(fd, fs.fstatSync(fd).size, 0);
  } finally {
    fs.closeSync(fd);
  }
}

/** The .npy bytes of an array (the whole file, or the inflated archive entry). */
export function readNpyBytes(ref: ArrayRef): Uint8Array {
  if (ref.key === null) return readFile(ref.file);
  return withArchive(ref.file, (fd, entries) => {
    const e = arrayEntry(entries, ref);
    const raw = readAt(fd, e.compressedSize, entryDataStart(fd, e, ref.file));
    if (raw.length < e.compressedSize) throw new NpyError(`${ref.file}: ${e.name} is cut short`);
    if (e.method === 0) return raw;
    try {
      return inflateSync(raw, { out: new Uint8Array(e.size) });
    } catch (err) {
      throw new NpyError(`${ref.file} is not a readable .npz (zip) file: ${e.name}: ${(err as Error).message}`);
    }
  });
}

/** The header and data of an array, the data checked against the header's size. */
export function readNpy(ref: ArrayRef): { header: NpyHeader; data: Uint8Array } {
  const bytes = readNpyBytes(ref);
  const where = ref.key === null ? ref.file : `${ref.file}:${ref.key}`;
  const header = parseNpyHeader(bytes, where);
  const want = npyBytes(header);
  if (bytes.length - header.offset < want) throw new NpyError(`${where}: the header says ${want} bytes of data (shape [${header.shape.join(", ")}]), the file has ${bytes.length - header.offset}`);
  return { header, data: bytes.subarray(header.offset, header.offset + want) };
}

/** The length of a .npy header from its first 12 bytes (magic, version, length field), or null if unreadable. */
function headerLength(b: Uint8Array): number | null {
  if (b.length < 12) return null;
  const v = Buffer.from(b.buffer, b.byteOffset, 12);
  return v[6] === 1 ? 10 + v.readUInt16LE(8) : 12 + v.readUInt32LE(8);
}

/**
 * Only the header: the first bytes of a .npy file, or of an .npz entry (a deflated entry is inflated a
 * few kilobytes at a time until the header is complete).
 */
export function readNpyHeader(ref: ArrayRef): NpyHeader {
  if (ref.key !== null) {
    return withArchive(ref.file, (fd, entries) => {
      const e = arrayEntry(entries, ref);
      const where = `${ref.file}:${ref.key}`;
      let pos = entryDataStart(fd, e, ref.file);
      const end = pos + e.compressedSize;
      if (e.method === 0) {
        const need = headerLength(readAt(fd, Math.min(12, e.compressedSize), pos));
        return parseNpyHeader(readAt(fd, Math.min(need ?? 12, e.compressedSize), pos), where);
      }
      const parts: Uint8Array[] = [];
      let have = 0;
      let done = false;
      const inflate = new Inflate((chunk) => {
        parts.push(chunk);
        have += chunk.length;
      });
      const head = () => Buffer.concat(parts, have);
      while (!done && pos < end) {
        const step = Math.min(4096, end - pos);
        const last = pos + step >= end;
        try {
          inflate.push(readAt(fd, step, pos), last);
        } catch (err) {
          throw new NpyError(`${ref.file} is not a readable .npz (zip) file: ${e.name}: ${(err as Error).message}`);
        }
        pos += step;
        const need = headerLength(head());
        done = need !== null && have >= need;
      }
      return parseNpyHeader(head(), where);
    });
  }
  const fd = openFile(ref.file);
  try {
    return parseNpyHeader(readAt(fd, 65536 + 12, 0), ref.file);
  } finally {
    fs.closeSync(fd);
  }
}

/** Integer labels of any integer dtype, as int32; float labels must be whole numbers. */
export function toLabels(h: NpyHeader, data: Uint8Array, where: string): Int32Array {
  const n = h.shape.reduce((a, b) => a * b, 1);
  if (h.shape.length !== 1 && !(h.shape.length === 2 && h.shape[1] === 1)) throw new NpyError(`${where}: labels must be a 1-D array, got shape [${h.shape.join(", ")}]`);
  const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const v = readValue(dv, h.type, i);
    if (!Number.isInteger(v) || v < 0 || v > 1e6) throw new NpyError(`${where}: label ${v} at index ${i} is not a class number (0, 1, 2, ...)`);
    out[i] = v;
  }
  return out;
}

function readValue(dv: DataView, t: NpyType, i: number): number {
  switch (t) {
    case "u1": return dv.getUint8(i);
    case "i1": return dv.getInt8(i);
    case "u2": return dv.getUint16(i * 2, true);
    case "i2": return dv.getInt16(i * 2, true);
    case "u4": return dv.getUint32(i * 4, true);
    case "i4": return dv.getInt32(i * 4, true);
    case "u8": return Number(dv.getBigUint64(i * 8, true));
    case "i8": return Number(dv.getBigInt64(i * 8, true));
    case "f4": return dv.getFloat32(i * 4, true);
    case "f8": return dv.getFloat64(i * 8, true);
  }
}

/** Resolves the arrays a declaration names: images at `key` (default x, else arr_0, else the first), labels beside. */
export function arrayRefs(file: string, key: string | null, labels: string | null, baseDir: string): { images: ArrayRef; labels: ArrayRef | null } {
  const isNpz = file.toLowerCase().endsWith(".npz");
  let imageKey: string | null = null;
  if (isNpz) {
    const keys = npzKeys(file);
    imageKey = key ?? (keys.includes("x") ? "x" : keys.includes("arr_0") ? "arr_0" : keys[0] ?? null);
    if (imageKey === null) throw new NpyError(`${file} holds no arrays`);
  } else if (key !== null) throw new NpyError(`'key' names an array inside an .npz file; ${file} is a single .npy array`);
  let labelRef: ArrayRef | null = null;
  if (labels !== null) labelRef = labels.toLowerCase().endsWith(".npy") || !isNpz ? { file: path.resolve(baseDir, labels), key: null } : { file, key: labels };
  return { images: { file, key: imageKey }, labels: labelRef };
}
