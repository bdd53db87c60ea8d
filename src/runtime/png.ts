import * as fs from "node:fs";
import * as path from "node:path";
import { PNG } from "pngjs";
import { writeFileAtomic } from "./fsutil.ts";

const PAD_GREY = 64; // dark grey between tiles: separates digits from both black and white backgrounds

function checkInt(what: string, v: number, min: number): void {
  if (!Number.isInteger(v) || v < min) throw new RangeError(`${what} must be an integer >= ${min}, got ${v}`);
}

/** Canvas of width x height, every pixel set to an opaque grey level. */
function canvas(width: number, height: number, grey: number): PNG {
  const png = new PNG({ width, height });
  png.data.fill(grey);
  for (let i = 3; i < png.data.length; i += 4) png.data[i] = 255;
  return png;
}

// pngjs always holds RGBA in memory; every pixel is opaque, so emit 8-bit RGB.
const encode = (png: PNG): Buffer => PNG.sync.write(png, { colorType: 2, inputColorType: 6, bitDepth: 8 });

/**
 * Tiles n NHWC images (c = 1 grey or 3 RGB) into one PNG, row-major, `cols` per row
 * (default ceil(sqrt(n))). Values are mapped linearly from `range` ([0,1] for sigmoid outputs,
 * [-1,1] for tanh) to 0..255 and clamped; NaN is drawn black. `pad` dark-grey pixels separate the
 * tiles and frame the grid (default 2); `scale` is an integer nearest-neighbour upscale (default 1).
 */
export function encodeImageGrid(
  data: Float32Array,
  n: number,
  h: number,
  w: number,
  c: number,
  opts: { range: [number, number]; cols?: number; pad?: number; scale?: number },
): Buffer {
  checkInt("image count", n, 1);
  checkInt("image height", h, 1);
  checkInt("image width", w, 1);
  if (c !== 1 && c !== 3) throw new RangeError(`images must have 1 or 3 channels, got ${c}`);
  if (data.length !== n * h * w * c) {
    throw new RangeError(`expected ${n}x${h}x${w}x${c} = ${n * h * w * c} values, got ${data.length}`);
  }
  const [lo, hi] = opts.range;
  if (!(hi > lo)) throw new RangeError(`value range [${lo}, ${hi}] is empty`);
  const cols = opts.cols ?? Math.ceil(Math.sqrt(n));
  const pad = opts.pad ?? 2;
  const scale = opts.scale ?? 1;
  checkInt("grid columns", cols, 1);
  checkInt("padding", pad, 0);
  checkInt("scale", scale, 1);

  const rows = Math.ceil(n / cols);
  const tw = w * scale, th = h * scale;
  const png = canvas(cols * tw + (cols + 1) * pad, rows * th + (rows + 1) * pad, PAD_GREY);
  // Written so that NaN fails both comparisons and lands on 0.
  const toByte = (v: number): number => (v >= hi ? 255 : v > lo ? Math.round(((v - lo) / (hi - lo)) * 255) : 0);

  for (let k = 0; k < n; k++) {
    const x0 = pad + (k % cols) * (tw + pad);
    const y0 = pad + Math.floor(k / cols) * (th + pad);
    for (let y = 0; y < th; y++) {
      for (let x = 0; x < tw; x++) {
        const src = ((k * h + Math.floor(y / scale)) * w + Math.floor(x / scale)) * c;
        const dst = ((y0 + y) * png.width + x0 + x) * 4;
        for (let ch = 0; ch < 3; ch++) png.data[dst + ch] = toByte(data[src + (c === 3 ? ch : 0)]);
      }
    }
  }
  return encode(png);
}

/**
 * Scatter plot of n 2-D samples (x0, y0, x1, y1, ...) on a white square of `size` pixels
 * (default 512), y pointing up, origin in the middle. `extent` is the half-width of the plotted
 * square (default: fits the samples and the reference centers with a 10% margin). Samples are
 * translucent blue dots, so dense regions read darker; `reference` centers are red crosses drawn
 * on top. Non-finite samples and those outside the square are skipped.
 */
export function encodeScatter(points: Float32Array, opts: { size?: number; extent?: number; reference?: number[][] } = {}): Buffer {
  if (points.length % 2 !== 0) throw new RangeError(`scatter points must be (x, y) pairs, got ${points.length} values`);
  const size = opts.size ?? 512;
  checkInt("plot size", size, 8);
  const reference = opts.reference ?? [];

  let extent = opts.extent;
  if (extent === undefined) {
    let m = 0;
    for (const v of points) if (Number.isFinite(v)) m = Math.max(m, Math.abs(v));
    for (const p of reference) m = Math.max(m, Math.abs(p[0]), Math.abs(p[1]));
    extent = m > 0 ? m * 1.1 : 1;
  }
  if (!(extent > 0) || !Number.isFinite(extent)) throw new RangeError(`plot extent must be a positive number, got ${extent}`);

  const png = canvas(size, size, 255);
  const px = (v: number): number => Math.round(((v + extent) / (2 * extent)) * (size - 1));
  const py = (v: number): number => Math.round(((extent - v) / (2 * extent)) * (size - 1));
  const blend = (x: number, y: number, rgb: readonly number[], alpha: number): void => {
    if (x < 0 || y < 0 || x >= size || y >= size) return;
    const i = (y * size + x) * 4;
    for (let ch = 0; ch < 3; ch++) png.data[i + ch] = Math.round(png.data[i + ch] * (1 - alpha) + rgb[ch] * alpha);
  };

  // Faint axes through the origin for orientation.
  const ox = px(0), oy = py(0);
  for (let t = 0; t < size; t++) {
    blend(ox, t, [200, 200, 200], 1);
    blend(t, oy, [200, 200, 200], 1);
  }
  // Dot radius grows gently with the canvas so dots stay visible on large plots.
  const r = Math.max(1, Math.round(size / 256));
  for (let i = 0; i < points.length; i += 2) {
    const [x, y] = [points[i], points[i + 1]];
    if (!Number.isFinite(x) || !Number.isFinite(y) || Math.abs(x) > extent || Math.abs(y) > extent) continue;
    const cx = px(x), cy = py(y);
    for (let dy = -r; dy <= r; dy++) {
      for (let dx = -r; dx <= r; dx++) if (dx * dx + dy * dy <= r * r) blend(cx + dx, cy + dy, [30, 80, 200], 0.5);
    }
  }
  const arm = 3 * r + 1;
  for (const p of reference) {
    const cx = px(p[0]), cy = py(p[1]);
    for (let d = -arm; d <= arm; d++) {
      blend(cx + d, cy, [220, 30, 30], 1);
      blend(cx, cy + d, [220, 30, 30], 1);
    }
  }
  return encode(png);
}

/** Writes PNG bytes atomically (a viewer never sees a half-written image), creating the folder if needed. */
export function writePng(file: string, png: Buffer): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  writeFileAtomic(file, png);
}
