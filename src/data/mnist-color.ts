import { xoroshiro128plus } from "pure-rand/generator/xoroshiro128plus";
import { uniformInt } from "pure-rand/distribution/uniformInt";
import { loadEmbeddedMnist } from "../runtime/data.ts";
import { byteDataset } from "./bytes.ts";
import { BATCH_DOC, LIMIT_DOC, readLimit, type DataSource } from "./source.ts";

/** Colors a digit or its background may take (RGB, 0-255): saturated hues, dark and light neutrals. */
export const PALETTE: readonly (readonly [number, number, number])[] = [
  [20, 20, 20], [235, 235, 235], [220, 40, 40], [40, 160, 60], [40, 80, 220], [240, 200, 30],
  [150, 60, 190], [30, 190, 200], [240, 120, 30], [120, 70, 30], [240, 120, 180], [100, 110, 120],
];
/** Fixed, so the data set is one data set: the run's seed orders it, it does not redraw it. */
const COLOR_SEED = 0x0c010125;
const luma = (c: readonly number[]) => 0.299 * c[0]! + 0.587 * c[1]! + 0.114 * c[2]!;

/**
 * The embedded MNIST digits, 32x32x3: each digit padded by 2 pixels on every side, drawn in a foreground
 * color on a background color, both drawn per image from PALETTE (differing in brightness by at least 60
 * of 255, so every digit stays legible). Pixel = bg + (fg - bg) * ink, rounded to bytes. The class is the digit.
 */
export function makeMnistColor(limit?: number): { bytes: Uint8Array; labels: Int32Array; count: number } {
  const m = loadEmbeddedMnist();
  const count = Math.min(limit ?? m.count, m.count);
  const bytes = new Uint8Array(count * 32 * 32 * 3);
  const rng = xoroshiro128plus(COLOR_SEED);
  for (let i = 0; i < count; i++) {
    let fg: readonly number[], bg: readonly number[];
    do {
      fg = PALETTE[uniformInt(rng, 0, PALETTE.length - 1)]!;
      bg = PALETTE[uniformInt(rng, 0, PALETTE.length - 1)]!;
    } while (Math.abs(luma(fg) - luma(bg)) < 60);
    const img = i * 3072;
    for (let y = 0; y < 32; y++) {
      for (let x = 0; x < 32; x++) {
        const inside = y >= 2 && y < 30 && x >= 2 && x < 30;
        const ink = inside ? m.x[i * 784 + (y - 2) * 28 + (x - 2)]! : 0;
        for (let c = 0; c < 3; c++) bytes[img + (y * 32 + x) * 3 + c] = Math.round(bg[c]! + (fg[c]! - bg[c]!) * ink);
      }
    }
  }
  return { bytes, labels: m.labels!.slice(0, count), count };
}

export const mnist_color: DataSource = {
  doc: "the embedded MNIST digits in color, 32x32x3 in [0,1] with labels: each digit padded to 32x32, foreground and background colors drawn per image from a fixed palette",
  params: { batch: BATCH_DOC, limit: LIMIT_DOC },
  resolve: ({ r }) => ({ shape: [32, 32, 3], numClasses: 10, labelled: true, classNames: null, args: readLimit(r), range: [0, 1] }),
  async load(d) {
    const { bytes, labels } = makeMnistColor(d.args.limit as number | undefined);
    return byteDataset("mnist-color", [32, 32, 3], bytes, labels, 10);
  },
};
