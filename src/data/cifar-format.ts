import * as fs from "node:fs";
import * as path from "node:path";
import { DataError, type Dataset } from "../runtime/data.ts";
import { byteDataset } from "./bytes.ts";

const PIXELS = 32 * 32;

/**
 * CIFAR binary files: records of label byte(s) then 3072 bytes of image, the red plane, the green, then
 * the blue (row-major 32x32 each). CIFAR-10 has one label byte; CIFAR-100 two, the coarse label then the
 * fine one. `labelAt` is which of them to use.
 */
export function readCifar(files: string[], o: { labelBytes: 1 | 2; labelAt: 0 | 1; numClasses: number; name: string; limit?: number; classNames?: string[] | null; flip?: boolean }): Dataset {
  const record = o.labelBytes + 3 * PIXELS;
  const sizes = files.map((f) => {
    const n = fs.statSync(f).size;
    if (n === 0 || n % record !== 0) {
      throw new DataError(`${f} is not a ${o.name} binary file: its ${n} bytes are not a whole number of ${record}-byte records (${o.labelBytes} label byte${o.labelBytes > 1 ? "s" : ""} + 3072 pixels)`);
    }
    return n / record;
  });
  const total = sizes.reduce((a, b) => a + b, 0);
  const count = Math.min(o.limit ?? total, total);
  const bytes = new Uint8Array(count * 3 * PIXELS);
  const labels = new Int32Array(count);
  let i = 0;
  for (const f of files) {
    if (i === count) break;
    const buf = fs.readFileSync(f);
    for (let r = 0; r * record < buf.length && i < count; r++, i++) {
      const at = r * record;
      const label = buf[at + o.labelAt]!;
      if (label >= o.numClasses) throw new DataError(`${f}: record ${r} has label ${label}, outside 0..${o.numClasses - 1} (is this a ${o.name} file?)`);
      labels[i] = label;
      const img = at + o.labelBytes;
      // Planes (CHW) to pixels (HWC).
      for (let p = 0; p < PIXELS; p++) {
        bytes[i * 3 * PIXELS + p * 3] = buf[img + p]!;
        bytes[i * 3 * PIXELS + p * 3 + 1] = buf[img + PIXELS + p]!;
        bytes[i * 3 * PIXELS + p * 3 + 2] = buf[img + 2 * PIXELS + p]!;
      }
    }
  }
  return byteDataset(o.name, [32, 32, 3], bytes, labels, o.numClasses, { classNames: o.classNames ?? null, flip: o.flip ?? false });
}

/** `path` itself when it is a file, else the files of the split inside the folder (an error naming them when none is there). */
export function cifarFiles(p: string, names: string[], what: string): string[] {
  if (!fs.existsSync(p)) throw new DataError(`${what}: ${p} does not exist`);
  if (fs.statSync(p).isFile()) return [p];
  const found = names.map((n) => path.join(p, n)).filter((f) => fs.existsSync(f));
  if (found.length === 0) throw new DataError(`${what}: no ${names.join(", ")} in ${p}`);
  return found;
}

/** Class names from a names file beside the data (one per line), when it is there and has `n` of them. */
export function namesFile(p: string, file: string, n: number): string[] | null {
  const dir = fs.existsSync(p) && fs.statSync(p).isFile() ? path.dirname(p) : p;
  try {
    const names = fs.readFileSync(path.join(dir, file), "utf8").split(/\r?\n/).map((s) => s.trim()).filter((s) => s !== "");
    return names.length === n ? names : null;
  } catch {
    return null;
  }
}
