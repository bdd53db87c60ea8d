import * as path from "node:path";
import { DataError, type Dataset } from "../runtime/data.ts";
import { byteDataset } from "./bytes.ts";
import { arrayRefs, NpyError, readNpy, readNpyHeader, toLabels, type NpyHeader } from "./npy-format.ts";
import { BATCH_DOC, LIMIT_DOC, type ArgValue, type DataSource } from "./source.ts";

/** Per-sample shape of an array of samples: NHWC or NCHW images, [N, H, W] gray images, [N, D] vectors. */
export function sampleShape(h: NpyHeader, layout: "nhwc" | "nchw", where: string): number[] {
  const s = h.shape;
  if (s.length === 4) return layout === "nhwc" ? [s[1]!, s[2]!, s[3]!] : [s[2]!, s[3]!, s[1]!];
  if (s.length === 3) return [s[1]!, s[2]!, 1];
  if (s.length === 2) return [s[1]!];
  throw new NpyError(`${where}: an array of samples has 2 to 4 dimensions ([N, D], [N, H, W], [N, H, W, C] or [N, C, H, W]), got shape [${s.join(", ")}]`);
}

function checkType(h: NpyHeader, where: string): void {
  if (h.type !== "u1" && h.type !== "f4") throw new NpyError(`${where}: samples must be uint8 (scaled to [0, 1]) or float32 (taken as stored), got dtype ${h.type}`);
}

/** NCHW bytes or floats to NHWC, per sample. */
function toNhwc<T extends Uint8Array | Float32Array>(src: T, n: number, c: number, hw: number, make: (len: number) => T): T {
  const out = make(src.length);
  for (let i = 0; i < n; i++) {
    const base = i * c * hw;
    for (let ch = 0; ch < c; ch++) for (let p = 0; p < hw; p++) out[base + p * c + ch] = src[base + ch * hw + p]!;
  }
  return out;
}

export const npy: DataSource = {
  doc: "a NumPy array of samples in a .npy file or an .npz archive: uint8 (scaled to [0,1]) or float32 (as stored), NHWC or NCHW images, labels from a second array",
  params: {
    batch: BATCH_DOC,
    path: "the .npy or .npz file",
    labels: "the labels: a key in the .npz, or a .npy file (relative to the spec); integer class numbers (default: none)",
    layout: "nhwc (default) or nchw: the order of the image axes in the array",
    key: "the array of samples in an .npz (default x, else arr_0, else the first)",
    limit: LIMIT_DOC,
  },
  resolve({ r, span, specDir, path: p, error }) {
    if (p === null && !r.has("path")) r.required("path", span);
    const layout = r.word("layout", "nhwc", ["nhwc", "nchw"]) as "nhwc" | "nchw";
    const str = (name: string) => {
      const a = r.arg(name);
      if (!a) return null;
      if (a.value.kind === "String") return a.value.value;
      if (a.value.kind === "Name") return a.value.name;
      error("E0118", `'${name}' must be a string`, a.value.span);
      return null;
    };
    const labels = str("labels");
    const key = str("key");
    const limit = r.posInt("limit", null);
    if (p === null) return null;
    // The array's header gives the shape; the labels give the classes: both read now, neither decoded.
    const at = r.arg("path")!.value.span;
    let shape: number[];
    let numClasses = 1;
    let dtype: string;
    try {
      const refs = arrayRefs(path.resolve(specDir, p), key, labels, specDir);
      const h = readNpyHeader(refs.images);
      checkType(h, p);
      dtype = h.type;
      shape = sampleShape(h, layout, p);
      if (refs.labels) {
        const l = readNpy(refs.labels);
        const y = toLabels(l.header, l.data, labels!);
        if (y.length !== h.shape[0]) throw new NpyError(`${labels} holds ${y.length} labels for the ${h.shape[0]} samples of ${p}`);
        numClasses = Math.max(1, ...y) + 1;
      }
    } catch (err) {
      if (!(err instanceof NpyError)) throw err;
      error("E0151", `${err.message.replace(specDir + path.sep, "")} (paths are relative to the spec's folder)`, at);
      return null;
    }
    const args: Record<string, ArgValue> = { layout };
    if (labels !== null) args.labels = labels;
    if (key !== null) args.key = key;
    if (limit !== null) args.limit = limit;
    return { shape, numClasses, labelled: labels !== null, classNames: null, args, range: dtype === "u1" ? [0, 1] : null };
  },
  async load(d, ctx) {
    if (!ctx.path) throw new DataError("data source 'npy' needs a file: give path in the spec or --data FILE");
    try {
      const labelsArg = (d.args.labels as string | undefined) ?? null;
      const refs = arrayRefs(ctx.path, (d.args.key as string | undefined) ?? null, labelsArg === null ? null : labelsArg.toLowerCase().endsWith(".npy") ? ctx.resolve(labelsArg) : labelsArg, path.dirname(ctx.path));
      const { header: h, data } = readNpy(refs.images);
      checkType(h, ctx.path);
      const shape = sampleShape(h, d.args.layout as "nhwc" | "nchw", ctx.path);
      if (shape.join(",") !== d.shape.join(",")) {
        throw new DataError(`${ctx.path} holds samples of [${shape.join(", ")}], but the trainer was compiled for [${d.shape.join(", ")}]: compile the spec again for this file`);
      }
      const n = h.shape[0]!;
      let labels: Int32Array | null = null;
      if (refs.labels) {
        const l = readNpy(refs.labels);
        labels = toLabels(l.header, l.data, labelsArg!);
        if (labels.length !== n) throw new DataError(`${labelsArg} holds ${labels.length} labels for the ${n} samples of ${ctx.path}`);
        const max = labels.reduce((a, b) => Math.max(a, b), 0);
        if (max >= d.numClasses) throw new DataError(`${labelsArg} has class ${max}, but the trainer was compiled for ${d.numClasses} classes: compile the spec again`);
      }
      const count = Math.min((d.args.limit as number | undefined) ?? n, n);
      const per = shape.reduce((a, b) => a * b, 1);
      const nchw = h.shape.length === 4 && d.args.layout === "nchw";
      const [hh, ww, cc] = shape as [number, number, number];
      const name = path.basename(ctx.path);
      if (h.type === "u1") {
        let bytes: Uint8Array = data.subarray(0, count * per);
        if (nchw) bytes = toNhwc(bytes, count, cc, hh * ww, (k) => new Uint8Array(k));
        return byteDataset(name, shape, bytes, labels ? labels.subarray(0, count) : null, d.numClasses);
      }
      // float32: copied to an aligned array (the data may sit at any offset of the file).
      let x = new Float32Array(new Uint8Array(data.subarray(0, count * per * 4)).buffer);
      if (nchw) x = toNhwc(x, count, cc, hh * ww, (k) => new Float32Array(k));
      const ds: Dataset = { name, shape, count, x, labels: labels ? labels.subarray(0, count) : null, numClasses: d.numClasses };
      return ds;
    } catch (err) {
      if (err instanceof NpyError) throw new DataError(err.message);
      throw err;
    }
  },
};
