import { afterEach, beforeEach, describe, expect, it } from "vitest";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { PNG } from "pngjs";
import { SummaryWriter } from "../../src/runtime/tensorboard.ts";

import { crc32c, readEvents, type DecodedValue } from "../tb-reader.ts";

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
