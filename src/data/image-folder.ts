import * as fs from "node:fs";
import * as path from "node:path";
import { createHash } from "node:crypto";
import cliProgress from "cli-progress";
import { DataError, type Dataset } from "../runtime/data.ts";
import { CacheWriter, openCache, readCacheHeader, type CacheHeader } from "./cache.ts";
import { classFolders, IMAGE_EXTENSIONS, type ImageSettings } from "./images.ts";
import type { LoadContext } from "./source.ts";

/** Bumped when decoding changes, so caches made by another version are not trusted. */
const DECODER_VERSION = 1;
/** Files decoded at once: sharp decodes on libuv's thread pool (4 threads by default). */
const CONCURRENCY = 8;

export interface ImageFile {
  /** Relative to the folder, with / separators. */
  rel: string;
  size: number;
  mtimeMs: number;
  label: number;
}

/** Image files under `dir`, recursively, hidden entries (and so the cache folder) aside, in code-point order. */
export function listImages(dir: string, classNames: string[] | null): { files: ImageFile[]; unlabelled: string[] } {
  const files: ImageFile[] = [];
  const unlabelled: string[] = [];
  const byCode = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
  // Symbolic links are followed (data sets are often linked in), each real folder once (no loops).
  const seen = new Set<string>();
  const walk = (sub: string, label: number) => {
    const real = fs.realpathSync(path.join(dir, sub));
    if (seen.has(real)) return;
    seen.add(real);
    const entries = fs.readdirSync(path.join(dir, sub), { withFileTypes: true }).sort((a, b) => byCode(a.name, b.name));
    for (const e of entries) {
      if (e.name.startsWith(".")) continue;
      const rel = sub ? `${sub}/${e.name}` : e.name;
      let isDir = e.isDirectory();
      let isFile = e.isFile();
      if (e.isSymbolicLink()) {
        const st = fs.statSync(path.join(dir, rel), { throwIfNoEntry: false });
        isDir = st?.isDirectory() ?? false;
        isFile = st?.isFile() ?? false;
      }
      if (isDir) {
        walk(rel, sub === "" && classNames ? classNames.indexOf(e.name) : label);
      } else if (isFile && IMAGE_EXTENSIONS.includes(path.extname(e.name).toLowerCase())) {
        if (label < 0) {
          unlabelled.push(rel);
          continue;
        }
        const st = fs.statSync(path.join(dir, rel));
        files.push({ rel, size: st.size, mtimeMs: st.mtimeMs, label });
      }
    }
  };
  walk("", classNames ? -1 : 0);
  return { files, unlabelled };
}

/** The cache key: the file list with sizes and mtimes, and every setting that changes the decoded pixels. */
export function cacheKey(files: readonly ImageFile[], s: ImageSettings, classNames: string[] | null): string {
  const h = createHash("sha256");
  h.update(JSON.stringify({ v: DECODER_VERSION, s: [s.height, s.width, s.channels, s.resize, s.labels], classNames }));
  for (const f of files) h.update(`\n${f.rel}\0${f.size}\0${f.mtimeMs}\0${f.label}`);
  return h.digest("hex");
}

/** Where the cache of a folder lives: GANC_CACHE_DIR if set, else a hidden folder inside it. */
export function cacheFile(dir: string, s: ImageSettings): string {
  const root = process.env.GANC_CACHE_DIR ? path.resolve(process.env.GANC_CACHE_DIR) : path.join(dir, ".ganc-cache");
  // One file per folder and decode settings: another size does not overwrite this one's cache.
  const tag = createHash("sha256").update(`${path.resolve(dir)}\0${s.height}x${s.width}x${s.channels}\0${s.resize}\0${s.labels}`).digest("hex").slice(0, 16);
  return path.join(root, `images-${s.height}x${s.width}x${s.channels}-${tag}.u8`);
}

/**
 * Decodes one image to exactly `height x width x channels` bytes: EXIF orientation applied, alpha
 * composed over black, gray expanded to RGB or color reduced to luminance, then scaled (Lanczos-3) and
 * center-cropped (`crop`) or scaled and padded with black (`pad`).
 */
export async function decodeImage(sharp: (typeof import("sharp"))["default"], input: Buffer, s: ImageSettings): Promise<Uint8Array> {
  let img = sharp(input, { failOn: "warning" })
    .rotate()
    .flatten({ background: "#000000" })
    .resize(s.width, s.height, s.resize === "crop" ? { fit: "cover", position: "centre" } : { fit: "contain", background: "#000000" });
  img = s.channels === 1 ? img.toColourspace("b-w") : img.toColourspace("srgb");
  const { data, info } = await img.raw().toBuffer({ resolveWithObject: true });
  if (info.width !== s.width || info.height !== s.height || info.channels !== s.channels) {
    throw new Error(`decoded to ${info.height}x${info.width}x${info.channels}, expected ${s.height}x${s.width}x${s.channels}`);
  }
  return data;
}

export interface FolderLoad {
  header: CacheHeader;
  /** Images decoded by this call (0 when the cache was used). */
  decoded: number;
  cache: string;
}

/** The folder as a data set, from its cache when the cache matches, decoding (and caching) otherwise. */
export async function loadImageFolder(
  dir: string,
  s: ImageSettings,
  ctx: Pick<LoadContext, "log" | "progress">,
  opts: { flip?: boolean; limit?: number } = {},
): Promise<Dataset & { classNames: readonly string[] | null }> {
  const r = await prepareImageFolder(dir, s, ctx);
  return openCache(r.cache, r.header, path.basename(path.resolve(dir)), opts) as Dataset & { classNames: readonly string[] | null };
}

export async function prepareImageFolder(dir: string, s: ImageSettings, ctx: Pick<LoadContext, "log" | "progress">): Promise<FolderLoad> {
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) throw new DataError(`image folder ${dir} does not exist or is not a folder`);
  const classNames = s.labels ? classFolders(dir) : null;
  if (classNames && classNames.length === 0) throw new DataError(`labels=true: ${dir} has no subfolders to take the classes from`);
  const { files, unlabelled } = listImages(dir, classNames);
  if (files.length === 0) {
    throw new DataError(`no images in ${dir}${classNames ? "'s class subfolders" : ""} (looked for ${IMAGE_EXTENSIONS.join(", ")}, in subfolders too)`);
  }
  const key = cacheKey(files, s, classNames);
  const file = cacheFile(dir, s);
  const cached = readCacheHeader(file);
  if (cached && cached.key === key) {
    if (cached.count === 0) throw new DataError(`no image in ${dir} could be decoded (${cached.skipped} skipped)`);
    ctx.log(`data: ${cached.count} images from the cache ${file}${cached.skipped ? ` (${cached.skipped} files were skipped when it was made)` : ""}`);
    return { header: cached, decoded: 0, cache: file };
  }

  for (const u of unlabelled) ctx.log(`warning: ${path.join(dir, u)} is not in a class subfolder; skipped`);
  const sharp = (await import("sharp")).default;
  let writer: CacheWriter;
  try {
    writer = new CacheWriter(file, s.height * s.width * s.channels);
  } catch (err) {
    throw new DataError(`cannot write the decode cache ${file} (${(err as Error).message}); set GANC_CACHE_DIR to a writable folder`);
  }
  const bar = ctx.progress ? new cliProgress.SingleBar({ format: "decoding {bar} {value}/{total} images, {eta_formatted} left", hideCursor: true, stream: process.stderr }, cliProgress.Presets.shades_classic) : null;
  if (!bar) ctx.log(`data: decoding ${files.length} images from ${dir} into ${file}`);
  bar?.start(files.length, 0);
  let skipped = unlabelled.length;
  const counts = new Array<number>(classNames?.length ?? 1).fill(0);
  try {
    // Decoded in parallel, written in file order: the cache (and so every batch) is the same however the decodes interleave.
    for (let start = 0; start < files.length; start += CONCURRENCY) {
      const chunk = files.slice(start, start + CONCURRENCY);
      const results = await Promise.all(
        chunk.map(async (f) => {
          const full = path.join(dir, f.rel);
          const buf = fs.readFileSync(full);
          if (buf.length === 0) return { f, full, problem: "empty file" };
          try {
            return { f, full, pixels: await decodeImage(sharp, buf, s) };
          } catch (err) {
            return { f, full, problem: (err as Error).message };
          }
        }),
      );
      for (const r of results) {
        if (r.pixels) {
          writer.add(r.pixels, r.f.label);
          counts[r.f.label]!++;
        } else {
          skipped++;
          const line = `warning: ${r.full}: ${r.problem}; skipped`;
          if (bar) {
            bar.stop();
            ctx.log(line);
            bar.start(files.length, start + chunk.length);
          } else ctx.log(line);
        }
      }
      bar?.update(start + chunk.length);
    }
  } catch (err) {
    writer.abort();
    throw err;
  } finally {
    bar?.stop();
  }
  if (counts.every((c) => c === 0)) {
    writer.abort();
    throw new DataError(`no image in ${dir} could be decoded (${skipped} files skipped, see the warnings above)`);
  }
  const header = writer.finish({ key, shape: [s.height, s.width, s.channels], classNames, classCounts: classNames ? counts : null, skipped });
  ctx.log(`data: decoded ${header.count} images${skipped ? `, skipped ${skipped} file${skipped === 1 ? "" : "s"}` : ""}; cached in ${file}`);
  return { header, decoded: header.count, cache: file };
}
