import * as fs from "node:fs";
import * as path from "node:path";

/**
 * Writes `data` to `file` so that a reader (or a crash) never sees a half-written file:
 * write a temp file beside it, fsync it, rename it over the target, fsync the folder.
 * On any failure the temp file is removed and the error is rethrown; the target keeps its old content.
 * `mode` gives the file those permission bits exactly (`ganc fmt --write` keeps a spec's own); default 0644
 * less the umask.
 */
export function writeFileAtomic(file: string, data: string | Uint8Array, mode?: number): void {
  const dir = path.dirname(file);
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.${Date.now()}.tmp`);
  let fd: number | undefined;
  try {
    fd = fs.openSync(tmp, "w", mode ?? 0o644);
    if (mode !== undefined) fs.fchmodSync(fd, mode);
    const bytes = typeof data === "string" ? Buffer.from(data, "utf8") : data;
    // writeSync may write less than asked (a full disk fills up mid-write): loop until all is written,
    // so that the error, not a truncated file, is what comes out.
    for (let off = 0; off < bytes.length; ) off += fs.writeSync(fd, bytes, off, bytes.length - off);
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fd = undefined;
    fs.renameSync(tmp, file);
  } catch (err) {
    if (fd !== undefined) {
      try { fs.closeSync(fd); } catch { /* already failing */ }
    }
    try { fs.rmSync(tmp, { force: true }); } catch { /* best effort */ }
    throw err;
  }
  fsyncDir(dir);
}

function fsyncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = fs.openSync(dir, "r");
    fs.fsyncSync(fd);
  } catch {
    // Some file systems refuse fsync on a directory; the rename is still atomic there.
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}
