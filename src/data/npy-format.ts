import * as fs from "node:fs";
import * as path from "node:path";
import { unzipSync } from "fflate";

/**
 * NumPy's .npy format (format version 1.0-3.0): "\x93NUMPY", two version bytes, the header length
 * (u16 LE, or u32 LE from version 2.0), then a Python dict literal
 * `{'descr': '<f4', 'fortran_order': False, 'shape': (100, 32, 32, 3), }` padded with spaces, then the data.
 * An .npz file is a zip of such files named `<key>.npy` (stored by np.savez, deflated by np.savez_compressed);
 * fflate reads it.
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

/** Names of the arrays in an .npz file (its `<key>.npy` entries), in archive order. */
export function npzKeys(file: string): string[] {
  const keys: string[] = [];
  unzipSync(readFile(file), { filter: (f) => (f.name.endsWith(".npy") && keys.push(f.name.slice(0, -4)), false) });
  return keys;
}

function readFile(file: string): Uint8Array {
  try {
    return fs.readFileSync(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new NpyError(`cannot read ${file}: ${code === "ENOENT" ? "no such file" : (err as Error).message}`);
  }
}

/** The .npy bytes of an array (the whole file, or the inflated archive entry). */
export function readNpyBytes(ref: ArrayRef): Uint8Array {
  if (ref.key === null) return readFile(ref.file);
  let files: Record<string, Uint8Array>;
  try {
    files = unzipSync(readFile(ref.file), { filter: (f) => f.name === `${ref.key}.npy` });
  } catch (err) {
    if (err instanceof NpyError) throw err;
    throw new NpyError(`${ref.file} is not a readable .npz (zip) file: ${(err as Error).message}`);
  }
  const bytes = files[`${ref.key}.npy`];
  if (!bytes) throw new NpyError(`${ref.file} has no array '${ref.key}' (it has: ${npzKeys(ref.file).join(", ") || "none"})`);
  return bytes;
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

/** Only the header: the first bytes of a .npy file (an .npz entry is inflated, it has to be). */
export function readNpyHeader(ref: ArrayRef): NpyHeader {
  if (ref.key !== null) return readNpy(ref).header;
  const fd = (() => {
    try {
      return fs.openSync(ref.file, "r");
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw new NpyError(`cannot read ${ref.file}: ${code === "ENOENT" ? "no such file" : (err as Error).message}`);
    }
  })();
  try {
    const head = Buffer.alloc(65536 + 12);
    const n = fs.readSync(fd, head, 0, head.length, 0);
    return parseNpyHeader(head.subarray(0, n), ref.file);
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
