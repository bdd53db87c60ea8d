/** The modules src/lazy.ts loads (relative to src/), each an entry of dist/lazy/ at the same path with .js. */
export const LAZY_ENTRIES: string[];
/** Builds dist/cli.js, dist/lazy/ and dist/ui; false where esbuild is not installed. */
export function build(options?: { quiet?: boolean }): Promise<boolean>;
