/**
 * Modules that load tfjs (the runtime, the trainer's flags, eval, export, reports), imported only by
 * the commands that need them, so that `--version`, `check`, `compile`, `convert` and `init` start
 * without them.
 *
 * They are always imported from src/ as TypeScript: the generated trainer that `ganc train` runs is
 * TypeScript and imports src/runtime/index.ts (see forThisProcess in tools/runfolder.ts), so the
 * runtime must be that one copy. When this module runs from the compiled bundle (dist/cli.js), the
 * first such import registers tsx's loader; from source it is already registered.
 */
const FROM_SOURCE = import.meta.url.endsWith(".ts");
/** src/, from src/lazy.ts or from dist/cli.js (which sits next to src/ in the package). */
const SRC = new URL(FROM_SOURCE ? "./" : "../src/", import.meta.url);
let registered = FROM_SOURCE;

/** Imports src/<rel> (e.g. "runtime/session.ts"); `typeof import("./runtime/session.ts")` as T keeps its types. */
export async function loadSource<T>(rel: string): Promise<T> {
  if (!registered) {
    const { register } = await import("tsx/esm/api");
    register();
    registered = true;
  }
  return (await import(new URL(rel, SRC).href)) as T;
}
