import { spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { PNG } from "pngjs";

/** A headless Chromium on this machine, or null (browser tests are skipped without one). */
export const CHROMIUM: string | null = (() => {
  for (const name of ["chromium", "chromium-browser", "google-chrome", "google-chrome-stable"]) {
    const r = spawnSync("sh", ["-c", `command -v ${name}`], { encoding: "utf8" });
    if (r.status === 0 && r.stdout.trim()) return r.stdout.trim();
  }
  return null;
})();

export interface BrowserResult {
  code: number;
  stdout: string;
  stderr: string;
  /** The page's console messages, as Chromium logs them with --enable-logging=stderr. */
  console: string[];
}

const FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--enable-logging=stderr", "--v=0"];

function result(code: number | null, stdout: string, stderr: string): BrowserResult {
  return { code: code ?? -1, stdout, stderr, console: stderr.split("\n").filter((l) => /:CONSOLE[:(]/.test(l)) };
}

/** Runs headless Chromium once on `url` with a fresh profile; `extra` adds e.g. --dump-dom or --screenshot=... */
export function chromium(url: string, extra: string[], opts: { timeout?: number } = {}): BrowserResult {
  if (!CHROMIUM) throw new Error("no chromium");
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), "ganc-chromium-"));
  try {
    const r = spawnSync(CHROMIUM, [...FLAGS, `--user-data-dir=${profile}`, ...extra, url], { encoding: "utf8", timeout: opts.timeout ?? 60_000, maxBuffer: 64 * 1024 * 1024 });
    return result(r.status, r.stdout ?? "", r.stderr ?? "");
  } finally {
    fs.rmSync(profile, { recursive: true, force: true });
  }
}

/** Like chromium(), without blocking this process: for pages served by a server in the test itself. */
export function chromiumAsync(url: string, extra: string[], opts: { timeout?: number } = {}): Promise<BrowserResult> {
  if (!CHROMIUM) throw new Error("no chromium");
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), "ganc-chromium-"));
  return new Promise((resolve) => {
    const child = spawn(CHROMIUM!, [...FLAGS, `--user-data-dir=${profile}`, ...extra, url], { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "", stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), opts.timeout ?? 60_000);
    child.on("close", (code) => {
      clearTimeout(timer);
      fs.rmSync(profile, { recursive: true, force: true });
      resolve(result(code, stdout, stderr));
    });
  });
}

/** Pixel statistics of a region of a PNG screenshot. */
export function regionStats(pngFile: string, region: { x: number; y: number; w: number; h: number }): { nonWhite: number; colored: number; coloredPixels: number } {
  const png = PNG.sync.read(fs.readFileSync(pngFile));
  let nonWhite = 0, colored = 0, total = 0;
  const x1 = Math.min(png.width, region.x + region.w), y1 = Math.min(png.height, region.y + region.h);
  for (let y = region.y; y < y1; y++) {
    for (let x = region.x; x < x1; x++) {
      const i = (y * png.width + x) * 4;
      const [r, g, b] = [png.data[i]!, png.data[i + 1]!, png.data[i + 2]!];
      total++;
      if (r < 240 || g < 240 || b < 240) nonWhite++;
      if (Math.max(r, g, b) - Math.min(r, g, b) > 60) colored++;
    }
  }
  return { nonWhite: nonWhite / total, colored: colored / total, coloredPixels: colored };
}
