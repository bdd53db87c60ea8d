#!/usr/bin/env node
// The ganc command: the compiled bundle (dist/cli.js, built at install by scripts/build.mjs) when it
// is newer than the sources it was built from; otherwise the TypeScript sources through tsx's loader,
// so that an edit in src/ takes effect without a build step. GANC_FROM_SOURCE=1 forces the sources.
import { fileURLToPath } from "node:url";
import { freshBuild } from "./fresh.mjs";

const root = fileURLToPath(new URL("..", import.meta.url));
let main;
if (!process.env.GANC_FROM_SOURCE && freshBuild(root)) ({ main } = await import("../dist/cli.js"));
else {
  const { register } = await import("tsx/esm/api");
  register();
  ({ main } = await import("../src/cli.ts"));
}
const code = await main(process.argv.slice(2));
process.exit(code);
