/**
 * The compiled engine's trainer as this process runs it: the spec compiled with compileText, its
 * runtime import pointed at this checkout's src/runtime and its tfjs import at the resolved package,
 * the way `ganc train` runs a spec (so both share one tfjs and one runtime module with the bench).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { compileText } from "../src/compile.ts";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const RUNTIME_URL = new URL("../src/runtime/index.ts", import.meta.url).href;

/** Compiles `specPath` (relative to the repository root; its text passed through `transform` first, if given) and writes the runnable trainer to `outFile`. */
export function writeExecTrainer(specPath: string, outFile: string, transform?: (text: string) => string): void {
  let text = fs.readFileSync(path.join(ROOT, specPath), "utf8");
  if (transform) text = transform(text);
  const r = compileText(text, specPath, { source: specPath, runtimeImport: RUNTIME_URL });
  if (!r.code) {
    const errors = r.diagnostics.map((d) => d.message).join("; ");
    throw new Error(`${specPath} does not compile: ${errors}`);
  }
  const tfjs = import.meta.resolve("@tensorflow/tfjs");
  const exec = r.code
    .replace(`from "@tensorflow/tfjs";`, `from ${JSON.stringify(tfjs)};`)
    .replace(/\nrt\.runIfMain\(import\.meta\.url, main\);\n$/, "\n");
  fs.mkdirSync(path.dirname(outFile), { recursive: true });
  fs.writeFileSync(outFile, exec);
}
