/**
 * Assembles ganc.wat into ganc.wasm.ts (the module as base64, so the runtime needs no build step and
 * no assembler). Run after editing ganc.wat: npm run build:wasm. test/runtime/wasm-kernels.test.ts
 * fails when the two disagree.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import path from "node:path";

const here = path.dirname(fileURLToPath(import.meta.url));
export const WAT_FILE = path.join(here, "ganc.wat");
export const MODULE_FILE = path.join(here, "ganc.wasm.ts");

/** The generated TypeScript for the current ganc.wat. */
export async function renderModule(): Promise<string> {
  const { default: init } = await import("wabt");
  const wabt = await init();
  const parsed = wabt.parseWat("ganc.wat", readFileSync(WAT_FILE, "utf8"), { simd: true });
  try {
    parsed.resolveNames();
    parsed.validate();
    const { buffer } = parsed.toBinary({ write_debug_names: false });
    const base64 = Buffer.from(buffer).toString("base64");
    const lines = base64.match(/.{1,100}/g)!.map((l) => `  "${l}"`);
    return (
      "// Generated from ganc.wat by build.ts (npm run build:wasm). Do not edit.\n" +
      "export const GANC_WASM_BASE64 =\n" +
      lines.join(" +\n") +
      ";\n"
    );
  } finally {
    parsed.destroy();
  }
}

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  writeFileSync(MODULE_FILE, await renderModule());
  console.log(`wrote ${path.relative(process.cwd(), MODULE_FILE)}`);
}
