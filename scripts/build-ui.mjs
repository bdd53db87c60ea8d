#!/usr/bin/env node
// Builds the live dashboard's page (`ganc ui`, `ganc train --ui`) into dist/ui/: index.html, app.js
// (src/ui/page/app.ts with uPlot, one minified script) and app.css (uPlot's stylesheet and the page's).
// Run by scripts/build.mjs (npm run build, npm install) and, when dist/ui is missing or older than its
// sources, by the dashboard's server before it serves. The output depends only on the sources and the
// installed esbuild and uPlot: no timestamps, no absolute paths, so two builds give the same bytes.
import * as fs from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

/** The page's sources, relative to the root. */
const PAGE = "src/ui/page";

/** Files whose change makes dist/ui stale: the page's sources and the uPlot it bundles. */
export function uiInputs(root) {
  const dir = path.join(root, PAGE);
  const own = fs.readdirSync(dir).filter((f) => /\.(ts|css|html)$/.test(f)).map((f) => path.join(dir, f));
  return [...own, path.join(root, "node_modules/uplot/package.json")];
}

/** True when dist/ui/app.js is missing or older than one of its inputs. */
export function uiStale(root) {
  let built;
  try {
    built = Math.min(...["index.html", "app.js", "app.css"].map((f) => fs.statSync(path.join(root, "dist/ui", f)).mtimeMs));
  } catch {
    return true;
  }
  return uiInputs(root).some((f) => {
    try {
      return fs.statSync(f).mtimeMs > built;
    } catch {
      return false;
    }
  });
}

export async function buildUi({ root = here, quiet = false } = {}) {
  const esbuild = await import("esbuild");
  const out = path.join(root, "dist/ui");
  fs.mkdirSync(out, { recursive: true });
  const r = await esbuild.build({
    absWorkingDir: root,
    entryPoints: { app: `${PAGE}/app.ts`, style: `${PAGE}/app.css` },
    bundle: true,
    minify: true,
    format: "iife",
    target: "es2020",
    platform: "browser",
    legalComments: "none",
    write: false,
    outdir: out,
    logLevel: "silent",
  });
  const put = (file, data) => {
    const tmp = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, data);
    fs.renameSync(tmp, file);
  };
  for (const f of r.outputFiles) put(path.join(out, path.basename(f.path) === "style.css" ? "app.css" : path.basename(f.path)), f.contents);
  // index.html last: uiStale() compares against the oldest of the three.
  put(path.join(out, "index.html"), fs.readFileSync(path.join(root, PAGE, "index.html")));
  if (!quiet) process.stderr.write("ganc build: wrote dist/ui (the dashboard's page)\n");
  return out;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await buildUi({ quiet: process.argv.includes("--quiet") });
}
