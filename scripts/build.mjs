#!/usr/bin/env node
// Compiles the ganc command (src/cli.ts and what it imports statically: parser, checker, code generator)
// into one JavaScript file, dist/cli.js, so that a command starts without transpiling TypeScript.
// Runs at install (package.json "prepare") and by `npm run build`.
//
// bin/ganc.mjs uses dist/cli.js only while it is newer than every source file listed in
// dist/build.json (the bundle's inputs); otherwise it runs src/cli.ts through tsx, so an edit in src/
// takes effect at once and a stale build is never run. The modules that load tfjs (the runtime, and the
// tools that run a trainer) are a second bundle, dist/lazy/, which src/lazy.ts imports when a command
// needs them; tfjs and the other packages stay in node_modules.
import * as fs from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const dist = path.join(root, "dist");

/**
 * The modules src/lazy.ts loads (loadSource's names, relative to src/), each an entry of dist/lazy/ at the
 * same path with .js: runtime/index.ts is also what a trainer run by `ganc train` imports (tools/runfolder.ts).
 * One build with shared chunks, so each module (and class: TrainingError) exists once in a process.
 */
export const LAZY_ENTRIES = ["runtime/index.ts", "runtime/lock.ts", "tools/runfolder.ts", "tools/eval.ts", "tools/report.ts", "tools/export.ts"];

export async function build({ quiet = false } = {}) {
  let esbuild;
  try {
    esbuild = await import("esbuild");
  } catch {
    if (!quiet) process.stderr.write("ganc build: esbuild is not installed; ganc will run from its TypeScript sources (slower start)\n");
    return false;
  }
  const r = await esbuild.build({
    entryPoints: [path.join(root, "src/cli.ts")],
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    // The compiler's dependencies are bundled (chevrotain alone costs ~0.5 s of CPU to import from
    // node_modules: lodash-es, one module per function; commander ~40 ms, most of --version's cost
    // above node's own start). `ganc train` parses with the trainer's Command, whose commander comes
    // from node_modules: main() recognises its errors by their code, not by class. tsx is the loader
    // for the lazily imported sources.
    // tfjs is never bundled: the runtime loads it from src/ (lazy.ts), and a static import of it on the
    // compiler path should show as tfjs being loaded (test/cli/startup.test.ts), not hide in a chunk.
    // sharp loads its native libvips binding at run time: imported from node_modules, only when a folder is decoded.
    external: ["tsx", "tsx/*", "esbuild", "@tensorflow/*", "sharp"],
    write: false,
    metafile: true,
    // Chunks: the parser and code generator load when a command reads a spec, not for --version.
    splitting: true,
    outdir: dist,
    entryNames: "[name]",
    chunkNames: "chunks/[name]-[hash]",
    logLevel: "silent",
    // Bundled CommonJS packages (yaml, ajv) require node's built-in modules: give them a require.
    banner: {
      js: [
        "// Built by scripts/build.mjs from src/; do not edit (bin/ganc.mjs ignores it once src/ is newer).",
        'import { createRequire as __gancCreateRequire } from "node:module";',
        "const require = __gancCreateRequire(import.meta.url);",
      ].join("\n"),
    },
  });
  fs.mkdirSync(path.join(dist, "chunks"), { recursive: true });
  // Written under a temporary name and renamed: a ganc started meanwhile reads the old file or the new one.
  const put = (file, text) => {
    const tmp = `${file}.${process.pid}.tmp`;
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(tmp, text);
    fs.renameSync(tmp, file);
  };
  const lazyDir = path.join(dist, "lazy");
  const lazy = await esbuild.build({
    entryPoints: LAZY_ENTRIES.map((e) => path.join(root, "src", e)),
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    // tfjs (one engine for the trainer and the runtime: the trainer imports it from node_modules too), koffi
    // and sharp (native), and every other package load from node_modules.
    packages: "external",
    write: false,
    metafile: true,
    splitting: true,
    outdir: lazyDir,
    outbase: path.join(root, "src"),
    entryNames: "[dir]/[name]",
    chunkNames: "chunks/[name]-[hash]",
    logLevel: "silent",
    banner: { js: "// Built by scripts/build.mjs from src/; do not edit (bin/ganc.mjs ignores it once src/ is newer)." },
  });
  // Every file lies one folder below dist/lazy/ (an entry's folder, or chunks/), as src/runtime/eval/ and
  // src/tools/ lie below src/: the modules that find a file from import.meta.url (tools/runfolder.ts: the
  // runtime's entry; runtime/eval/classifier.ts: its weights) count on it.
  for (const f of lazy.outputFiles) {
    const rel = path.relative(lazyDir, f.path).split(path.sep);
    if (rel.length !== 2) throw new Error(`ganc build: ${path.relative(root, f.path)} is not one folder below dist/lazy/`);
  }
  const inputs = [...new Set([...Object.keys(r.metafile.inputs), ...Object.keys(lazy.metafile.inputs)])]
    .map((f) => path.relative(root, path.resolve(f)).split(path.sep).join("/"))
    .filter((f) => !f.startsWith("../") && !f.includes("node_modules/"))
    .sort();
  // The list first: a reader that sees the new bundle then also checks the new inputs.
  put(path.join(dist, "build.json"), JSON.stringify({ inputs }, null, 2) + "\n");
  // The lazy bundle before dist/cli.js, which makes the build fresh: its chunks, then its entries.
  for (const f of lazy.outputFiles) if (f.path.includes(`${path.sep}chunks${path.sep}`)) put(f.path, f.contents);
  for (const f of lazy.outputFiles) if (!f.path.includes(`${path.sep}chunks${path.sep}`)) put(f.path, f.contents);
  // Chunks (named by their content's hash) before the entry that imports them.
  const entry = path.join(dist, "cli.js");
  for (const f of r.outputFiles) if (f.path !== entry) put(f.path, f.contents);
  put(entry, r.outputFiles.find((f) => f.path === entry).contents);
  // Everything else in chunks/ is an earlier build's (chunk names change with their content) or a
  // temporary file of an interrupted build. Sources unchanged give the same names, so a ganc running
  // from the bundle loses nothing; one started from an earlier bundle a moment before this build
  // could, and would say which chunk is missing (running it again uses this build).
  const keep = new Set([...r.outputFiles, ...lazy.outputFiles].map((f) => f.path));
  for (const name of fs.readdirSync(path.join(dist, "chunks"))) {
    const f = path.join(dist, "chunks", name);
    if (!keep.has(f)) fs.rmSync(f, { force: true, recursive: true });
  }
  // The same for dist/lazy/, an entry that is no longer one included.
  for (const name of fs.readdirSync(lazyDir, { recursive: true })) {
    const f = path.join(lazyDir, name);
    if (!keep.has(f) && fs.statSync(f).isFile()) fs.rmSync(f, { force: true });
  }
  if (!quiet) process.stderr.write(`ganc build: wrote dist/cli.js and dist/lazy/ (${inputs.length} source files)\n`);
  // The live dashboard's page (ganc ui): dist/ui.
  const { buildUi } = await import("./build-ui.mjs");
  await buildUi({ root, quiet });
  return true;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await build({ quiet: process.argv.includes("--quiet") });
}
