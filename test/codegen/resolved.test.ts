import * as fs from "node:fs";
import * as path from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { compileText, resolvedText } from "../../src/compile.ts";
import { parseSpec } from "../../src/parser/index.ts";
import { printYaml } from "../../src/parser/print.ts";

/**
 * `ganc check --resolved` prints a spec: in the input's form, checking clean, compiling to the same
 * trainer as the input, and printing to itself when resolved again.
 */
const root = path.resolve(__dirname, "../..");
const files = [
  ...fs.readdirSync(path.join(root, "specs")).map((f) => path.join("specs", f)),
  ...fs.readdirSync(path.join(root, "test/fixtures")).map((f) => path.join("test/fixtures", f)),
]
  .filter((f) => /\.gan(\.yaml)?$/.test(f))
  .sort();

/**
 * The trainer, less the hash of the spec's text (two texts, two hashes; everything else must agree), and
 * the diagnostics (a warning of the spec is one of its resolved form too).
 */
function trainer(text: string, file: string): { code: string; diagnostics: string[] } {
  const r = compileText(text, path.join(root, file), { source: file });
  const diagnostics = r.diagnostics.map((d) => `${d.severity} ${d.code} ${d.message}`);
  expect(r.code, `${file}:\n${text}\n${diagnostics.join("\n")}`).not.toBeNull();
  return { code: r.code!.replace(/^ {2}hash: "[0-9a-f]+",$/m, '  hash: "-",'), diagnostics };
}

function checkResolved(text: string, file: string): string {
  const resolved = resolvedText(text, path.join(root, file));
  expect(resolved, `${file} does not check`).not.toBeNull();
  expect(trainer(resolved!, file)).toEqual(trainer(text, file));
  expect(resolvedText(resolved!, path.join(root, file))).toBe(resolved);
  return resolved!;
}

describe("the resolved spec", () => {
  it.each(files)("%s: resolved checks clean, compiles to the same trainer and resolves to itself", (file) => {
    checkResolved(fs.readFileSync(path.join(root, file), "utf8"), file);
  });

  it("writes every default the trainer uses, in the language's names, with shapes as comments", () => {
    const r = checkResolved(fs.readFileSync(path.join(root, "specs/gan.gan"), "utf8"), "specs/gan.gan");
    expect(r).toMatch(/^net G\(z\) \{ +# z: \[62\] -> \[28, 28, 1\]$/m);
    expect(r).toMatch(/deconv 64 kernel=4 stride=2 padding=same init=normal\(0, 0\.02\) bias=true sn=false/);
    expect(r).toMatch(/eval_every=0, eval_count=1000, histogram_every=300/);
    expect(r).not.toMatch(/kernelSize/);
    const yaml = checkResolved(fs.readFileSync(path.join(root, "specs/gan.gan.yaml"), "utf8"), "specs/gan.gan.yaml");
    expect(yaml).toMatch(/^ {2}histogram_every: 300$/m);
  });

  it("keeps every line where the source had it: no `gan` line, a net on one line, layers sharing lines", () => {
    const text = [
      "data real: ring8(batch=32)",
      "noise z: normal(shape=[2])",
      "net G(z) { dense 16, relu, dense 2 }",
      "net D(x) { dense 16, relu",
      "  dense 1 }",
      "fake = G(z)",
      "loss d = bce_logits(D(real), ones) +",
      "  bce_logits(D(fake), zeros)",
      "loss g = bce_logits(D(fake), ones)",
      "step d: adam minimize d over D",
      "step g: adam minimize g over G",
      "",
    ].join("\n");
    const r = checkResolved(text, "one-line.gan");
    expect(r.split("\n")[2]).toMatch(/^net G\(z\) \{ dense 16 .* \}   # z: \[2\] -> \[2\]; dense1: \[16\]/);
    expect(r.split("\n")[8]).toMatch(/^loss g = /);
    expect(r).not.toMatch(/^gan /m);
  });

  it("keeps what the checker reads from arguments for generated variations of a spec", () => {
    const spec = fc.record({
      units: fc.integer({ min: 1, max: 64 }),
      decay: fc.constantFrom("", " decay=0.5", " decay=0.99"),
      alpha: fc.constantFrom("", " 0.1", " alpha=0.3"),
      sn: fc.constantFrom("", " sn=true", " sn=false"),
      bias: fc.constantFrom("", " bias=false"),
      padding: fc.constantFrom("", " padding=valid", " padding=same"),
      stride: fc.constantFrom("", " stride=2"),
      init: fc.constantFrom("", " init=glorot", " init=uniform(-0.1, 0.1)", " init=normal(0.5, 2)"),
      opt: fc.constantFrom("adam", "adam(lr=1e-3, beta1=0.5)", "rmsprop", "sgd(lr=0.1, clipnorm=1)", "momentum(nesterov=true, decay=staircase)", "adam(decay=linear, clipvalue=0.5)"),
      noise: fc.constantFrom("uniform(-1, 1, [8])", "normal(0, 0.5, [8])", "normal(shape=[8])", "uniform(shape=[8], high=2)"),
      train: fc.constantFrom("", "steps=10", "eval_every=50, eval_count=100", "ema=0.99", "histogram_every=0, sample_every=7", "checkpoint_every=20, keep_checkpoints=1, seed=5"),
      form: fc.constantFrom("gan", "yaml"),
    });
    fc.assert(
      fc.property(spec, (s) => {
        const dsl = `gan "v"
data real: mnist(batch=16, limit=100)
noise z: ${s.noise}
net G(z) {
  dense ${s.units}${s.sn}${s.bias}${s.init}, batchnorm${s.decay}, relu
  dense 784, sigmoid, reshape [28, 28, 1]
}
net D(x) {
  conv 8 kernel=3${s.stride}${s.padding}${s.sn}${s.bias}${s.init}, lrelu${s.alpha}
  flatten
  dropout, dense 1 -> logit
}
fake = G(z)
loss d = bce_logits(D(real).logit, ones) + bce_logits(D(fake).logit, zeros)
loss g = bce_logits(D(fake).logit, ones)
step d: ${s.opt} minimize d over D
step g: ${s.opt} minimize g over G
${s.train ? `train { ${s.train} }` : ""}
`;
        if (s.form === "gan") return void checkResolved(dsl, "v.gan");
        // The YAML form of the same spec, through `ganc convert`'s printer.
        checkResolved(printYaml(parseSpec(dsl, "v.gan").spec!), "v.gan.yaml");
      }),
      { numRuns: 40 },
    );
  });
});
