import * as fs from "node:fs";
import * as path from "node:path";
import { execFileSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { compileText } from "../../src/compile.ts";

/**
 * One committed trainer per spec in specs/. A change to codegen shows up here as a diff to review;
 * `npm run golden:update` rewrites the files (never in CI).
 */
const root = path.resolve(__dirname, "../..");
const specsDir = path.join(root, "specs");
const goldenDir = path.join(root, "test/golden/trainers");
const update = process.env.GANC_UPDATE_GOLDEN === "1";
const specs = fs.readdirSync(specsDir).filter((f) => f.endsWith(".gan")).sort();

describe("golden trainers", () => {
  it("covers at least the seed spec", () => {
    expect(specs).toContain("gan.gan");
  });

  for (const f of specs) {
    it(`${f} compiles to its golden trainer`, () => {
      const text = fs.readFileSync(path.join(specsDir, f), "utf8");
      const r = compileText(text, `specs/${f}`);
      expect(r.diagnostics.filter((d) => d.severity === "error")).toEqual([]);
      expect(r.code).not.toBeNull();
      // Deterministic: compiling twice gives the same bytes.
      expect(compileText(text, `specs/${f}`).code).toBe(r.code);
      const golden = path.join(goldenDir, f.replace(/\.gan$/, ".trainer.ts"));
      if (update) {
        fs.mkdirSync(goldenDir, { recursive: true });
        fs.writeFileSync(golden, r.code!);
      }
      if (!fs.existsSync(golden)) throw new Error(`no golden trainer for ${f}: review the output and run npm run golden:update`);
      expect(r.code).toBe(fs.readFileSync(golden, "utf8"));
    });
  }

  it("every golden trainer type-checks against the runtime", () => {
    // tsc over the golden folder with the package's own tsconfig paths ("ganc/runtime" -> src/runtime).
    const tsc = path.join(root, "node_modules/typescript/bin/tsc");
    const out = (() => {
      try {
        return execFileSync(process.execPath, [tsc, "--noEmit", "-p", path.join(root, "test/golden/tsconfig.json")], { encoding: "utf8" });
      } catch (e) {
        return (e as { stdout: string }).stdout;
      }
    })();
    expect(out).toBe("");
  }, 120_000);
});
