import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { compileText } from "../../src/compile.ts";
import { formatDiagnostic, SourceText } from "../../src/parser/diagnostics.ts";
import { ganc } from "../helpers.ts";

/**
 * Error baselines of `ganc compile --target pytorch` (test/errors/pytorch/): specs the default target
 * compiles and the PyTorch target refuses (E0240), each `.gan` with its YAML twin, each with its
 * `<case>.errors.txt`. `GANC_UPDATE_GOLDEN=1` rewrites the baselines.
 */
const DIR = path.resolve(__dirname, "../errors/pytorch");
const UPDATE = process.env.GANC_UPDATE_GOLDEN === "1";
const cases = fs.readdirSync(DIR).filter((f) => /\.gan(\.yaml)?$/.test(f)).sort();

describe("PyTorch target: error baselines", () => {
  it("has a YAML twin for every case", () => {
    for (const f of cases.filter((c) => c.endsWith(".gan"))) expect(cases).toContain(`${f}.yaml`);
  });

  for (const f of cases) {
    it(`${f}: the default target compiles it, --target pytorch refuses it as its baseline says`, () => {
      const text = fs.readFileSync(path.join(DIR, f), "utf8");
      const file = `test/errors/pytorch/${f}`;
      expect(compileText(text, file).code).not.toBeNull();
      const r = compileText(text, file, { target: "pytorch" });
      expect(r.code).toBeNull();
      const src = new SourceText(file, text);
      const got = r.diagnostics.filter((d) => d.severity === "error").map((d) => formatDiagnostic(d, (x) => (x === file ? src : undefined))).join("\n\n") + "\n";
      const baseline = path.join(DIR, `${f}.errors.txt`);
      if (UPDATE) fs.writeFileSync(baseline, got);
      expect(got).toBe(fs.readFileSync(baseline, "utf8"));
      expect(got).toMatch(/^error\[E0240\]/);
    });
  }

  it("an unknown --target is a usage error that names the targets", () => {
    const r = ganc(["compile", "specs/ring8.gan", "--target", "jax"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("--target must be tfjs or pytorch, got 'jax'");
  });
});
