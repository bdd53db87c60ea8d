import * as tf from "@tensorflow/tfjs";
import { Arena } from "../../runtime/fused/engine.ts";
import type { FusedNet } from "../../runtime/fused/net.ts";

/**
 * The 2-D view, after GAN Lab: the discriminator's output over the plane as a heat map (green where D
 * says real, purple where it says fake), the real points and the generated ones, and the data's modes.
 */

const GRID = 48;

export interface PlaneView {
  extent: number;
  /** Evaluates D (sigmoid of its output) on a GRID x GRID lattice; null when D cannot be evaluated alone. */
  heat: Float32Array | null;
  real: Float32Array;
  fake: Float32Array;
  centers: number[][];
}

/**
 * Why D cannot be drawn over the plane, or null if it can: its fused net must exist (an optimized trainer),
 * take one input and hold no batch norm or dropout (those would change its state or draw randomness).
 */
export function heatUnavailable(d: FusedNet | undefined): string | null {
  if (!d) return "no fused net D in the trainer";
  const ops = d.layers.map((l) => (l as { op: string }).op);
  const bad = ops.find((op) => /batchnorm|dropout|norm/.test(op));
  return bad ? `D has ${bad} layers` : null;
}

/** D's probability of "real" on the lattice over [-extent, extent]^2, row 0 at the top (y = +extent). */
export async function evaluateHeat(d: FusedNet, extent: number): Promise<Float32Array> {
  const pts = new Float32Array(GRID * GRID * 2);
  for (let r = 0; r < GRID; r++) {
    for (let c = 0; c < GRID; c++) {
      const i = r * GRID + c;
      pts[2 * i] = -extent + ((c + 0.5) / GRID) * 2 * extent;
      pts[2 * i + 1] = extent - ((r + 0.5) / GRID) * 2 * extent;
    }
  }
  const arena = new Arena();
  try {
    const out = tf.tidy(() => {
      const o = d.apply([tf.tensor2d(pts, [GRID * GRID, 2])], { taps: ["out"], gradInputs: [false], gradParams: false, arena });
      return tf.sigmoid(tf.reshape(o.out!, [-1]));
    });
    try {
      return (await out.data()) as Float32Array;
    } finally {
      out.dispose();
    }
  } finally {
    arena.dispose();
  }
}

export function drawPlane(canvas: HTMLCanvasElement, v: PlaneView): void {
  const ctx = canvas.getContext("2d")!;
  const size = canvas.width;
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, 0, size, size);
  if (v.heat) {
    const img = new ImageData(GRID, GRID);
    for (let i = 0; i < GRID * GRID; i++) {
      const p = v.heat[i]!; // 1: real (green), 0: fake (purple)
      const w = Math.sqrt(Math.abs(p - 0.5) * 2); // sqrt: D near 0.5 still shows which side it leans
      const [r, g, b] = p >= 0.5 ? [54, 163, 95] : [140, 80, 180];
      img.data[4 * i] = Math.round(255 + (r - 255) * w * 0.8);
      img.data[4 * i + 1] = Math.round(255 + (g - 255) * w * 0.8);
      img.data[4 * i + 2] = Math.round(255 + (b - 255) * w * 0.8);
      img.data[4 * i + 3] = 255;
    }
    const tmp = document.createElement("canvas");
    tmp.width = tmp.height = GRID;
    tmp.getContext("2d")!.putImageData(img, 0, 0);
    ctx.imageSmoothingEnabled = true;
    ctx.drawImage(tmp, 0, 0, size, size);
  }
  const px = (x: number) => ((x + v.extent) / (2 * v.extent)) * size;
  const py = (y: number) => ((v.extent - y) / (2 * v.extent)) * size;
  ctx.strokeStyle = "rgba(0,0,0,0.12)";
  ctx.beginPath();
  ctx.moveTo(px(0), 0);
  ctx.lineTo(px(0), size);
  ctx.moveTo(0, py(0));
  ctx.lineTo(size, py(0));
  ctx.stroke();
  const dots = (pts: Float32Array, color: string, r: number) => {
    ctx.fillStyle = color;
    for (let i = 0; i + 1 < pts.length; i += 2) {
      ctx.beginPath();
      ctx.arc(px(pts[i]!), py(pts[i + 1]!), r, 0, 2 * Math.PI);
      ctx.fill();
    }
  };
  dots(v.real, "rgba(20,110,50,0.35)", 2);
  dots(v.fake, "rgba(110,40,160,0.85)", 2.5);
  ctx.strokeStyle = "rgba(0,0,0,0.6)";
  for (const [cx, cy] of v.centers) {
    ctx.beginPath();
    ctx.arc(px(cx!), py(cy!), 6, 0, 2 * Math.PI);
    ctx.stroke();
  }
}

/** Mean distance from each generated point to its nearest mode: falls as G learns the modes. */
export function meanModeDistance(points: Float32Array, centers: number[][]): number {
  let sum = 0;
  const n = points.length / 2;
  for (let i = 0; i < n; i++) {
    let best = Infinity;
    for (const [cx, cy] of centers) best = Math.min(best, Math.hypot(points[2 * i]! - cx!, points[2 * i + 1]! - cy!));
    sum += best;
  }
  return n > 0 ? sum / n : NaN;
}
