import * as tf from "@tensorflow/tfjs";
import { mix32, type Dataset } from "../data.ts";
import { toUnitRange } from "./metrics.ts";
import { Rng } from "../rng.ts";

/**
 * Multi-scale sliced Wasserstein distance (SWD) of Laplacian-pyramid patches, after Karras et al. 2018
 * (Progressive Growing of GANs, section 5 and its metrics/sliced_wasserstein.py; TF-GAN's
 * sliced_wasserstein.py is the same computation). It needs no pretrained network, so it scores samples of
 * any image data against real images of it.
 *
 * For each of the two image sets:
 *   - a Laplacian pyramid: the 5x5 binomial filter ([1 4 6 4 1]/16 in each direction) with reflected
 *     borders, pyrDown = filter then keep every second row and column, pyrUp = insert zeros, filter with
 *     gain 4; level k = G_k - pyrUp(G_k+1), the last level the low-pass G itself. Levels go from the full
 *     resolution down to the first whose smaller side is under 2 x `minResolution` (16): 64x64 images have
 *     levels 64, 32 and 16, 32x32 images 32 and 16, 28x28 images one level;
 *   - `patchesPerImage` (128) random 7x7 patches per image and level (centres at least 3 pixels from the
 *     border), each a descriptor of 7 x 7 x channels values.
 * The descriptors of a level are normalized per channel by the mean and standard deviation over the union of
 * both sets' descriptors (ProGAN normalizes each set by its own statistics, which would hide a global shift of
 * brightness or contrast). The distance of a level is the mean over `repeats` (4) draws of `directions` (128)
 * random unit directions of the mean absolute difference between the sorted projections of the two sets (the
 * 1-D Wasserstein-1 distance of equally many points), reported, as ProGAN reports it, times 1e3.
 *
 * The constants are ProGAN's (7x7 patches, 128 per image, 4 x 128 directions, 16 px smallest level); TF-GAN
 * defaults to 64 patches per image and 1 x 147 directions. Every random draw comes from `seed`, so a result is a
 * pure function of the images and the seed (to float32 rounding of the backend's matrix products).
 */
export interface SwdOptions {
  patchSize?: number;
  patchesPerImage?: number;
  repeats?: number;
  directions?: number;
  minResolution?: number;
  seed?: number;
}

export const SWD_DEFAULTS: Required<SwdOptions> = { patchSize: 7, patchesPerImage: 128, repeats: 4, directions: 128, minResolution: 16, seed: 0x5d0 };

export interface SwdResult {
  kind: "swd";
  /** Images per set. */
  samples: number;
  reference: number;
  /** SWD x 1e3 per pyramid level, finest first. */
  levels: { resolution: [number, number]; swd: number }[];
  /** Mean over the levels (x 1e3). */
  mean: number;
  scale: 1000;
  settings: Required<Omit<SwdOptions, "seed">> & { seed: number };
}

/** One pyramid level of n images, NHWC. */
export interface Level {
  data: Float32Array;
  h: number;
  w: number;
}

const BINOMIAL = [1, 4, 6, 4, 1];

/** TF's REFLECT padding: -1 -> 1, -2 -> 2, n -> n - 2, n + 1 -> n - 3. */
function reflect(i: number, n: number): number {
  if (i < 0) return -i;
  if (i >= n) return 2 * n - 2 - i;
  return i;
}

/** The 5x5 binomial filter times `gain` over each image and channel, reflected borders, same size. */
function blur(x: Float32Array, n: number, h: number, w: number, c: number, gain: number): Float32Array {
  if (h < 3 || w < 3) throw new RangeError(`the pyramid filter needs images of at least 3x3, got ${h}x${w}`);
  const rows = new Float32Array(x.length);
  const out = new Float32Array(x.length);
  const g = gain / 256;
  for (let b = 0; b < n; b++) {
    const base = b * h * w * c;
    // along x
    for (let y = 0; y < h; y++) {
      for (let xx = 0; xx < w; xx++) {
        for (let ch = 0; ch < c; ch++) {
          let s = 0;
          for (let k = 0; k < 5; k++) s += BINOMIAL[k]! * x[base + (y * w + reflect(xx + k - 2, w)) * c + ch]!;
          rows[base + (y * w + xx) * c + ch] = s;
        }
      }
    }
    // along y
    for (let y = 0; y < h; y++) {
      for (let xx = 0; xx < w; xx++) {
        for (let ch = 0; ch < c; ch++) {
          let s = 0;
          for (let k = 0; k < 5; k++) s += BINOMIAL[k]! * rows[base + (reflect(y + k - 2, h) * w + xx) * c + ch]!;
          out[base + (y * w + xx) * c + ch] = s * g;
        }
      }
    }
  }
  return out;
}

function pyrDown(l: Level, n: number, c: number): Level {
  const f = blur(l.data, n, l.h, l.w, c, 1);
  const h = Math.ceil(l.h / 2), w = Math.ceil(l.w / 2);
  const out = new Float32Array(n * h * w * c);
  for (let b = 0; b < n; b++) {
    for (let y = 0; y < h; y++) {
      for (let xx = 0; xx < w; xx++) {
        const src = ((b * l.h + 2 * y) * l.w + 2 * xx) * c, dst = ((b * h + y) * w + xx) * c;
        for (let ch = 0; ch < c; ch++) out[dst + ch] = f[src + ch]!;
      }
    }
  }
  return { data: out, h, w };
}

/** Zeros inserted (the values at even rows and columns), filtered with gain 4, cut to h x w. */
function pyrUp(l: Level, n: number, c: number, h: number, w: number): Float32Array {
  const H = 2 * l.h, W = 2 * l.w;
  const z = new Float32Array(n * H * W * c);
  for (let b = 0; b < n; b++) {
    for (let y = 0; y < l.h; y++) {
      for (let xx = 0; xx < l.w; xx++) {
        const src = ((b * l.h + y) * l.w + xx) * c, dst = ((b * H + 2 * y) * W + 2 * xx) * c;
        for (let ch = 0; ch < c; ch++) z[dst + ch] = l.data[src + ch]!;
      }
    }
  }
  const f = blur(z, n, H, W, c, 4);
  if (H === h && W === w) return f;
  const out = new Float32Array(n * h * w * c);
  for (let b = 0; b < n; b++) for (let y = 0; y < h; y++) out.set(f.subarray(((b * H + y) * W) * c, ((b * H + y) * W + w) * c), ((b * h + y) * w) * c);
  return out;
}

/** How many levels images of h x w get: halved while the next level's smaller side stays >= minResolution. */
export function pyramidLevels(h: number, w: number, minResolution = SWD_DEFAULTS.minResolution): number {
  let levels = 1;
  while (Math.min(Math.ceil(h / 2), Math.ceil(w / 2)) >= minResolution) {
    h = Math.ceil(h / 2);
    w = Math.ceil(w / 2);
    levels++;
  }
  return levels;
}

/** The Laplacian pyramid of n images (NHWC), `levels` levels, finest first; the last is the low-pass image. */
export function laplacianPyramid(x: Float32Array, n: number, h: number, w: number, c: number, levels: number): Level[] {
  if (x.length !== n * h * w * c) throw new RangeError(`expected ${n}x${h}x${w}x${c} values, got ${x.length}`);
  const gauss: Level[] = [{ data: x, h, w }];
  for (let k = 1; k < levels; k++) gauss.push(pyrDown(gauss[k - 1]!, n, c));
  return gauss.map((g, k) => {
    if (k === levels - 1) return g;
    const up = pyrUp(gauss[k + 1]!, n, c, g.h, g.w);
    const d = new Float32Array(g.data.length);
    for (let i = 0; i < d.length; i++) d[i] = g.data[i]! - up[i]!;
    return { data: d, h: g.h, w: g.w };
  });
}

const seedOf = (...parts: number[]) => parts.reduce((h, p) => mix32(h ^ mix32(p + 0x9e3779b9)), 0x2545f491) >>> 0;

/**
 * The patches drawn from one set at one level: for each of n * patchesPerImage patches (image i's are
 * i * ppi .. (i+1) * ppi - 1), the row and column of its top-left corner. `set` 0 is the reference, 1 the samples.
 */
export function patchCorners(seed: number, level: number, set: number, n: number, h: number, w: number, ppi: number, patch: number): Int32Array {
  if (h < patch || w < patch) throw new RangeError(`${h}x${w} is smaller than a ${patch}x${patch} patch`);
  const rng = new Rng(seedOf(seed, level, set));
  const out = new Int32Array(n * ppi * 2);
  for (let i = 0; i < n * ppi; i++) {
    out[2 * i] = Math.floor(rng.uniform() * (h - patch + 1));
    out[2 * i + 1] = Math.floor(rng.uniform() * (w - patch + 1));
  }
  return out;
}

/** `count` random unit directions in `dim` dimensions, direction j at [j * dim, (j + 1) * dim). */
export function projectionDirections(seed: number, level: number, repeat: number, dim: number, count: number): Float64Array {
  const rng = new Rng(seedOf(seed, level, 2 + repeat));
  const out = new Float64Array(dim * count);
  for (let j = 0; j < count; j++) {
    let s = 0;
    for (let d = 0; d < dim; d++) {
      const v = rng.normal();
      out[j * dim + d] = v;
      s += v * v;
    }
    const inv = 1 / Math.sqrt(s);
    for (let d = 0; d < dim; d++) out[j * dim + d]! *= inv;
  }
  return out;
}

/** float32 bits -> an unsigned key whose order is the numeric order (negative values flipped whole). */
const toKey = (v: number) => (v & 0x80000000 ? ~v >>> 0 : (v | 0x80000000) >>> 0);
/** The inverse of toKey. */
const fromKey = (k: number) => (k & 0x80000000 ? (k & 0x7fffffff) >>> 0 : ~k >>> 0);

/**
 * Sorts `keys` ascending in place (an LSD radix sort: one pass counts all three 11-bit digits, three passes
 * move), `tmp` as scratch of the same length; `counts` holds 3 x 2048 counters.
 */
function radixSort(keys: Uint32Array, tmp: Uint32Array, counts: Uint32Array): void {
  const n = keys.length;
  counts.fill(0);
  for (let i = 0; i < n; i++) {
    const v = keys[i]!;
    counts[v & 2047]!++;
    counts[2048 + ((v >>> 11) & 2047)]!++;
    counts[4096 + (v >>> 22)]!++;
  }
  for (let d = 0; d < 3; d++) {
    let sum = 0;
    for (let k = d * 2048; k < (d + 1) * 2048; k++) {
      const x = counts[k]!;
      counts[k] = sum;
      sum += x;
    }
  }
  let s = keys, t = tmp;
  for (let d = 0; d < 3; d++) {
    const shift = 11 * d, base = 2048 * d;
    for (let i = 0; i < n; i++) {
      const v = s[i]!;
      t[counts[base + ((v >>> shift) & 2047)]!++] = v;
    }
    [s, t] = [t, s];
  }
  // three passes: the result is in tmp
  keys.set(s);
}

/**
 * Rows of descriptors per tensor, and the most projected values held at once per set (directions are
 * projected in groups of up to heldValues / patches). Only the memory use depends on them.
 */
export const SWD_LIMITS = { chunkRows: 8192, heldValues: 1 << 24 };

/**
 * The normalized descriptors of one set's patches, as tensors of up to SWD_LIMITS.chunkRows rows (row i the patch i,
 * its values in row, column, channel order).
 */
function descriptors(l: Level, corners: Int32Array, c: number, p: number, ppi: number, mean: Float64Array, std: Float64Array): tf.Tensor2D[] {
  const dim = p * p * c;
  const count = corners.length / 2;
  const mean32 = Float32Array.from(mean), inv32 = Float32Array.from(std, (s) => 1 / s);
  const out: tf.Tensor2D[] = [];
  for (let start = 0; start < count; start += SWD_LIMITS.chunkRows) {
    const rows = Math.min(SWD_LIMITS.chunkRows, count - start);
    const desc = new Float32Array(rows * dim);
    for (let r = 0; r < rows; r++) {
      const i = start + r;
      const img = Math.floor(i / ppi);
      const y0 = corners[2 * i]!, x0 = corners[2 * i + 1]!;
      let k = r * dim;
      for (let dy = 0; dy < p; dy++) {
        const row = ((img * l.h + y0 + dy) * l.w + x0) * c;
        for (let q = 0; q < p * c; q++) desc[k++] = (l.data[row + q]! - mean32[q % c]!) * inv32[q % c]!;
      }
    }
    out.push(tf.tensor2d(desc, [rows, dim]));
  }
  return out;
}

/** SWD x 1e3 at one pyramid level between two sets of descriptors (equally many rows). */
function levelDistance(da: tf.Tensor2D[], db: tf.Tensor2D[], count: number, dim: number, o: Required<SwdOptions>, level: number): number {
  const group = Math.max(1, Math.min(o.directions, Math.floor(SWD_LIMITS.heldValues / count)));
  const keysA = new Uint32Array(group * count), keysB = new Uint32Array(group * count);
  const tmp = new Uint32Array(count), counts = new Uint32Array(3 * 2048);
  const bits = new Uint32Array(1), value = new Float32Array(bits.buffer);
  // Projections of every row on directions j0.., stored per direction (row j: keys of its projections).
  const project = (chunks: tf.Tensor2D[], dirs: tf.Tensor2D, g: number, keys: Uint32Array) => {
    let start = 0;
    for (const chunk of chunks) {
      const rows = chunk.shape[0];
      const t = tf.matMul(dirs, chunk, false, true);
      const res = new Uint32Array((t.dataSync() as Float32Array).buffer);
      t.dispose();
      for (let j = 0; j < g; j++) {
        const dst = j * count + start, src = j * rows;
        for (let r = 0; r < rows; r++) keys[dst + r] = toKey(res[src + r]!);
      }
      start += rows;
    }
  };
  let total = 0;
  for (let rep = 0; rep < o.repeats; rep++) {
    const all = projectionDirections(o.seed, level, rep, dim, o.directions);
    for (let j0 = 0; j0 < o.directions; j0 += group) {
      const g = Math.min(group, o.directions - j0);
      const dirs = tf.tensor2d(Float32Array.from(all.subarray(j0 * dim, (j0 + g) * dim)), [g, dim]);
      try {
        project(da, dirs, g, keysA);
        project(db, dirs, g, keysB);
      } finally {
        dirs.dispose();
      }
      for (let j = 0; j < g; j++) {
        const ka = keysA.subarray(j * count, (j + 1) * count), kb = keysB.subarray(j * count, (j + 1) * count);
        radixSort(ka, tmp, counts);
        radixSort(kb, tmp, counts);
        let s = 0;
        for (let i = 0; i < count; i++) {
          bits[0] = fromKey(ka[i]!);
          const a = value[0]!;
          bits[0] = fromKey(kb[i]!);
          s += Math.abs(a - value[0]!);
        }
        total += s / count;
      }
    }
  }
  return (total / (o.repeats * o.directions)) * 1e3;
}

/** Per-channel mean and standard deviation of every value of the patches of both sets. */
function patchStats(levels: [Level, Int32Array][], c: number, p: number, ppi: number): { mean: Float64Array; std: Float64Array } {
  const sum = new Float64Array(c), sq = new Float64Array(c);
  let n = 0;
  for (const [l, corners] of levels) {
    for (let i = 0; i < corners.length / 2; i++) {
      const img = Math.floor(i / ppi);
      const y0 = corners[2 * i]!, x0 = corners[2 * i + 1]!;
      for (let dy = 0; dy < p; dy++) {
        const row = ((img * l.h + y0 + dy) * l.w + x0) * c;
        for (let q = 0; q < p * c; q++) {
          const v = l.data[row + q]!;
          sum[q % c]! += v;
          sq[q % c]! += v * v;
        }
      }
      n += p * p;
    }
  }
  const mean = new Float64Array(c), std = new Float64Array(c);
  for (let ch = 0; ch < c; ch++) {
    mean[ch] = sum[ch]! / n;
    // A constant channel (e.g. every pixel black in both sets) has no scale to normalize away.
    std[ch] = Math.sqrt(Math.max(sq[ch]! / n - mean[ch]! ** 2, 0)) || 1;
  }
  return { mean, std };
}

/**
 * SWD between `n` reference images and `n` samples, both NHWC [n, h, w, c] with values on the same scale (ganc
 * passes both in [0, 1]). Uses the current tfjs backend for the projections.
 */
export function slicedWassersteinDistance(reference: Float32Array, samples: Float32Array, shape: { n: number; h: number; w: number; c: number }, opts: SwdOptions = {}): SwdResult {
  const o: Required<SwdOptions> = { ...SWD_DEFAULTS, ...Object.fromEntries(Object.entries(opts).filter(([, v]) => v !== undefined)) };
  const { n, h, w, c } = shape;
  if (n < 1) throw new RangeError("SWD needs at least one image per set");
  if (Math.min(h, w) < o.patchSize) throw new RangeError(`SWD needs images of at least ${o.patchSize}x${o.patchSize} pixels, got ${h}x${w}`);
  const levels = pyramidLevels(h, w, o.minResolution);
  const pa = laplacianPyramid(reference, n, h, w, c, levels);
  const pb = laplacianPyramid(samples, n, h, w, c, levels);
  const out: SwdResult["levels"] = [];
  for (let k = 0; k < levels; k++) {
    const a = pa[k]!, b = pb[k]!;
    const ca = patchCorners(o.seed, k, 0, n, a.h, a.w, o.patchesPerImage, o.patchSize);
    const cb = patchCorners(o.seed, k, 1, n, b.h, b.w, o.patchesPerImage, o.patchSize);
    const { mean, std } = patchStats([[a, ca], [b, cb]], c, o.patchSize, o.patchesPerImage);
    const da = descriptors(a, ca, c, o.patchSize, o.patchesPerImage, mean, std);
    const db = descriptors(b, cb, c, o.patchSize, o.patchesPerImage, mean, std);
    try {
      out.push({ resolution: [a.h, a.w], swd: levelDistance(da, db, ca.length / 2, o.patchSize * o.patchSize * c, o, k) });
    } finally {
      tf.dispose([...da, ...db]);
    }
  }
  const { seed, ...rest } = o;
  return { kind: "swd", samples: n, reference: n, levels: out, mean: out.reduce((s, l) => s + l.swd, 0) / out.length, scale: 1000, settings: { ...rest, seed } };
}

/** `count` distinct indices of 0..total-1, in increasing order, drawn from `seed` (the real images compared). */
export function chooseIndices(total: number, count: number, seed: number): Int32Array {
  if (count >= total) return Int32Array.from({ length: total }, (_, i) => i);
  const rng = new Rng(seedOf(seed, total, count));
  const idx = Int32Array.from({ length: total }, (_, i) => i);
  for (let i = 0; i < count; i++) {
    const j = i + Math.floor(rng.uniform() * (total - i));
    const t = idx[i]!;
    idx[i] = idx[j]!;
    idx[j] = t;
  }
  return idx.subarray(0, count).sort();
}

/**
 * `count` real images of a data set chosen by `seed` (all of them when it has fewer), NHWC in [0, 1]: from
 * memory, or read a batch at a time from a data set that stays on disk.
 */
export function realImages(ds: Dataset, count: number, seed: number): { x: Float32Array; n: number } {
  const idx = chooseIndices(ds.count, count, seed);
  const per = ds.shape.reduce((a, b) => a * b, 1);
  const x = new Float32Array(idx.length * per);
  if (ds.x) idx.forEach((i, k) => x.set(ds.x!.subarray(i * per, (i + 1) * per), k * per));
  else for (let k = 0; k < idx.length; k += 256) ds.read!(idx.subarray(k, k + 256), x.subarray(k * per, Math.min(idx.length, k + 256) * per));
  return { x, n: idx.length };
}

/**
 * SWD between `samples` (NHWC, values in `range`) and as many real images of `ds`: both in [0, 1]; when the
 * data set has fewer images than there are samples, the first samples are used.
 */
export function swdAgainst(ds: Dataset, samples: Float32Array, range: [number, number], seed: number): SwdResult {
  const [h, w, c] = ds.shape as [number, number, number];
  const per = h * w * c;
  const real = realImages(ds, samples.length / per, seed);
  return slicedWassersteinDistance(real.x, toUnitRange(samples.subarray(0, real.n * per), range), { n: real.n, h, w, c });
}
