import * as fs from "node:fs";
import * as path from "node:path";
import { DataError } from "../runtime/data.ts";
import { BATCH_DOC, FLIP_DOC, LIMIT_DOC, type ArgValue, type DataSource } from "./source.ts";

/** Decode settings of an image folder, as the checker resolves them. */
export interface ImageSettings {
  height: number;
  width: number;
  channels: 1 | 3;
  resize: "crop" | "pad";
  labels: boolean;
}

export const IMAGE_EXTENSIONS = [".png", ".jpg", ".jpeg", ".webp"];

/**
 * Class names of a labelled folder: its first-level subfolders (hidden ones aside), sorted by code
 * point so the class indices never depend on the locale.
 */
export function classFolders(dir: string): string[] {
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .filter((e) => !e.name.startsWith(".") && (e.isDirectory() || (e.isSymbolicLink() && fs.statSync(path.join(dir, e.name), { throwIfNoEntry: false })?.isDirectory() === true)))
    .map((e) => e.name)
    .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

export const images: DataSource = {
  doc: "a folder of PNG, JPEG or WebP images, searched recursively, decoded once into a cache; values in [0,1]",
  params: {
    batch: BATCH_DOC,
    path: "the folder of images (subfolders are searched too)",
    size: "side of the square images, or [height, width] (default 64)",
    channels: "1 (gray) or 3 (RGB; gray images are expanded, an alpha channel is composed over black) (default 3)",
    resize: "crop: scale the shorter side to fit, then cut the center (default); pad: scale the longer side to fit, then pad with black",
    flip: FLIP_DOC,
    labels: "the class of an image is its first-level subfolder (default false)",
    limit: LIMIT_DOC,
  },
  resolve({ r, span, specDir, path: p, error }) {
    if (p === null && !r.has("path")) r.required("path", span);
    const size = r.intList("size") ?? [64];
    if (size.length > 2) error("E0117", `'size' of data source 'images' is a side or [height, width], got ${size.length} numbers`, r.arg("size")!.value.span);
    const [height, width] = size.length === 1 ? [size[0]!, size[0]!] : [size[0]!, size[1]!];
    const channels = r.number("channels", 3, (v) => (v === 1 || v === 3 ? null : "must be 1 or 3"));
    const resize = r.word("resize", "crop", ["crop", "pad"]);
    const flip = r.bool("flip", false);
    const labels = r.bool("labels", false);
    const limit = r.posInt("limit", null);
    let classNames: string[] | null = null;
    if (labels && p !== null) {
      const dir = path.resolve(specDir, p);
      try {
        classNames = classFolders(dir);
      } catch (err) {
        const why = (err as NodeJS.ErrnoException).code === "ENOENT" ? "it does not exist" : (err as NodeJS.ErrnoException).code === "ENOTDIR" ? "it is not a folder" : `it cannot be read (${(err as Error).message})`;
        error("E0150", `labels=true takes the classes from the subfolders of "${p}", but ${why} (relative to the spec's folder)`, r.arg("labels")!.value.span);
        return null;
      }
      if (classNames.length === 0) {
        error("E0150", `labels=true takes the classes from the subfolders of "${p}", but it has none`, r.arg("labels")!.value.span);
        return null;
      }
    }
    const args: Record<string, ArgValue> = { size: size.length === 1 ? height : [height, width], channels, resize, flip, labels };
    if (limit !== null) args.limit = limit;
    return { shape: [height, width, channels], numClasses: classNames?.length ?? 1, labelled: labels, classNames, args, range: [0, 1] };
  },
  async load(d, ctx) {
    if (!ctx.path) throw new DataError(`data source 'images' needs a folder: give path in the spec or --data DIR`);
    const [height, width, channels] = d.shape as [number, number, 1 | 3];
    const settings: ImageSettings = { height, width, channels, resize: d.args.resize as "crop" | "pad", labels: d.args.labels === true };
    const { loadImageFolder } = await import("./image-folder.ts");
    const ds = await loadImageFolder(ctx.path, settings, ctx, { flip: d.args.flip === true, limit: d.args.limit as number | undefined });
    if (settings.labels && d.classNames && ds.classNames!.join("\n") !== d.classNames.join("\n")) {
      throw new DataError(
        `${ctx.path} has the classes ${ds.classNames!.join(", ")}, but the trainer was compiled for ${d.classNames.join(", ")}: compile the spec again for this folder`,
      );
    }
    return ds;
  },
};
