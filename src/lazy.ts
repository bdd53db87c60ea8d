/**
 * Modules that load tfjs (the runtime, the trainer's flags, eval, export, reports), imported only by
 * the commands that need them, so that `--version`, `check`, `compile`, `convert` and `init` start
 * without them.
 *
 * From the sources (src/cli.ts through tsx) they are imported from src/ as TypeScript. From the compiled
 * command (dist/cli.js) they come from its second bundle, dist/lazy/ (scripts/build.mjs, LAZY_ENTRIES), as
 * plain JavaScript: no TypeScript loader in the process, which made every module a trainer imports, tfjs's
 * too, a round trip to tsx's loader thread (about 1.5 s of CPU and 0.7 s of a small `ganc train`). Either
 * way the trainer that `ganc train` runs imports the runtime these came with (forThisProcess in
 * tools/runfolder.ts), so the process holds one copy of it.
 */
const FROM_SOURCE = import.meta.url.endsWith(".ts");
/** src/, from src/lazy.ts; dist/lazy/, from dist/cli.js (dist/ sits next to src/ in the package). */
const BASE = new URL(FROM_SOURCE ? "./" : "./lazy/", import.meta.url);

/** Imports src/<rel> (e.g. "runtime/session.ts") or its bundle; `typeof import("./runtime/session.ts")` as T keeps its types. */
export async function loadSource<T>(rel: string): Promise<T> {
  // (each name is an entry of scripts/build.mjs's LAZY_ENTRIES: test/cli/startup.test.ts checks every call)
  return (await import(new URL(FROM_SOURCE ? rel : rel.replace(/\.ts$/, ".js"), BASE).href)) as T;
}
