import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { writeFileAtomic } from "./fsutil.ts";

/*
 * File layout of one checkpoint (all integers little-endian):
 *
 *   0   8 bytes   magic "GANCKPT\n"
 *   8   u32       format version
 *   12  u32       header length H
 *   16  H bytes   JSON header {step, meta, tensors: [{name, shape, dtype, offset, length}], dataLength, dataSha256}
 *       zero padding to a multiple of 8
 *   D   dataLength bytes: raw tensor bytes; each tensor starts at D + offset, offsets are multiples of 8
 *       32 bytes  sha256 of every byte before it
 *
 * The trailing digest is checked first, so any flipped or missing byte is reported as corruption or
 * truncation before anything in the file is believed; the data digest in the header guards the
 * tensor bytes a second time.
 */

export const CHECKPOINT_FORMAT_VERSION = 1;

const MAGIC = Buffer.from("GANCKPT\n", "latin1");
const PREFIX_LEN = MAGIC.length + 8; // magic + version + header length
const DIGEST_LEN = 32;
const FILE_RE = /^ckpt-(\d{8,})\.ganckpt$/;
const LITTLE_ENDIAN_HOST = os.endianness() === "LE";

/** A checkpoint that cannot be written or read; the message names the file and what is wrong with it. */
export class CheckpointError extends Error {
  constructor(
    readonly file: string,
    readonly reason: string,
    options?: { cause?: unknown },
  ) {
    super(`checkpoint ${file}: ${reason}`, options);
    this.name = "CheckpointError";
  }
}

// What a checkpoint holds, and how a run's tensors become one, live in checkpoint-payload.ts (no Node modules).
import type { CheckpointPayload, SavedTensor } from "./checkpoint-payload.ts";
export { tensorsToSaved, type CheckpointPayload, type SavedTensor } from "./checkpoint-payload.ts";

interface HeaderTensor {
  name: string;
  shape: number[];
  dtype: "float32" | "int32";
  offset: number;
  length: number;
}

interface Header {
  step: number;
  meta: Record<string, unknown>;
  tensors: HeaderTensor[];
  dataLength: number;
  dataSha256: string;
}

export function checkpointFileName(step: number): string {
  return `ckpt-${String(step).padStart(8, "0")}.ganckpt`;
}

/**
 * Writes `payload` as `<dir>/ckpt-<step>.ganckpt` atomically (a crash leaves either the old state or
 * the complete new file), then deletes all but the newest `keep` (default 3) checkpoints, never the
 * one just written. Returns the file's path.
 */
export function saveCheckpoint(
  dir: string,
  step: number,
  payload: CheckpointPayload,
  opts: { keep?: number } = {},
): string {
  const file = path.join(dir, checkpointFileName(step));
  const keep = opts.keep ?? 3;
  if (!Number.isSafeInteger(step) || step < 0) {
    throw new CheckpointError(file, `step must be a non-negative integer, got ${step}`);
  }
  if (!(keep >= 1) || (keep !== Infinity && !Number.isInteger(keep))) {
    throw new CheckpointError(file, `keep must be a positive integer, got ${keep}`);
  }
  const bytes = encode(file, step, payload);
  try {
    fs.mkdirSync(dir, { recursive: true });
    writeFileAtomic(file, bytes);
  } catch (err) {
    throw new CheckpointError(file, `cannot write: ${(err as Error).message}`, { cause: err });
  }
  for (const old of listCheckpoints(dir).reverse().filter((c) => c.file !== file).slice(keep - 1)) {
    try {
      fs.rmSync(old.file, { force: true });
    } catch {
      // The new checkpoint is safely written; a stale one left behind must not fail the run.
    }
  }
  return file;
}

function encode(file: string, step: number, payload: CheckpointPayload): Uint8Array {
  if (typeof payload.meta !== "object" || payload.meta === null || Array.isArray(payload.meta)) {
    throw new CheckpointError(file, "meta must be a plain object");
  }
  const seen = new Set<string>();
  const entries: HeaderTensor[] = [];
  let dataLength = 0;
  for (const t of payload.tensors) {
    checkTensor(file, t, seen);
    dataLength = align8(dataLength);
    entries.push({ name: t.name, shape: [...t.shape], dtype: t.dtype, offset: dataLength, length: t.data.byteLength });
    dataLength += t.data.byteLength;
  }
  dataLength = align8(dataLength);

  // The data section's digest, fed tensor by tensor (with the zero padding between them) instead of
  // from a copy of the whole section: checkpoints of large models are hundreds of MB.
  const dataHash = createHash("sha256");
  let hashed = 0;
  payload.tensors.forEach((t, i) => {
    const at = entries[i].offset;
    if (at > hashed) dataHash.update(Buffer.alloc(at - hashed));
    dataHash.update(littleEndianBytes(t.data));
    hashed = at + t.data.byteLength;
  });
  if (dataLength > hashed) dataHash.update(Buffer.alloc(dataLength - hashed));

  const header: Header = {
    step,
    meta: payload.meta,
    tensors: entries,
    dataLength,
    dataSha256: dataHash.digest("hex"),
  };
  let json: string;
  try {
    json = JSON.stringify(header);
  } catch (err) {
    throw new CheckpointError(file, `meta is not JSON-serialisable: ${(err as Error).message}`, { cause: err });
  }
  const headerBytes = Buffer.from(json, "utf8");
  const dataStart = align8(PREFIX_LEN + headerBytes.length);

  const out = Buffer.alloc(dataStart + dataLength + DIGEST_LEN);
  MAGIC.copy(out, 0);
  out.writeUInt32LE(CHECKPOINT_FORMAT_VERSION, MAGIC.length);
  out.writeUInt32LE(headerBytes.length, MAGIC.length + 4);
  headerBytes.copy(out, PREFIX_LEN);
  payload.tensors.forEach((t, i) => writeLE(t.data, out, dataStart + entries[i].offset));
  sha256(out.subarray(0, out.length - DIGEST_LEN)).copy(out, out.length - DIGEST_LEN);
  return out;
}

function checkTensor(file: string, t: SavedTensor, seen: Set<string>): void {
  const bad = (why: string) => new CheckpointError(file, `tensor ${JSON.stringify(t.name)}: ${why}`);
  if (typeof t.name !== "string" || t.name === "") throw bad("name must be a non-empty string");
  if (seen.has(t.name)) throw bad("name appears twice");
  seen.add(t.name);
  if (!Array.isArray(t.shape) || !t.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw bad(`shape must be non-negative integers, got ${JSON.stringify(t.shape)}`);
  }
  const expected = t.dtype === "float32" ? Float32Array : t.dtype === "int32" ? Int32Array : undefined;
  if (!expected) throw bad(`unsupported dtype ${JSON.stringify(t.dtype)}`);
  if (!(t.data instanceof expected)) throw bad(`dtype ${t.dtype} needs a ${expected.name}`);
  const size = t.shape.reduce((a, b) => a * b, 1);
  if (t.data.length !== size) throw bad(`shape [${t.shape}] has ${size} elements but data has ${t.data.length}`);
}

/** Reads and fully verifies one checkpoint; any problem is a CheckpointError saying what is wrong. */
export function loadCheckpoint(file: string): CheckpointPayload {
  return readVerified(file).payload;
}

function readVerified(file: string): { step: number; payload: CheckpointPayload } {
  let buf: Buffer;
  try {
    buf = fs.readFileSync(file);
  } catch (err) {
    throw new CheckpointError(file, `cannot read: ${(err as Error).message}`, { cause: err });
  }
  const fail = (reason: string): never => {
    throw new CheckpointError(file, reason);
  };

  if (buf.length < MAGIC.length) {
    if (buf.length === 0) fail("truncated: the file is empty");
    if (MAGIC.subarray(0, buf.length).equals(buf)) fail(`truncated: only ${buf.length} bytes`);
  }
  if (!buf.subarray(0, MAGIC.length).equals(MAGIC)) fail("not a ganc checkpoint (bad magic bytes)");
  if (buf.length < PREFIX_LEN + DIGEST_LEN) fail(`truncated: only ${buf.length} bytes`);

  const digestOk = sha256(buf.subarray(0, buf.length - DIGEST_LEN)).equals(buf.subarray(buf.length - DIGEST_LEN));
  const version = buf.readUInt32LE(MAGIC.length);
  if (version !== CHECKPOINT_FORMAT_VERSION) {
    // An intact file from a newer ganc still ends in the digest of its contents; a damaged one does not.
    if (!digestOk) fail(`corrupted: checksum mismatch (format version field reads ${version})`);
    fail(
      version > CHECKPOINT_FORMAT_VERSION
        ? `unsupported format version ${version}: written by a newer ganc (this one reads version ${CHECKPOINT_FORMAT_VERSION}); upgrade ganc to load it`
        : `unsupported format version ${version} (this ganc reads version ${CHECKPOINT_FORMAT_VERSION})`,
    );
  }

  const headerLen = buf.readUInt32LE(MAGIC.length + 4);
  const header = parseHeader(buf, headerLen);
  if (!digestOk) {
    // Tell a cut-off write (or copy) apart from damaged bytes when the header is still readable.
    const expected = header ? align8(PREFIX_LEN + headerLen) + header.dataLength + DIGEST_LEN : undefined;
    if (expected !== undefined && buf.length < expected) {
      fail(`truncated: ${buf.length} of ${expected} bytes`);
    }
    if (PREFIX_LEN + headerLen + DIGEST_LEN > buf.length) fail("truncated or corrupted: the header runs past the end of the file");
    fail("corrupted: checksum mismatch");
  }

  // From here the bytes are exactly as written, so a failure means the writer produced a bad file.
  if (!header) return fail("corrupted: unreadable header");
  const dataStart = align8(PREFIX_LEN + headerLen);
  if (dataStart + header.dataLength + DIGEST_LEN !== buf.length) fail("corrupted: file length does not match its header");
  const data = buf.subarray(dataStart, dataStart + header.dataLength);
  if (sha256(data).toString("hex") !== header.dataSha256) fail("corrupted: tensor data checksum mismatch");

  const tensors = header.tensors.map((t): SavedTensor => {
    const size = t.shape.reduce((a, b) => a * b, 1);
    if (t.offset % 8 !== 0 || t.length !== size * 4 || t.offset + t.length > header.dataLength) {
      fail(`corrupted: tensor ${JSON.stringify(t.name)} has an inconsistent extent`);
    }
    return { name: t.name, shape: [...t.shape], dtype: t.dtype, data: readLE(t.dtype, data, t.offset, size) };
  });
  return { step: header.step, payload: { meta: header.meta, tensors } };
}

/** The header if it parses and has the expected structure, else undefined. */
function parseHeader(buf: Buffer, headerLen: number): Header | undefined {
  if (PREFIX_LEN + headerLen > buf.length) return undefined;
  let h: unknown;
  try {
    h = JSON.parse(buf.toString("utf8", PREFIX_LEN, PREFIX_LEN + headerLen));
  } catch {
    return undefined;
  }
  const isObj = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
  const isCount = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;
  if (
    !isObj(h) ||
    !isCount(h.step) ||
    !isObj(h.meta) ||
    !isCount(h.dataLength) ||
    typeof h.dataSha256 !== "string" ||
    !Array.isArray(h.tensors) ||
    !h.tensors.every(
      (t) =>
        isObj(t) &&
        typeof t.name === "string" &&
        (t.dtype === "float32" || t.dtype === "int32") &&
        Array.isArray(t.shape) &&
        t.shape.every(isCount) &&
        isCount(t.offset) &&
        isCount(t.length),
    )
  ) {
    return undefined;
  }
  return h as unknown as Header;
}

/** Checkpoints in `dir`, ascending by step; temp files and anything else are ignored. */
export function listCheckpoints(dir: string): { step: number; file: string }[] {
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw err;
  }
  const found: { step: number; file: string }[] = [];
  for (const e of entries) {
    const m = FILE_RE.exec(e.name);
    if (m && e.isFile()) found.push({ step: Number(m[1]), file: path.join(dir, e.name) });
  }
  return found.sort((a, b) => a.step - b.step);
}

/**
 * The newest checkpoint in `dir` that verifies. Newer ones that fail are reported through `onSkip`
 * and passed over. Returns null when `dir` holds no checkpoint files; throws a CheckpointError that
 * lists every file's problem when there are some but none is usable.
 */
export function loadLatestCheckpoint(
  dir: string,
  onSkip?: (file: string, reason: string) => void,
): { file: string; step: number; payload: CheckpointPayload } | null {
  const all = listCheckpoints(dir);
  if (all.length === 0) return null;
  const failures: string[] = [];
  for (const { file, step } of all.reverse()) {
    let reason: string;
    try {
      const loaded = readVerified(file);
      if (loaded.step === step) return { file, step, payload: loaded.payload };
      reason = `file name says step ${step} but it holds step ${loaded.step}`;
    } catch (err) {
      if (!(err instanceof CheckpointError)) throw err;
      reason = err.reason;
    }
    failures.push(`  ${path.basename(file)}: ${reason}`);
    onSkip?.(file, reason);
  }
  throw new CheckpointError(dir, `no usable checkpoint; every one failed:\n${failures.join("\n")}`);
}

function align8(n: number): number {
  return Math.ceil(n / 8) * 8;
}

function sha256(bytes: Uint8Array): Buffer {
  return createHash("sha256").update(bytes).digest();
}

/** The tensor's bytes in little-endian order (a view on a little-endian host, a copy elsewhere). */
function littleEndianBytes(src: Float32Array | Int32Array): Uint8Array {
  if (LITTLE_ENDIAN_HOST) return new Uint8Array(src.buffer, src.byteOffset, src.byteLength);
  const bytes = Buffer.alloc(src.byteLength);
  writeLE(src, bytes, 0);
  return bytes;
}

function writeLE(src: Float32Array | Int32Array, dst: Buffer, offset: number): void {
  if (LITTLE_ENDIAN_HOST) {
    dst.set(new Uint8Array(src.buffer, src.byteOffset, src.byteLength), offset);
    return;
  }
  const view = new DataView(dst.buffer, dst.byteOffset, dst.byteLength);
  for (let i = 0; i < src.length; i++) {
    if (src instanceof Float32Array) view.setFloat32(offset + 4 * i, src[i], true);
    else view.setInt32(offset + 4 * i, src[i], true);
  }
}

function readLE(dtype: "float32" | "int32", src: Uint8Array, offset: number, size: number): Float32Array | Int32Array {
  const out = dtype === "float32" ? new Float32Array(size) : new Int32Array(size);
  if (LITTLE_ENDIAN_HOST) {
    // Copy byte-wise: the source offset inside the file buffer need not be 4-aligned in memory.
    new Uint8Array(out.buffer).set(src.subarray(offset, offset + size * 4));
    return out;
  }
  const view = new DataView(src.buffer, src.byteOffset, src.byteLength);
  for (let i = 0; i < size; i++) {
    out[i] = dtype === "float32" ? view.getFloat32(offset + 4 * i, true) : view.getInt32(offset + 4 * i, true);
  }
  return out;
}
