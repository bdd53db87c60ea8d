import * as fs from "node:fs";
import * as path from "node:path";
import { transformSync } from "esbuild";
import { describe, expect, it } from "vitest";
import { resolvePasses } from "../../src/codegen/opt-passes.ts";
import { compileText } from "../../src/compile.ts";
import { isStrippedFrom, stripTypes } from "../../src/tools/strip-types.ts";

/**
 * ganc from its bundle runs a trainer as JavaScript, stripped of its types (src/tools/strip-types.ts);
 * from the sources tsx compiles the TypeScript. Every trainer ganc writes for specs/ and the test fixtures,
 * optimized and --no-opt, must come out as JavaScript that parses, keeps the trainer's imports and exports,
 * and is recognised as made from its own source only.
 */
const root = path.resolve(__dirname, "../..");
const files = [
  ...fs.readdirSync(path.join(root, "specs")).map((f) => path.join("specs", f)),
  ...fs.readdirSync(path.join(root, "test/fixtures")).map((f) => path.join("test/fixtures", f)),
]
  .filter((f) => f.endsWith(".gan"))
  .sort();

describe("a trainer without its types", () => {
  it("covers the specs and fixtures", () => {
    expect(files.length).toBeGreaterThan(30);
  });

  for (const file of files) {
    it(`${file}: optimized and --no-opt, the JavaScript parses and keeps the imports and exports`, async () => {
      const text = fs.readFileSync(path.join(root, file), "utf8");
      let compiled = 0;
      for (const passes of [undefined, resolvePasses(true)]) {
        const r = compileText(text, path.join(root, file), { source: file, passes });
        if (r.code === null) continue; // a fixture of refused specs; its errors are other tests' business
        compiled++;
        const code = r.code;
        // TypeScript in, so that the check below can fail: a type annotation is not JavaScript
        expect(() => transformSync(code, { loader: "js", format: "esm" }), file).toThrow();
        const js = await stripTypes(code);
        expect(() => transformSync(js, { loader: "js", format: "esm" }), file).not.toThrow();
        expect(isStrippedFrom(js, code)).toBe(true);
        expect(isStrippedFrom(js, code + "\n")).toBe(false);
        const lines = (s: string, re: RegExp) => s.split("\n").filter((l) => re.test(l));
        expect(lines(js, /^import \* as (tf|rt) from /)).toEqual(lines(code, /^import \* as (tf|rt) from /));
        // esbuild gathers a module's exports into one list at its end
        const exported = [...js.matchAll(/^export \{([^}]*)\}/gm)].flatMap((m) => m[1]!.split(",").map((n) => n.trim()).filter(Boolean));
        expect(exported.sort(), file).toEqual(["SPEC", "main"]);
      }
      expect(compiled, file).toBeGreaterThan(0);
    });
  }
});
