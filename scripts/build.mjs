#!/usr/bin/env node
// Compiles the ganc command (src/cli.ts and what it imports statically: parser, checker, code generator)
// into one JavaScript file, dist/cli.js, so that a command starts without transpiling TypeScript.
// Runs at install (package.json "prepare") and by `npm run build`.
//
// bin/ganc.mjs uses dist/cli.js only while it is newer than every source file listed in
// dist/build.json (the bundle's inputs); otherwise it runs src/cli.ts through tsx, so an edit in src/
// takes effect at once and a stale build is never run. The modules that load tfjs are not bundled:
// src/lazy.ts imports them from src/ through tsx when a command needs them.
import * as fs from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const dist = path.join(root, "dist");

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
    fs.writeFileSync(tmp, text);
    fs.renameSync(tmp, file);
  };
  const inputs = Object.keys(r.metafile.inputs).map((f) => path.relative(root, path.resolve(f)).split(path.sep).join("/")).filter((f) => !f.startsWith("../") && !f.includes("node_modules/")).sort();
  // The list first: a reader that sees the new bundle then also checks the new inputs.
  put(path.join(dist, "build.json"), JSON.stringify({ inputs }, null, 2) + "\n");
  // Chunks (named by their content's hash) before the entry that imports them.
  const entry = path.join(dist, "cli.js");
  for (const f of r.outputFiles) if (f.path !== entry) put(f.path, f.contents);
  put(entry, r.outputFiles.find((f) => f.path === entry).contents);
  // Everything else in chunks/ is an earlier build's (chunk names change with their content) or a
  // temporary file of an interrupted build. Sources unchanged give the same names, so a ganc running
  // from the bundle loses nothing; one started from an earlier bundle a moment before this build
  // could, and would say which chunk is missing (running it again uses this build).
  const keep = new Set(r.outputFiles.map((f) => f.path));
  for (const name of fs.readdirSync(path.join(dist, "chunks"))) {
    const f = path.join(dist, "chunks", name);
    if (!keep.has(f)) fs.rmSync(f, { force: true, recursive: true });
  }
  if (!quiet) process.stderr.write(`ganc build: wrote dist/cli.js (${inputs.length} source files)\n`);
  // The live dashboard's page (ganc ui): dist/ui.
  const { buildUi } = await import("./build-ui.mjs");
  await buildUi({ root, quiet });
  return true;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await build({ quiet: process.argv.includes("--quiet") });
}
