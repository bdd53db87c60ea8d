import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { checkText, compileText, refusalDiagnostics } from "../../src/compile.ts";
import { pyRefusals } from "../../src/codegen/pytorch/refusals.ts";
import { PY_LAYERS, type PyLayerTable } from "../../src/codegen/pytorch/layers.ts";
import { PY_FUNCTIONS, type PyFunctionTable } from "../../src/codegen/pytorch/functions.ts";
import { formatDiagnostic, SourceText } from "../../src/parser/diagnostics.ts";
import { ganc } from "../helpers.ts";

/**
 * The PyTorch target's refusals (E0240): a layer kind or function whose table entry is `unsupported` is
 * reported at the layer (or the call), never compiled into different code. Every kind and function runs on the
 * PyTorch target today, so the tables refuse nothing: a case of test/errors/pytorch/ names (`# refuse: <name>`
 * on a line of its own) a layer kind or a function that the test marks unsupported in a copy of its table
 * (a case without that line must be refused by the tables as they are); its `<case>.errors.txt` holds the formatted
 * diagnostics. A layer inside a block instance is reported at the instance's line in the net, with a note at
 * the line inside the block. Each `.gan` has its YAML twin. `GANC_UPDATE_GOLDEN=1` rewrites the baselines.
 */
const DIR = path.resolve(__dirname, "../errors/pytorch");
const UPDATE = process.env.GANC_UPDATE_GOLDEN === "1";
const cases = fs.readdirSync(DIR).filter((f) => /\.gan(\.yaml)?$/.test(f)).sort();

describe("PyTorch target: refusals (E0240)", () => {
  it("has cases, each with a YAML twin", () => {
    expect(cases.length).toBeGreaterThanOrEqual(4);
    for (const f of cases.filter((c) => c.endsWith(".gan"))) expect(cases).toContain(`${f}.yaml`);
  });

  for (const f of cases) {
    const text = fs.readFileSync(path.join(DIR, f), "utf8");
    const kind = /^# refuse: (\w+)/m.exec(text)?.[1];
    const title = kind
      ? `${f}: compiles for PyTorch; with ${kind} marked unsupported, refused as its baseline says`
      : `${f}: refused by the PyTorch target's tables as they are (constructs it does not run yet), as its baseline says`;
    it(title, () => {
      const file = `test/errors/pytorch/${f}`;
      let table = PY_LAYERS;
      let functions = PY_FUNCTIONS;
      if (kind) {
        expect(compileText(text, file, { target: "pytorch" }).code).not.toBeNull();
        expect(kind in PY_LAYERS || kind in PY_FUNCTIONS, `${f} names a layer kind or a function on its line '# refuse: <name>'`).toBe(true);
        const unsupported = { unsupported: `${kind} is not in the PyTorch trainer yet` };
        if (kind in PY_LAYERS) table = { ...PY_LAYERS, [kind]: unsupported } as PyLayerTable;
        else functions = { ...PY_FUNCTIONS, [kind]: unsupported } as PyFunctionTable;
      } else {
        expect(compileText(text, file, { target: "pytorch" }).code, `${f} has no '# refuse: <kind>' line, so the PyTorch target must refuse it`).toBeNull();
      }
      const { program } = checkText(text, file);
      const diags = refusalDiagnostics(pyRefusals(program!, table, functions), text, file);
      expect(diags.length).toBeGreaterThan(0);
      const src = new SourceText(file, text);
      const got = diags.map((d) => formatDiagnostic(d, (x) => (x === file ? src : undefined))).join("\n\n") + "\n";
      const baseline = path.join(DIR, `${f}.errors.txt`);
      if (UPDATE) fs.writeFileSync(baseline, got);
      expect(got).toBe(fs.readFileSync(baseline, "utf8"));
      expect(got).toMatch(/^error\[E0240\]/);
    });
  }

  it("the tables refuse nothing: every layer kind and function of the language runs on the PyTorch target", () => {
    const refused = [
      ...Object.entries(PY_LAYERS).filter(([, e]) => "unsupported" in e).map(([k]) => `layer ${k}`),
      ...Object.entries(PY_FUNCTIONS).filter(([, e]) => typeof e !== "function").map(([k]) => `function ${k}`),
    ];
    expect(refused).toEqual([]);
    // StyleGAN2's weight modifiers were refused through a layer's own check: none is left.
    const text = fs.readFileSync(path.join(DIR, "stylegan-pieces.gan"), "utf8");
    expect(pyRefusals(checkText(text, "stylegan-pieces.gan").program!)).toEqual([]);
  });

  it("a refused layer inside a block instance points at each instance's line, with a note inside the block", () => {
    const file = "test/errors/pytorch/in-block.gan";
    const text = fs.readFileSync(path.join(DIR, "in-block.gan"), "utf8");
    const lines = text.split("\n");
    const lineOf = (s: string) => lines.findIndex((l) => l.includes(s)) + 1;
    const table = { ...PY_LAYERS, avgpool: { unsupported: "refused" } } as PyLayerTable;
    const r = pyRefusals(checkText(text, file).program!, table, PY_FUNCTIONS);
    expect(r.map((x) => [x.line, x.note?.line])).toEqual([
      [lineOf("Down(4)"), lineOf("avgpool 2")],
      [lineOf("Down(8)"), lineOf("avgpool 2")],
    ]);
  });

  it("an unknown --target is a usage error that names the targets", () => {
    const r = ganc(["compile", "specs/ring8.gan", "--target", "jax"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("--target must be tfjs or pytorch, got 'jax'");
  });
});
