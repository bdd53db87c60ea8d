#!/usr/bin/env node
// Runs a TypeScript file through tsx's loader: node bin/run-ts.mjs <file.ts> [args...]
import { register } from "tsx/esm/api";
import { pathToFileURL } from "node:url";
import { resolve } from "node:path";

register();
const file = resolve(process.argv[2] ?? "");
process.argv = [process.argv[0], file, ...process.argv.slice(3)];
await import(pathToFileURL(file).href);
