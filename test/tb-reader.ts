import * as fs from "node:fs";
import { expect } from "vitest";

// The decoder below is deliberately independent of the writer: its own CRC-32C table, its own
// TFRecord framing and a hand-written protobuf wire-format reader. Field numbers follow the
// TensorFlow protos (event.proto, summary.proto, histogram.proto, tensor.proto, tensor_shape.proto).

const CRC32C_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

export function crc32c(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC32C_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function masked(bytes: Uint8Array): number {
  const c = crc32c(bytes);
  return ((((c >>> 15) | (c << 17)) >>> 0) + 0xa282ead8) >>> 0;
}

/** Splits a TFRecord file into payloads, asserting both CRCs of every record. */
function readRecords(file: string): Uint8Array[] {
  const buf = new Uint8Array(fs.readFileSync(file));
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const records: Uint8Array[] = [];
  let pos = 0;
  while (pos < buf.length) {
    expect(pos + 12).toBeLessThanOrEqual(buf.length);
    const len = Number(view.getBigUint64(pos, true));
    expect(view.getUint32(pos + 8, true)).toBe(masked(buf.subarray(pos, pos + 8)));
    const data = buf.subarray(pos + 12, pos + 12 + len);
    expect(pos + 12 + len + 4).toBeLessThanOrEqual(buf.length);
    expect(view.getUint32(pos + 12 + len, true)).toBe(masked(data));
    records.push(data);
    pos += 12 + len + 4;
  }
  return records;
}

/** One wire-format field: varints as bigint; fixed32, fixed64 and length-delimited as raw bytes. */
type Field = { wire: number; varint?: bigint; bytes?: Uint8Array };
type Message = Map<number, Field[]>;

function parseMessage(buf: Uint8Array): Message {
  const msg: Message = new Map();
  let pos = 0;
  const varint = (): bigint => {
    let result = 0n, shift = 0n;
    for (;;) {
      const b = buf[pos++];
      if (b === undefined) throw new Error("truncated varint");
      result |= BigInt(b & 0x7f) << shift;
      if (!(b & 0x80)) return result;
      shift += 7n;
    }
  };
  const take = (n: number): Uint8Array => {
    if (pos + n > buf.length) throw new Error("truncated field");
    const out = buf.subarray(pos, pos + n);
    pos += n;
    return out;
  };
  while (pos < buf.length) {
    const key = Number(varint());
    const fieldNo = key >>> 3, wire = key & 7;
    let field: Field;
    if (wire === 0) field = { wire, varint: varint() };
    else if (wire === 1) field = { wire, bytes: take(8) };
    else if (wire === 2) field = { wire, bytes: take(Number(varint())) };
    else if (wire === 5) field = { wire, bytes: take(4) };
    else throw new Error(`unsupported wire type ${wire}`);
    if (!msg.has(fieldNo)) msg.set(fieldNo, []);
    msg.get(fieldNo)!.push(field);
  }
  return msg;
}

const dv = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, b.byteLength);
const last = (m: Message, n: number): Field | undefined => m.get(n)?.at(-1);
const getDouble = (m: Message, n: number) => { const f = last(m, n); return f ? dv(f.bytes!).getFloat64(0, true) : 0; };
const getFloat = (m: Message, n: number) => { const f = last(m, n); return f ? dv(f.bytes!).getFloat32(0, true) : 0; };
const getInt = (m: Message, n: number) => Number(last(m, n)?.varint ?? 0n);
const getBytes = (m: Message, n: number) => last(m, n)?.bytes;
const getString = (m: Message, n: number) => new TextDecoder().decode(getBytes(m, n) ?? new Uint8Array());
const getMessage = (m: Message, n: number) => { const b = getBytes(m, n); return b ? parseMessage(b) : undefined; };
/** repeated double, accepting both packed (wire 2) and unpacked (wire 1) encodings. */
function getDoubles(m: Message, n: number): number[] {
  const out: number[] = [];
  for (const f of m.get(n) ?? []) {
    const v = dv(f.bytes!);
    for (let i = 0; i < f.bytes!.length; i += 8) out.push(v.getFloat64(i, true));
  }
  return out;
}

export interface DecodedValue {
  tag: string;
  simpleValue?: number;
  image?: { height: number; width: number; colorspace: number; encoded: Uint8Array };
  histo?: { min: number; max: number; num: number; sum: number; sumSquares: number; limits: number[]; counts: number[] };
  tensor?: { dtype: number; dims: number[]; strings: string[] };
  pluginName?: string;
}
export interface DecodedEvent { wallTime: number; step: number; fileVersion?: string; values: DecodedValue[] }

function decodeEvent(bytes: Uint8Array): DecodedEvent {
  const ev = parseMessage(bytes);
  const event: DecodedEvent = { wallTime: getDouble(ev, 1), step: getInt(ev, 2), values: [] };
  if (ev.has(3)) event.fileVersion = getString(ev, 3);
  const summary = getMessage(ev, 5);
  for (const vf of summary?.get(1) ?? []) {
    const v = parseMessage(vf.bytes!);
    const value: DecodedValue = { tag: getString(v, 1) };
    if (v.has(2)) value.simpleValue = getFloat(v, 2);
    const img = getMessage(v, 4);
    if (img) value.image = { height: getInt(img, 1), width: getInt(img, 2), colorspace: getInt(img, 3), encoded: getBytes(img, 4)! };
    const h = getMessage(v, 5);
    if (h) {
      value.histo = {
        min: getDouble(h, 1), max: getDouble(h, 2), num: getDouble(h, 3), sum: getDouble(h, 4), sumSquares: getDouble(h, 5),
        limits: getDoubles(h, 6), counts: getDoubles(h, 7),
      };
    }
    const t = getMessage(v, 8);
    if (t) {
      const shape = getMessage(t, 2);
      value.tensor = {
        dtype: getInt(t, 1),
        dims: (shape?.get(2) ?? []).map((d) => getInt(parseMessage(d.bytes!), 1)),
        strings: (t.get(8) ?? []).map((s) => new TextDecoder().decode(s.bytes!)),
      };
    }
    const meta = getMessage(v, 9);
    const plugin = meta && getMessage(meta, 1);
    if (plugin) value.pluginName = getString(plugin, 1);
    event.values.push(value);
  }
  return event;
}

export function readEvents(file: string): DecodedEvent[] {
  return readRecords(file).map(decodeEvent);
}

