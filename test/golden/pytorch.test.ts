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
 *
 * Every generated program is standalone: below its own code it carries the vendored runtime (seeded random
 * numbers, data, optimizers, checkpoints), the same text in every program. The goldens hold that runtime once,
 * in runtime.py, and per spec the trainer's own part (<spec>.trainer.py), with one marker line where the
 * runtime goes: each program must be exactly its trainer part with runtime.py in place of the marker.
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

const runtimeGolden = path.join(goldenDir, "runtime.py");
/** The line that stands for the vendored runtime in a per-spec golden. */
const RUNTIME_MARKER = "# [the vendored runtime: test/golden/pytorch/runtime.py]\n";

/** A program's own part and its vendored runtime: from the runtime's header to the closing `if __name__` block. */
function split(program: string): { own: string; runtime: string } {
  const start = /^# -+\n# The runtime this trainer needs, vendored/m.exec(program)?.index;
  const end = program.lastIndexOf('\nif __name__ == "__main__":\n');
  if (start === undefined || end < start) throw new Error("no vendored runtime in the generated program");
  return { own: program.slice(0, start) + RUNTIME_MARKER + program.slice(end), runtime: program.slice(start, end) };
}

/** The whole program of a per-spec golden: its marker replaced by runtime.py. */
const assemble = (own: string, runtime: string) => {
  expect(own.split(RUNTIME_MARKER)).toHaveLength(2);
  return own.replace(RUNTIME_MARKER, () => runtime);
};

const compile = (f: string) => {
  const text = fs.readFileSync(path.join(specsDir, f), "utf8");
  return compileText(text, `specs/${f}`, { target: "pytorch" });
};
/** One compilation per spec for the tests that read its program (the golden test also compiles again, for determinism). */
const compiled = new Map<string, ReturnType<typeof compile>>();
const compileOnce = (f: string) => {
  if (!compiled.has(f)) compiled.set(f, compile(f));
  return compiled.get(f)!;
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

  it("the vendored runtime is one text, the same in every generated program, and test/golden/pytorch/runtime.py holds it", () => {
    const runtimes = new Set(supported.map((f) => split(compileOnce(f).code!).runtime));
    expect(runtimes.size).toBe(1);
    const [runtime] = runtimes;
    // A runtime of substance (the generator, the optimizers, the checkpoint format), not an empty split.
    expect(runtime).toMatch(/^class Xoroshiro128Plus:/m);
    expect(runtime).toMatch(/^class Optimizer:/m);
    expect(runtime!.split("\n").length).toBeGreaterThan(1000);
    if (update) {
      fs.mkdirSync(goldenDir, { recursive: true });
      fs.writeFileSync(runtimeGolden, runtime!);
    }
    if (!fs.existsSync(runtimeGolden)) throw new Error("no golden runtime.py: review the output and run GANC_UPDATE_GOLDEN=1 npx vitest run test/golden");
    expect(runtime).toBe(fs.readFileSync(runtimeGolden, "utf8"));
  });

  for (const f of supported) {
    it(`${f} compiles to its golden Python trainer (its own part, and the vendored runtime of runtime.py)`, () => {
      const r = compileOnce(f);
      expect(r.diagnostics.filter((d) => d.severity === "error")).toEqual([]);
      expect(r.code).not.toBeNull();
      expect(compile(f).code).toBe(r.code);
      const { own, runtime } = split(r.code!);
      const golden = path.join(goldenDir, f.replace(/\.gan$/, ".trainer.py"));
      if (update) {
        fs.mkdirSync(goldenDir, { recursive: true });
        fs.writeFileSync(golden, own);
      }
      if (!fs.existsSync(golden)) throw new Error(`no golden Python trainer for ${f}: review the output and run GANC_UPDATE_GOLDEN=1 npx vitest run test/golden`);
      expect(own).toBe(fs.readFileSync(golden, "utf8"));
      expect(runtime).toBe(fs.readFileSync(runtimeGolden, "utf8"));
      // The program is standalone: the golden's parts put together are the whole of it.
      expect(assemble(fs.readFileSync(golden, "utf8"), fs.readFileSync(runtimeGolden, "utf8"))).toBe(r.code);
    });

    it(`${f}.yaml gives the same Python trainer (but for its name, lines, hash and kept text)`, () => {
      // The two forms differ only in where things are written: the references `specs/x.gan:12`, the text's hash,
      // and the spec text the trainer keeps in its run folder (and that file's name).
      const neutral = (s: string) =>
        s
          .replace(/specs\/[\w.]+?\.gan(\.yaml)?(:\d+)?/g, "SPEC")
          .replace(/"hash": "\w+"/, '"hash": HASH')
          .replace(/"specFile": "spec\.gan(\.yaml)?"/, '"specFile": FILE')
          .replace(/"text": ".*",\n/, '"text": TEXT,\n');
      const a = compileOnce(f).code!;
      expect(neutral(compile(`${f}.yaml`).code!)).toBe(neutral(a));
    });
  }

  it.skipIf(!py.python)("every golden Python trainer, put together with runtime.py, compiles with python3 -m py_compile", () => {
    const goldens = fs.readdirSync(goldenDir).filter((f) => f.endsWith(".trainer.py"));
    expect(goldens.length).toBe(supported.length);
    expect(fs.readdirSync(goldenDir).filter((f) => f.endsWith(".py")).sort()).toEqual([...goldens, "runtime.py"].sort());
    // py_compile writes nothing to the tree: the whole programs and their bytecode go to a temporary folder.
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "ganc-pyc-"));
    const runtime = fs.readFileSync(runtimeGolden, "utf8");
    const files = goldens.map((f) => {
      const file = path.join(tmp, f);
      fs.writeFileSync(file, assemble(fs.readFileSync(path.join(goldenDir, f), "utf8"), runtime));
      return file;
    });
    const out = execFileSync(py.python!, ["-c", "import os, py_compile, sys\nfor f in sys.argv[2:]: py_compile.compile(f, cfile=os.path.join(sys.argv[1], os.path.basename(f) + 'c'), doraise=True)\nprint('ok')", tmp, ...files], { encoding: "utf8" });
    fs.rmSync(tmp, { recursive: true, force: true });
    expect(out.trim()).toBe("ok");
  });
  skipNote("py_compile of the golden Python trainers", py);
});
