import { beforeAll, describe, expect, it } from "vitest";
import * as tf from "@tensorflow/tfjs";
import { selectBackend } from "../../src/runtime/backend.ts";
import { Rng } from "../../src/runtime/rng.ts";
import { makeMnistColor } from "../../src/data/mnist-color.ts";
import { chooseIndices, SWD_LIMITS, laplacianPyramid, patchCorners, projectionDirections, pyramidLevels, slicedWassersteinDistance, SWD_DEFAULTS } from "../../src/runtime/eval/swd.ts";

beforeAll(async () => {
  await selectBackend("auto", { log: () => {} });
});

const randomImages = (n: number, h: number, w: number, c: number, seed: number) => {
  const rng = new Rng(seed);
  return Float32Array.from({ length: n * h * w * c }, () => Math.fround(rng.uniform()));
};

// ---- float64 reference, written out independently: a direct 5x5 convolution with TF's REFLECT padding ----

type Img64 = { d: Float64Array; h: number; w: number };
const K1 = [1, 4, 6, 4, 1];
const refl = (i: number, n: number) => (i < 0 ? -i : i >= n ? 2 * n - 2 - i : i);
/** One channel of one image: sum over the 5x5 kernel outer(K1, K1) * gain / 256. */
function conv64(im: Img64, gain: number): Img64 {
  const out = new Float64Array(im.h * im.w);
  for (let y = 0; y < im.h; y++) {
    for (let x = 0; x < im.w; x++) {
      let s = 0;
      for (let i = 0; i < 5; i++) for (let j = 0; j < 5; j++) s += K1[i]! * K1[j]! * im.d[refl(y + i - 2, im.h) * im.w + refl(x + j - 2, im.w)]!;
      out[y * im.w + x] = (s * gain) / 256;
    }
  }
  return { d: out, h: im.h, w: im.w };
}
function down64(im: Img64): Img64 {
  const f = conv64(im, 1);
  const h = Math.ceil(im.h / 2), w = Math.ceil(im.w / 2);
  const d = new Float64Array(h * w);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) d[y * w + x] = f.d[2 * y * im.w + 2 * x]!;
  return { d, h, w };
}
function up64(im: Img64, h: number, w: number): Img64 {
  const z = new Float64Array(4 * im.h * im.w);
  for (let y = 0; y < im.h; y++) for (let x = 0; x < im.w; x++) z[2 * y * 2 * im.w + 2 * x] = im.d[y * im.w + x]!;
  const f = conv64({ d: z, h: 2 * im.h, w: 2 * im.w }, 4);
  const d = new Float64Array(h * w);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) d[y * w + x] = f.d[y * f.w + x]!;
  return { d, h, w };
}
/** Pyramid of one image channel in float64. */
function pyramid64(im: Img64, levels: number): Img64[] {
  const g = [im];
  for (let k = 1; k < levels; k++) g.push(down64(g[k - 1]!));
  return g.map((l, k) => (k === levels - 1 ? l : { d: l.d.map((v, i) => v - up64(g[k + 1]!, l.h, l.w).d[i]!), h: l.h, w: l.w }));
}
function channel(x: Float32Array, b: number, ch: number, h: number, w: number, c: number): Img64 {
  const d = new Float64Array(h * w);
  for (let i = 0; i < h * w; i++) d[i] = x[(b * h * w + i) * c + ch]!;
  return { d, h, w };
}

/** SWD x 1e3 of one level in float64 from the implementation's random draws (corners, directions). */
function swdLevel64(la: Img64[][], lb: Img64[][], level: number, o: { patchSize: number; patchesPerImage: number; repeats: number; directions: number; seed: number }): number {
  // la[b][ch]: image b's channel ch at this level
  const n = la.length, c = la[0]!.length, { h, w } = la[0]![0]!, p = o.patchSize;
  const desc = (imgs: Img64[][], corners: Int32Array) =>
    Array.from({ length: n * o.patchesPerImage }, (_, i) => {
      const b = Math.floor(i / o.patchesPerImage), y0 = corners[2 * i]!, x0 = corners[2 * i + 1]!;
      const v: number[] = [];
      for (let dy = 0; dy < p; dy++) for (let dx = 0; dx < p; dx++) for (let ch = 0; ch < c; ch++) v.push(imgs[b]![ch]!.d[(y0 + dy) * w + x0 + dx]!);
      return v;
    });
  const A = desc(la, patchCorners(o.seed, level, 0, n, h, w, o.patchesPerImage, p));
  const B = desc(lb, patchCorners(o.seed, level, 1, n, h, w, o.patchesPerImage, p));
  for (let ch = 0; ch < c; ch++) {
    const vals = [...A, ...B].flatMap((v) => v.filter((_, q) => q % c === ch));
    const mean = vals.reduce((s, v) => s + v, 0) / vals.length;
    const std = Math.sqrt(vals.reduce((s, v) => s + (v - mean) ** 2, 0) / vals.length);
    for (const v of [...A, ...B]) for (let q = ch; q < v.length; q += c) v[q] = (v[q]! - mean) / std;
  }
  const dim = p * p * c;
  let total = 0;
  for (let r = 0; r < o.repeats; r++) {
    const dirs = projectionDirections(o.seed, level, r, dim, o.directions);
    for (let j = 0; j < o.directions; j++) {
      const proj = (X: number[][]) => X.map((v) => v.reduce((s, x, d) => s + x * dirs[j * dim + d]!, 0)).sort((a, b) => a - b);
      const pa = proj(A), pb = proj(B);
      total += pa.reduce((s, v, i) => s + Math.abs(v - pb[i]!), 0) / pa.length;
    }
  }
  return (total / (o.repeats * o.directions)) * 1e3;
}

describe("Laplacian pyramid", () => {
  it("levels stop at the smallest side >= minResolution (16 by default)", () => {
    expect(pyramidLevels(64, 64)).toBe(3);
    expect(pyramidLevels(32, 32)).toBe(2);
    expect(pyramidLevels(28, 28)).toBe(1);
    expect(pyramidLevels(16, 16)).toBe(1);
    expect(pyramidLevels(20, 10, 5)).toBe(2);
    expect(pyramidLevels(11, 11, 3)).toBe(3); // 11 -> 6 -> 3
  });

  it("matches a float64 direct convolution, odd sizes and several channels included", () => {
    for (const [h, w, levels] of [[12, 12, 3], [11, 9, 3]] as const) {
      const n = 2, c = 2;
      const x = randomImages(n, h, w, c, 5 + h);
      const got = laplacianPyramid(x, n, h, w, c, levels);
      expect(got.map((l) => [l.h, l.w])).toEqual(pyramid64(channel(x, 0, 0, h, w, c), levels).map((l) => [l.h, l.w]));
      for (let b = 0; b < n; b++) {
        for (let ch = 0; ch < c; ch++) {
          const want = pyramid64(channel(x, b, ch, h, w, c), levels);
          want.forEach((l, k) => {
            const g = got[k]!;
            for (let i = 0; i < l.h * l.w; i++) expect(Math.abs(g.data[(b * l.h * l.w + i) * c + ch]! - l.d[i]!)).toBeLessThan(2e-6);
          });
        }
      }
    }
  });

  it("a constant image has zero detail levels and keeps its value in the last", () => {
    const x = new Float32Array(1 * 16 * 16 * 3).fill(0.25);
    const l = laplacianPyramid(x, 1, 16, 16, 3, 3);
    for (const v of l[0]!.data) expect(Math.abs(v)).toBeLessThan(1e-6);
    for (const v of l[1]!.data) expect(Math.abs(v)).toBeLessThan(1e-6);
    for (const v of l[2]!.data) expect(v).toBeCloseTo(0.25, 6);
  });
});

describe("sliced Wasserstein distance", () => {
  it("equals a float64 computation from the same patches and directions (two levels, three channels)", () => {
    const n = 3, h = 12, w = 10, c = 3;
    const o = { patchSize: 3, patchesPerImage: 5, repeats: 2, directions: 6, minResolution: 5, seed: 11 };
    const a = randomImages(n, h, w, c, 1), b = randomImages(n, h, w, c, 2).map((v) => v * v);
    const tensors = tf.memory().numTensors;
    const r = slicedWassersteinDistance(a, b, { n, h, w, c }, o);
    expect(tf.memory().numTensors).toBe(tensors); // every tensor it made is disposed
    expect(r.levels.map((l) => l.resolution)).toEqual([[12, 10], [6, 5]]);
    const pa = Array.from({ length: n }, (_, i) => Array.from({ length: c }, (_, ch) => pyramid64(channel(a, i, ch, h, w, c), 2)));
    const pb = Array.from({ length: n }, (_, i) => Array.from({ length: c }, (_, ch) => pyramid64(channel(b, i, ch, h, w, c), 2)));
    for (let k = 0; k < 2; k++) {
      const want = swdLevel64(pa.map((im) => im.map((chs) => chs[k]!)), pb.map((im) => im.map((chs) => chs[k]!)), k, o);
      expect(want).toBeGreaterThan(1);
      expect(Math.abs(r.levels[k]!.swd - want) / want).toBeLessThan(1e-4);
    }
    expect(r.mean).toBeCloseTo((r.levels[0]!.swd + r.levels[1]!.swd) / 2, 9);
    // Projected in chunks of 4 rows and groups of 2 directions (as large sets are): the same distances.
    const limits = { ...SWD_LIMITS };
    Object.assign(SWD_LIMITS, { chunkRows: 4, heldValues: 2 * n * o.patchesPerImage });
    try {
      const small = slicedWassersteinDistance(a, b, { n, h, w, c }, o);
      small.levels.forEach((l, k) => expect(Math.abs(l.swd - r.levels[k]!.swd) / r.levels[k]!.swd).toBeLessThan(1e-5));
    } finally {
      Object.assign(SWD_LIMITS, limits);
    }
    // Deterministic: the same seed gives the same result, another seed another.
    expect(slicedWassersteinDistance(a, b, { n, h, w, c }, o)).toEqual(r);
    expect(slicedWassersteinDistance(a, b, { n, h, w, c }, { ...o, seed: 12 }).mean).not.toBe(r.mean);
  });

  it("random directions are unit vectors; patches lie inside the image; chosen indices are distinct", () => {
    const d = projectionDirections(1, 0, 0, 147, 4);
    for (let j = 0; j < 4; j++) expect(d.subarray(j * 147, (j + 1) * 147).reduce((s, v) => s + v * v, 0)).toBeCloseTo(1, 12);
    const corners = patchCorners(1, 0, 0, 10, 16, 20, 128, 7);
    let maxY = 0, maxX = 0;
    for (let i = 0; i < corners.length; i += 2) {
      expect(corners[i]).toBeGreaterThanOrEqual(0);
      expect(corners[i + 1]).toBeGreaterThanOrEqual(0);
      maxY = Math.max(maxY, corners[i]!);
      maxX = Math.max(maxX, corners[i + 1]!);
    }
    expect([maxY, maxX]).toEqual([16 - 7, 20 - 7]);
    const idx = chooseIndices(100, 30, 3);
    expect(new Set(idx).size).toBe(30);
    expect(Math.max(...idx)).toBeLessThan(100);
  });

  it("calibration on mnist_color (32x32x3, ProGAN's constants): disjoint real halves near 0, blurred copies between, noise far higher", () => {
    const n = 400;
    const { bytes } = makeMnistColor(2 * n);
    const all = Float32Array.from(bytes, (v) => v / 255);
    const size = 32 * 32 * 3;
    const first = all.subarray(0, n * size), second = all.subarray(n * size, 2 * n * size);
    const rng = new Rng(4);
    const noise = Float32Array.from({ length: n * size }, () => rng.uniform());
    // Blurred copies of the second half: a 3x3 box filter per channel (borders clamped).
    const blurred = new Float32Array(n * size);
    for (let b = 0; b < n; b++) {
      for (let y = 0; y < 32; y++) {
        for (let x = 0; x < 32; x++) {
          for (let ch = 0; ch < 3; ch++) {
            let s = 0;
            for (let dy = -1; dy <= 1; dy++) for (let dx = -1; dx <= 1; dx++) s += second[b * size + (Math.min(31, Math.max(0, y + dy)) * 32 + Math.min(31, Math.max(0, x + dx))) * 3 + ch]!;
            blurred[b * size + (y * 32 + x) * 3 + ch] = s / 9;
          }
        }
      }
    }
    const shape = { n, h: 32, w: 32, c: 3 };
    const halves = slicedWassersteinDistance(first, second, shape);
    const blur = slicedWassersteinDistance(first, blurred, shape);
    const vsNoise = slicedWassersteinDistance(first, noise, shape);
    expect(halves.settings).toMatchObject({ patchSize: 7, patchesPerImage: 128, repeats: 4, directions: 128, minResolution: 16 });
    expect(halves.levels.map((l) => l.resolution)).toEqual([[32, 32], [16, 16]]);
    console.log(`SWD x1e3 (levels 32, 16; mean): halves ${halves.levels.map((l) => l.swd.toFixed(1)).join(", ")}; ${halves.mean.toFixed(1)}; blurred ${blur.levels.map((l) => l.swd.toFixed(1)).join(", ")}; ${blur.mean.toFixed(1)}; noise ${vsNoise.levels.map((l) => l.swd.toFixed(1)).join(", ")}; ${vsNoise.mean.toFixed(1)}`);
    for (let k = 0; k < 2; k++) {
      expect(halves.levels[k]!.swd).toBeLessThan(blur.levels[k]!.swd);
      expect(blur.levels[k]!.swd).toBeLessThan(vsNoise.levels[k]!.swd);
    }
    expect(halves.mean).toBeLessThan(0.1 * vsNoise.mean);
    expect(blur.mean).toBeGreaterThan(2 * halves.mean);
  });
});

describe("defaults", () => {
  it("are ProGAN's", () => {
    expect(SWD_DEFAULTS).toMatchObject({ patchSize: 7, patchesPerImage: 128, repeats: 4, directions: 128, minResolution: 16 });
  });
});
