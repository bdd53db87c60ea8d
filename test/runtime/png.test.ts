import { describe, it, expect } from "vitest";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { PNG } from "pngjs";
import { encodeImageGrid, encodeScatter, writePng } from "../../src/runtime/png.ts";

const rgb = (png: PNG, x: number, y: number): number[] => {
  const i = (y * png.width + x) * 4;
  return [png.data[i], png.data[i + 1], png.data[i + 2]];
};

describe("encodeImageGrid", () => {
  it("tiles a white and a black 2x2 grey image with padding and upscaling", () => {
    // n=2, h=w=2, c=1: tile 0 white, tile 1 black.
    const data = Float32Array.from([1, 1, 1, 1, 0, 0, 0, 0]);
    const buf = encodeImageGrid(data, 2, 2, 2, 1, { range: [0, 1], cols: 2, pad: 1, scale: 2 });
    expect(buf.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
    const png = PNG.sync.read(buf);
    expect(png.colorType).toBe(2); // 8-bit RGB
    expect(png.depth).toBe(8);
    // width = 2 tiles * 4 px + 3 pads; height = 4 px + 2 pads.
    expect([png.width, png.height]).toEqual([11, 6]);
    const pad = rgb(png, 0, 0);
    expect(pad[0]).toBeGreaterThan(0);
    expect(pad[0]).toBeLessThan(128);
    for (let y = 1; y <= 4; y++) {
      for (let x = 1; x <= 4; x++) expect(rgb(png, x, y)).toEqual([255, 255, 255]);
      expect(rgb(png, 5, y)).toEqual(pad); // pad column between tiles
      for (let x = 6; x <= 9; x++) expect(rgb(png, x, y)).toEqual([0, 0, 0]);
      expect(rgb(png, 10, y)).toEqual(pad);
    }
    for (let x = 0; x < 11; x++) expect(rgb(png, x, 5)).toEqual(pad);
  });

  it("maps [-1,1] (tanh) with clamping, NaN as black", () => {
    const data = Float32Array.from([-1, 0, 1, 3, -5, NaN]);
    const png = PNG.sync.read(encodeImageGrid(data, 1, 2, 3, 1, { range: [-1, 1], pad: 0 }));
    expect([png.width, png.height]).toEqual([3, 2]);
    const grey = [0, 1, 2, 0, 1, 2].map((x, k) => rgb(png, x, k < 3 ? 0 : 1)[0]);
    expect(grey).toEqual([0, 128, 255, 255, 0, 0]);
  });

  it("keeps RGB channels and lays out rows by cols; empty slots stay padding", () => {
    // 3 images of 1x1 RGB: red, green, blue; default cols = ceil(sqrt(3)) = 2 -> 2x2 grid.
    const data = Float32Array.from([1, 0, 0, 0, 1, 0, 0, 0, 1]);
    const png = PNG.sync.read(encodeImageGrid(data, 3, 1, 1, 3, { range: [0, 1] }));
    // 2 tiles of 1 px + 3 pads of 2 px = 8 in both directions.
    expect([png.width, png.height]).toEqual([8, 8]);
    expect(rgb(png, 2, 2)).toEqual([255, 0, 0]);
    expect(rgb(png, 5, 2)).toEqual([0, 255, 0]);
    expect(rgb(png, 2, 5)).toEqual([0, 0, 255]);
    expect(rgb(png, 5, 5)).toEqual(rgb(png, 0, 0));
  });

  it("rejects inconsistent arguments", () => {
    expect(() => encodeImageGrid(new Float32Array(7), 2, 2, 2, 1, { range: [0, 1] })).toThrow(/expected 2x2x2x1/);
    expect(() => encodeImageGrid(new Float32Array(8), 2, 2, 1, 2, { range: [0, 1] })).toThrow(/channels/);
    expect(() => encodeImageGrid(new Float32Array(4), 1, 2, 2, 1, { range: [1, 1] })).toThrow(/range/);
  });
});

describe("encodeScatter", () => {
  it("draws dots and reference crosses on a white square", () => {
    const png = PNG.sync.read(
      encodeScatter(Float32Array.from([1, 1, -1, -1]), { size: 101, extent: 2, reference: [[1, -1]] }),
    );
    expect([png.width, png.height]).toEqual([101, 101]);
    expect(rgb(png, 3, 3)).toEqual([255, 255, 255]);
    // (1, 1) -> column 75, row 25 (y points up); (-1, -1) -> column 25, row 75.
    for (const [x, y] of [[75, 25], [25, 75]]) {
      const [r, g, b] = rgb(png, x, y);
      expect(b).toBeGreaterThan(r + 50);
      expect(g).toBeLessThan(200);
    }
    // The cross at (1, -1) -> column 75, row 75, arms along the row and column.
    for (const [x, y] of [[75, 75], [72, 75], [75, 78]]) {
      const [r, g, b] = rgb(png, x, y);
      expect(r).toBeGreaterThan(180);
      expect(g).toBeLessThan(80);
      expect(b).toBeLessThan(80);
    }
    // No dot where there is no sample (and off the axes).
    expect(rgb(png, 75, 40)).toEqual([255, 255, 255]);
  });

  it("fits the data by default and rejects odd-length input", () => {
    const png = PNG.sync.read(encodeScatter(Float32Array.from([10, 0, NaN, 1]), { size: 64 }));
    expect([png.width, png.height]).toEqual([64, 64]);
    // (10, 0) is inside the default extent (11): the dot is near the right edge, at mid-height.
    const row = Math.round(31.5);
    const right = Array.from({ length: 8 }, (_, k) => rgb(png, 56 + k, row)).filter(([r, , b]) => b > r + 50);
    expect(right.length).toBeGreaterThan(0);
    expect(() => encodeScatter(new Float32Array(3))).toThrow(/pairs/);
  });
});

describe("writePng", () => {
  it("writes the bytes into a new folder", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ganc-png-"));
    try {
      const file = path.join(dir, "samples", "step-1.png");
      const buf = encodeImageGrid(new Float32Array(4), 1, 2, 2, 1, { range: [0, 1] });
      writePng(file, buf);
      expect(fs.readFileSync(file)).toEqual(buf);
      expect(fs.readdirSync(path.dirname(file))).toEqual(["step-1.png"]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
