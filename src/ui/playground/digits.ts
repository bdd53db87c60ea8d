import { embeddedMnistFrom, type MemoryDataset } from "../../runtime/data.ts";

/**
 * The embedded MNIST digits in the page: mnist-digits.bin (scripts/build-playground.mjs writes it from the
 * `mnist` package) decoded into the same per-class arrays the command line reads from the package's JSON,
 * then interleaved by the same function (data.ts's embeddedMnistFrom): the same data set, value for value.
 */
export function decodeDigits(bytes: Uint8Array): Float32Array[] {
  const magic = String.fromCharCode(...bytes.subarray(0, 8));
  if (magic !== "GANCDIG1") throw new Error("mnist-digits.bin is not a digits file (rebuild the playground)");
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const nValues = view.getUint32(8, true);
  const values = Array.from({ length: nValues }, (_, i) => view.getFloat64(12 + 8 * i, true));
  let at = 12 + 8 * nValues + 40;
  return Array.from({ length: 10 }, (_, d) => {
    const n = view.getUint32(12 + 8 * nValues + 4 * d, true) * 784;
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = values[bytes[at + i]!]!;
    at += n;
    return out;
  });
}

let cached: Promise<MemoryDataset> | null = null;

export function fetchDigits(): Promise<MemoryDataset> {
  cached ??= (async () => {
    const res = await fetch(new URL("mnist-digits.bin", document.baseURI).href);
    if (!res.ok) throw new Error(`cannot load the embedded digits (mnist-digits.bin: HTTP ${res.status})`);
    return embeddedMnistFrom(decodeDigits(new Uint8Array(await res.arrayBuffer())));
  })();
  cached.catch(() => (cached = null));
  return cached;
}
