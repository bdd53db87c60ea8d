import type { Dataset } from "../runtime/data.ts";

const INV255 = 1 / 255;

/** A data set held as uint8 pixels (a quarter of the memory of float32), scaled to [0, 1] per batch. */
export function byteDataset(
  name: string,
  shape: number[],
  bytes: Uint8Array,
  labels: Int32Array | null,
  numClasses: number,
  extra: Partial<Pick<Dataset, "classNames" | "flip">> = {},
): Dataset {
  const per = shape.reduce((a, b) => a * b, 1);
  const count = bytes.length / per;
  return {
    name,
    shape,
    count,
    x: null,
    labels,
    numClasses,
    ...extra,
    read(indices, out) {
      for (let i = 0; i < indices.length; i++) {
        const src = indices[i]! * per;
        const dst = i * per;
        for (let k = 0; k < per; k++) out[dst + k] = bytes[src + k]! * INV255;
      }
    },
  };
}
