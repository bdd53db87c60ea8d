import type { CheckpointPayload } from "../../runtime/checkpoint-payload.ts";
import { sha256 } from "./sha256.ts";

/**
 * A checkpoint's bytes, in the page: the format src/runtime/checkpoint.ts writes and reads (magic, version,
 * JSON header, 8-aligned little-endian tensor data, sha256 of the data in the header and of the whole file at
 * the end), built from plain typed arrays so that it needs neither Node's Buffer nor a secure context's
 * crypto.subtle. test/ui/playground-checkpoint.test.ts holds it to the bytes saveCheckpoint writes.
 */

const MAGIC = "GANCKPT\n";
const FORMAT_VERSION = 1;
const align8 = (n: number) => Math.ceil(n / 8) * 8;

export function encodeCheckpoint(step: number, payload: CheckpointPayload): Uint8Array {
  const entries: { name: string; shape: number[]; dtype: string; offset: number; length: number }[] = [];
  let dataLength = 0;
  for (const t of payload.tensors) {
    dataLength = align8(dataLength);
    entries.push({ name: t.name, shape: [...t.shape], dtype: t.dtype, offset: dataLength, length: t.data.byteLength });
    dataLength += t.data.byteLength;
  }
  dataLength = align8(dataLength);
  const data = new Uint8Array(dataLength);
  payload.tensors.forEach((t, i) => data.set(leBytes(t.data), entries[i]!.offset));
  const header = { step, meta: payload.meta, tensors: entries, dataLength, dataSha256: hex(sha256(data)) };
  const headerBytes = new TextEncoder().encode(JSON.stringify(header));
  const prefix = MAGIC.length + 8;
  const dataStart = align8(prefix + headerBytes.length);
  const out = new Uint8Array(dataStart + dataLength + 32);
  for (let i = 0; i < MAGIC.length; i++) out[i] = MAGIC.charCodeAt(i);
  const view = new DataView(out.buffer);
  view.setUint32(MAGIC.length, FORMAT_VERSION, true);
  view.setUint32(MAGIC.length + 4, headerBytes.length, true);
  out.set(headerBytes, prefix);
  out.set(data, dataStart);
  out.set(sha256(out.subarray(0, out.length - 32)), out.length - 32);
  return out;
}

/** `ckpt-00000200.ganckpt`, as checkpoint.ts names them. */
export const checkpointFileName = (step: number) => `ckpt-${String(step).padStart(8, "0")}.ganckpt`;

function leBytes(a: Float32Array | Int32Array): Uint8Array {
  const out = new Uint8Array(a.length * 4);
  const v = new DataView(out.buffer);
  for (let i = 0; i < a.length; i++) {
    if (a instanceof Float32Array) v.setFloat32(4 * i, a[i]!, true);
    else v.setInt32(4 * i, a[i]!, true);
  }
  return out;
}

const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
