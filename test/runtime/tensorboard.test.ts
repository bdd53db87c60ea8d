import { afterEach, beforeEach, describe, expect, it } from "vitest";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { PNG } from "pngjs";
import { SummaryWriter } from "../../src/runtime/tensorboard.ts";

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

function crc32c(bytes: Uint8Array): number {
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

interface DecodedValue {
  tag: string;
  simpleValue?: number;
  image?: { height: number; width: number; colorspace: number; encoded: Uint8Array };
  histo?: { min: number; max: number; num: number; sum: number; sumSquares: number; limits: number[]; counts: number[] };
  tensor?: { dtype: number; dims: number[]; strings: string[] };
  pluginName?: string;
}
interface DecodedEvent { wallTime: number; step: number; fileVersion?: string; values: DecodedValue[] }

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

function readEvents(file: string): DecodedEvent[] {
  return readRecords(file).map(decodeEvent);
}

let dir: string;
beforeEach(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), "ganc-tb-")); });
afterEach(() => { fs.rmSync(dir, { recursive: true, force: true }); });

describe("test decoder", () => {
  it("computes the standard CRC-32C check value", () => {
    expect(crc32c(new TextEncoder().encode("123456789"))).toBe(0xe3069283);
  });
});

describe("SummaryWriter", () => {
  it("writes scalars, a histogram, an image and text that decode back exactly", () => {
    const logDir = path.join(dir, "run", "nested");
    const w = new SummaryWriter(logDir);
    const [prefix, seconds, host] = [path.basename(w.file).slice(0, 20), ...path.basename(w.file).slice(20).split(/\.(.*)/s)];
    expect(prefix).toBe("events.out.tfevents.");
    expect(Math.abs(Number(seconds) - Date.now() / 1000)).toBeLessThan(60);
    expect(host).toBe(os.hostname());
    expect(path.dirname(w.file)).toBe(logDir);

    const losses = Array.from({ length: 10 }, (_, i) => 1 / (i + 1) + 0.1);
    for (let step = 0; step < 10; step++) {
      w.scalar("loss/g", losses[step], step);
      w.scalar("loss/d", -losses[step], step);
    }
    const values = new Float32Array(1000).map((_, i) => Math.sin(i) * 3 + 0.5);
    w.histogram("weights/dense", values, 9);

    const png = new PNG({ width: 5, height: 3 });
    for (let i = 0; i < png.data.length; i++) png.data[i] = (i * 37) & 0xff;
    const pngBytes = PNG.sync.write(png);
    w.image("samples", pngBytes, 5, 3, 4, 9);
    w.text("spec", "generator: dense(128) → relu ✓", 0);
    w.close();

    const events = readEvents(w.file);
    expect(events[0].fileVersion).toBe("brain.Event:2");
    expect(events[0].values).toEqual([]);
    const nowSec = Date.now() / 1000;
    for (const e of events) expect(Math.abs(e.wallTime - nowSec)).toBeLessThan(60);
    expect(events).toHaveLength(1 + 20 + 3);

    const byTag = new Map<string, { step: number; value: DecodedValue }[]>();
    for (const e of events.slice(1)) {
      expect(e.values).toHaveLength(1);
      const v = e.values[0];
      if (!byTag.has(v.tag)) byTag.set(v.tag, []);
      byTag.get(v.tag)!.push({ step: e.step, value: v });
    }
    expect([...byTag.keys()].sort()).toEqual(["loss/d", "loss/g", "samples", "spec", "weights/dense"]);
    for (const series of byTag.values()) {
      for (let i = 1; i < series.length; i++) expect(series[i].step).toBeGreaterThan(series[i - 1].step);
    }

    const g = byTag.get("loss/g")!;
    expect(g.map((s) => s.step)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(g.map((s) => s.value.simpleValue)).toEqual(losses.map(Math.fround));
    expect(byTag.get("loss/d")!.map((s) => s.value.simpleValue)).toEqual(losses.map((x) => Math.fround(-x)));

    const [{ step: hStep, value: hValue }] = byTag.get("weights/dense")!;
    const h = hValue.histo!;
    expect(hStep).toBe(9);
    const arr = Array.from(values);
    expect(h.num).toBe(1000);
    expect(h.min).toBe(Math.min(...arr));
    expect(h.max).toBe(Math.max(...arr));
    expect(h.sum).toBeCloseTo(arr.reduce((a, b) => a + b, 0), 6);
    expect(h.sumSquares).toBeCloseTo(arr.reduce((a, b) => a + b * b, 0), 4);
    expect(h.counts).toHaveLength(30);
    expect(h.limits).toHaveLength(30);
    expect(h.counts.reduce((a, b) => a + b, 0)).toBe(1000);
    for (let i = 1; i < h.limits.length; i++) expect(h.limits[i]).toBeGreaterThan(h.limits[i - 1]);
    expect(h.limits[0]).toBeGreaterThan(h.min);
    expect(h.limits.at(-1)).toBeGreaterThanOrEqual(h.max);
    // Every bucket count matches a direct recount of [limit[i-1], limit[i]) (last bucket closed).
    const recount = h.limits.map((hi, i) => {
      const lo = i === 0 ? -Infinity : h.limits[i - 1];
      return arr.filter((v) => v >= lo && (v < hi || (i === h.limits.length - 1 && v <= hi))).length;
    });
    expect(h.counts).toEqual(recount);

    const [{ step: iStep, value: iValue }] = byTag.get("samples")!;
    expect(iStep).toBe(9);
    expect(iValue.image).toMatchObject({ width: 5, height: 3, colorspace: 4 });
    expect(Buffer.from(iValue.image!.encoded).equals(pngBytes)).toBe(true);
    const decoded = PNG.sync.read(Buffer.from(iValue.image!.encoded));
    expect([decoded.width, decoded.height]).toEqual([5, 3]);
    expect(decoded.data.equals(png.data)).toBe(true);

    const [{ value: tValue }] = byTag.get("spec")!;
    expect(tValue.pluginName).toBe("text");
    expect(tValue.tensor).toEqual({ dtype: 7, dims: [], strings: ["generator: dense(128) → relu ✓"] });
  });

  it("buffers records until flush, and flushes on its own past about 1 MB", () => {
    const w = new SummaryWriter(dir);
    const headerSize = fs.statSync(w.file).size;
    expect(readEvents(w.file)).toHaveLength(1);

    w.scalar("x", 1, 0);
    expect(fs.statSync(w.file).size).toBe(headerSize);
    w.flush();
    expect(readEvents(w.file)).toHaveLength(2);

    const blob = new Uint8Array(400_000).fill(7);
    w.image("big", blob, 1, 1, 3, 1);
    w.image("big", blob, 1, 1, 3, 2);
    const beforeAuto = fs.statSync(w.file).size;
    w.image("big", blob, 1, 1, 3, 3); // pushes the buffer past 1 MB
    expect(fs.statSync(w.file).size).toBeGreaterThan(beforeAuto + 1_000_000);
    expect(readEvents(w.file).map((e) => e.step)).toEqual([0, 0, 1, 2, 3]);
    w.close();
    w.close(); // idempotent
  });

  it("gives two writers started in the same second separate files", () => {
    const a = new SummaryWriter(dir);
    const b = new SummaryWriter(dir);
    expect(a.file).not.toBe(b.file);
    a.scalar("a", 1, 0);
    b.scalar("b", 2, 0);
    a.close();
    b.close();
    expect(readEvents(a.file).map((e) => e.values[0]?.tag)).toEqual([undefined, "a"]);
    expect(readEvents(b.file).map((e) => e.values[0]?.tag)).toEqual([undefined, "b"]);
  });

  it("handles degenerate histograms: constant values, non-finite values, custom bucket count", () => {
    const w = new SummaryWriter(dir);
    w.histogram("const", [2.5, 2.5, 2.5], 0);
    w.histogram("nan", [NaN, 1, Infinity, 3, -Infinity], 0, 4);
    w.histogram("empty", [], 0);
    w.close();
    const [c, n, e] = readEvents(w.file).slice(1).map((ev) => ev.values[0].histo!);
    expect(c).toMatchObject({ min: 2.5, max: 2.5, num: 3, sum: 7.5, counts: [3] });
    expect(n).toMatchObject({ min: 1, max: 3, num: 2, sum: 4, sumSquares: 10, limits: [1.5, 2, 2.5, 3], counts: [1, 0, 0, 1] });
    expect(e).toMatchObject({ num: 0, counts: [] });
  });

  it("rejects bad arguments and use after close with clear errors", () => {
    const w = new SummaryWriter(dir);
    expect(() => w.scalar("", 1, 0)).toThrow(/tag/);
    expect(() => w.scalar("x", 1, -1)).toThrow(/step/);
    expect(() => w.scalar("x", 1, 1.5)).toThrow(/step/);
    expect(() => w.image("x", new Uint8Array(1), 1, 1, 5, 0)).toThrow(/channels/);
    expect(() => w.histogram("x", [1], 0, 0)).toThrow(/bucket/);
    w.close();
    expect(() => w.scalar("x", 1, 0)).toThrow(/closed/);
  });

  it("surfaces file system failures as Errors naming the path", () => {
    const notADir = path.join(dir, "plain-file");
    fs.writeFileSync(notADir, "");
    expect(() => new SummaryWriter(path.join(notADir, "logs"))).toThrow(/tensorboard: could not create log directory .*plain-file/);

    // Pull the descriptor out from under the writer so the next write fails at the OS level.
    const w = new SummaryWriter(dir);
    w.scalar("x", 1, 0);
    fs.closeSync((w as unknown as { fd: number }).fd);
    expect(() => w.flush()).toThrow(/tensorboard: could not write event file .*events\.out\.tfevents.*EBADF/);
  });
});
