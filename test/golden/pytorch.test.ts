import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { execFileSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { compileText } from "../../src/compile.ts";
import { pythonWithTorch, skipNote } from "../python.ts";

/**
 * One committed Python trainer per spec in specs/ (`ganc compile --target pytorch`), next to the TypeScript
 * ones. `GANC_UPDATE_GOLDEN=1 npx vitest run test/golden` rewrites them; review the diff.
 */
const root = path.resolve(__dirname, "../..");
const specsDir = path.join(root, "specs");
const goldenDir = path.join(root, "test/golden/pytorch");
const update = process.env.GANC_UPDATE_GOLDEN === "1";
const specs = fs.readdirSync(specsDir).filter((f) => f.endsWith(".gan")).sort();
const py = pythonWithTorch();
/** The specs the PyTorch target refuses (E0240): none, every construct of the language runs on it. */
const refused: string[] = [];
const supported = specs.filter((f) => !refused.includes(f));

const compile = (f: string) => {
  const text = fs.readFileSync(path.join(specsDir, f), "utf8");
  return compileText(text, `specs/${f}`, { target: "pytorch" });
};

describe("golden PyTorch trainers", () => {
  // Every spec compiles for PyTorch; a spec listed in `refused` would have to be refused (E0240) in both forms.
  for (const f of refused) {
    it(`${f} is refused with E0240 naming what the PyTorch target lacks, in both forms, and has no golden`, () => {
      const r = compile(f);
      expect(r.code).toBeNull();
      const errors = r.diagnostics.filter((d) => d.severity === "error");
      expect(errors.length).toBeGreaterThan(0);
      expect(errors.every((d) => d.code === "E0240" && /not in the PyTorch trainer yet|the PyTorch trainer does not (do|reproduce) yet/.test(d.message))).toBe(true);
      // The same refusals (in the order of each form's lines, which may differ).
      expect(compile(`${f}.yaml`).diagnostics.filter((d) => d.severity === "error").map((d) => d.message).sort()).toEqual(errors.map((d) => d.message).sort());
      expect(fs.existsSync(path.join(goldenDir, f.replace(/\.gan$/, ".trainer.py")))).toBe(false);
    });
  }

  for (const f of supported) {
    it(`${f} compiles to its golden Python trainer`, () => {
      const r = compile(f);
      expect(r.diagnostics.filter((d) => d.severity === "error")).toEqual([]);
      expect(r.code).not.toBeNull();
      expect(compile(f).code).toBe(r.code);
      const golden = path.join(goldenDir, f.replace(/\.gan$/, ".trainer.py"));
      if (update) {
        fs.mkdirSync(goldenDir, { recursive: true });
        fs.writeFileSync(golden, r.code!);
      }
      if (!fs.existsSync(golden)) throw new Error(`no golden Python trainer for ${f}: review the output and run GANC_UPDATE_GOLDEN=1 npx vitest run test/golden`);
      expect(r.code).toBe(fs.readFileSync(golden, "utf8"));
    });

    it(`${f}.yaml gives the same Python trainer (but for its name, lines and hash)`, () => {
      // The two forms differ only in where things are written: the references `specs/x.gan:12` and the text's hash.
      const neutral = (s: string) => s.replace(/specs\/[\w.]+?\.gan(\.yaml)?(:\d+)?/g, "SPEC").replace(/"hash": "\w+"/, '"hash": HASH');
      const a = compile(f).code!;
      expect(neutral(compile(`${f}.yaml`).code!)).toBe(neutral(a));
    });
  }

  it.skipIf(!py.python)("every golden Python trainer compiles with python3 -m py_compile", () => {
    const files = fs.readdirSync(goldenDir).filter((f) => f.endsWith(".py")).map((f) => path.join(goldenDir, f));
    expect(files.length).toBe(supported.length);
    // py_compile writes nothing to the tree: the bytecode goes to a temporary folder.
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "ganc-pyc-"));
    const out = execFileSync(py.python!, ["-c", "import os, py_compile, sys\nfor f in sys.argv[2:]: py_compile.compile(f, cfile=os.path.join(sys.argv[1], os.path.basename(f) + 'c'), doraise=True)\nprint('ok')", tmp, ...files], { encoding: "utf8" });
    fs.rmSync(tmp, { recursive: true, force: true });
    expect(out.trim()).toBe("ok");
  });
  skipNote("py_compile of the golden Python trainers", py);
});
