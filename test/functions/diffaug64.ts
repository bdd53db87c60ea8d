import type { DiffAugDraws } from "../../src/functions/diffaug.ts";

/**
 * DiffAugment in float64, written from the authors' DiffAugment_pytorch.py (NCHW there, NHWC here) for
 * given draws: brightness, saturation and contrast as in rand_brightness/rand_saturation/rand_contrast;
 * translation as rand_translation (pad by 1 with zeros, index with clamp(i + shift + 1, 0, side + 1));
 * cutout as rand_cutout (a grid of size x size from offset - size // 2, each index clamped to the image,
 * zeroed in a mask). `x[b]` is sample b's pixels in NHWC order.
 */
export function diffaug64(x: readonly (readonly number[])[], h: number, w: number, c: number, policy: string, d: DiffAugDraws): number[][] {
  const ops = new Set(policy.split(","));
  const at = (i: number, j: number, k: number) => (i * w + j) * c + k;
  return x.map((img, b) => {
    let y = [...img];
    if (ops.has("color")) {
      y = y.map((v) => v + d.brightness[b]!);
      const sat = [...y];
      for (let i = 0; i < h; i++)
        for (let j = 0; j < w; j++) {
          let m = 0;
          for (let k = 0; k < c; k++) m += y[at(i, j, k)]!;
          m /= c;
          for (let k = 0; k < c; k++) sat[at(i, j, k)] = (y[at(i, j, k)]! - m) * d.saturation[b]! + m;
        }
      const m = sat.reduce((s, v) => s + v, 0) / sat.length;
      y = sat.map((v) => (v - m) * d.contrast[b]! + m);
    }
    if (ops.has("translation")) {
      // x_pad has a border of one zero pixel; row index clamp(i + dy + 1, 0, h + 1) into it.
      const padded = (i: number, j: number, k: number) => (i === 0 || j === 0 || i === h + 1 || j === w + 1 ? 0 : y[at(i - 1, j - 1, k)]!);
      const clamp = (v: number, lo: number, hi: number) => Math.min(Math.max(v, lo), hi);
      const t = new Array<number>(y.length);
      for (let i = 0; i < h; i++)
        for (let j = 0; j < w; j++)
          for (let k = 0; k < c; k++) t[at(i, j, k)] = padded(clamp(i + d.dy[b]! + 1, 0, h + 1), clamp(j + d.dx[b]! + 1, 0, w + 1), k);
      y = t;
    }
    if (ops.has("cutout")) {
      const ch = Math.trunc(h * 0.5 + 0.5);
      const cw = Math.trunc(w * 0.5 + 0.5);
      const mask = new Array<number>(h * w).fill(1);
      for (let gi = 0; gi < ch; gi++)
        for (let gj = 0; gj < cw; gj++) {
          const i = Math.min(Math.max(gi + d.cy[b]! - Math.trunc(ch / 2), 0), h - 1);
          const j = Math.min(Math.max(gj + d.cx[b]! - Math.trunc(cw / 2), 0), w - 1);
          mask[i * w + j] = 0;
        }
      y = y.map((v, idx) => v * mask[Math.floor(idx / c)]!);
    }
    return y;
  });
}
