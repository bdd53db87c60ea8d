import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import schema from "../../grammar/gan.schema.json" with { type: "json" };
import { stripSpans, type Decl, type Spec } from "../../src/parser/ast.ts";
import { SourceText, type Diagnostic } from "../../src/parser/diagnostics.ts";
import { parseDsl } from "../../src/parser/dsl/index.ts";
import { parseSpec } from "../../src/parser/index.ts";
import { DATA_SOURCES, LAYERS, LAYER_ALIASES, NOISE_DISTS, OPTIMIZERS, TRAIN_SETTINGS } from "../../src/parser/signatures.ts";
import { parseYamlSpec } from "../../src/parser/yaml/load.ts";

const SPECS = join(import.meta.dirname, "../../specs");
const FILE = "t.gan.yaml";

/**
 * What "the same spec" means across the two forms: equal ASTs without spans, after a stable sort of the
 * declarations by kind and then name. The `.gan` form may interleave declarations (a value between two losses)
 * where YAML groups them by section; the order of declarations carries no meaning (the checker resolves values
 * in dependency order), while the order inside a declaration (layers, arguments, the actions after one step) does
 * and is kept.
 */
const KIND_ORDER: readonly Decl["kind"][] = ["Data", "Noise", "Net", "Value", "Loss", "State", "Step", "After", "Train"];

function declKey(d: Decl): string {
  if (d.kind === "After") return d.step.name;
  if (d.kind === "Train") return "";
  return d.name.name;
}

function normalize(spec: Spec): unknown {
  const decls = [...spec.decls].sort((a, b) => {
    const k = KIND_ORDER.indexOf(a.kind) - KIND_ORDER.indexOf(b.kind);
    if (k !== 0) return k;
    const x = declKey(a);
    const y = declKey(b);
    return x < y ? -1 : x > y ? 1 : 0;
  });
  return stripSpans({ ...spec, decls });
}

function parseBoth(gan: string, yaml: string): { dsl: Spec; yaml: Spec } {
  const d = parseDsl(gan, "t.gan");
  const y = parseYamlSpec(yaml, FILE);
  expect(d.diagnostics).toEqual([]);
  expect(y.diagnostics).toEqual([]);
  return { dsl: d.value!, yaml: y.value! };
}

/** The one diagnostic of `text`, as code, 1-based line and column of its start, and message. */
function only(text: string): { code: string; line: number; column: number; message: string; diag: Diagnostic } {
  const r = parseYamlSpec(text, FILE);
  expect(r.value).toBeNull();
  expect(r.diagnostics.map((d) => `${d.code} ${d.message}`)).toHaveLength(1);
  const d = r.diagnostics[0]!;
  const p = new SourceText(FILE, text).position(d.span.start);
  return { code: d.code, line: p.line, column: p.column, message: d.message, diag: d };
}

/** 1-based line and column of the first `needle` in `text` (after `from`), for asserting positions without counting. */
function where(text: string, needle: string, from = 0): { line: number; column: number } {
  const at = text.indexOf(needle, from);
  if (at < 0) throw new Error(`'${needle}' not in text`);
  return new SourceText(FILE, text).position(at);
}

const seed = readFileSync(join(SPECS, "gan.gan.yaml"), "utf8");

/** The seed spec with one edit; fails loudly if the edit does not apply, so a changed seed cannot void a test. */
function edit(from: string, to: string, text = seed): string {
  expect(text).toContain(from);
  return text.replace(from, to);
}

describe("both forms of every spec in specs/", () => {
  const files = readdirSync(SPECS);
  const yamls = files.filter((f) => f.endsWith(".gan.yaml"));

  it("has YAML twins to compare", () => {
    expect(yamls.length).toBeGreaterThan(0);
  });

  for (const y of yamls) {
    const gan = y.replace(/\.yaml$/, "");
    it(`${y} means what ${gan} means`, () => {
      expect(files).toContain(gan);
      const yamlText = readFileSync(join(SPECS, y), "utf8");
      const a = parseSpec(readFileSync(join(SPECS, gan), "utf8"), join("specs", gan));
      const b = parseSpec(yamlText, join("specs", y));
      expect(a.diagnostics).toEqual([]);
      expect(b.diagnostics).toEqual([]);
      expect(normalize(b.spec!)).toEqual(normalize(a.spec!));
      expect(yamlText.split(/\r?\n/)[0]).toBe("# yaml-language-server: $schema=../grammar/gan.schema.json");
    });
  }
});

describe("YAML constructs give the AST of their .gan spelling", () => {
  const gan = `gan "mix"
data real: mnist(batch=32, path="data/mnist dir", limit=1000)
noise z: normal(0, 1, [16])
noise c: categorical(10)
net G(z, c) {
  concat(c)
  dense 7*7*16 init=normal(0, 0.02) bias=false
  reshape [7, 7, 16]
  conv2dTranspose(filters=1, k=4, s=2, padding=same) -> img
  tanh
}
net D(x) { flatten, dense 1 sn=true -> logit }
state k = 0
fake = G(z, c)
loss d = mean(D(fake).logit) - mean(D(real).logit)
loss g = -mean(D(fake).logit)
step d: rmsprop(lr=5e-5) minimize d over D shared
step g: momentum minimize g over G, D
after d: clip_weights(D, -0.01, 0.01)
after d: k = clip(k + 0.001 * (0.75 * d - g), 0, 1)
train { steps=100, schedule=[5*d, g], log=[k], ema=0.999 }
`;
  const yaml = `gan: mix
data:
  real: { source: mnist, batch: 32, path: data/mnist dir, limit: "1000" }
noise:
  z: { dist: normal, mean: 0, std: 1, shape: [16] }
  c: { dist: categorical, classes: 10 }
nets:
  G:
    inputs: [z, c]
    layers:
      - concat: { inputs: [c] }
      - dense: { units: 7*7*16, init: "normal(0, 0.02)", bias: false }
      - reshape: { shape: [7, 7, 16] }
      - conv2dTranspose: { filters: 1, k: 4, s: 2, padding: same, tap: img }
      - tanh:
  D:
    inputs: x
    layers: [flatten, "dense 1 sn=true -> logit"]
states: { k: 0 }
values: { fake: "G(z, c)" }
losses:
  d: mean(D(fake).logit) - mean(D(real).logit)
  g: -mean(D(fake).logit)
steps:
  d: { optimizer: { rmsprop: { lr: 5.0e-5 } }, minimize: d, over: D, shared: true }
  g: { optimizer: momentum, minimize: g, over: [G, D] }
after:
  d:
    - clip_weights(D, -0.01, 0.01)
    - "k = clip(k + 0.001 * (0.75 * d - g), 0, 1)"
train: { steps: 100, schedule: [5*d, g], log: [k], ema: 0.999 }
`;

  it("binds positional args, keeps aliases and literal paths, and splits state updates", () => {
    const { dsl, yaml: y } = parseBoth(gan, yaml);
    expect(normalize(y)).toEqual(normalize(dsl));
  });

  it("keeps the order of the YAML file for declarations", () => {
    const { yaml: y } = parseBoth(gan, yaml);
    expect(y.decls.map((d) => d.kind)).toEqual(["Data", "Noise", "Noise", "Net", "Net", "State", "Value", "Loss", "Loss", "Step", "Step", "After", "After", "Train"]);
  });

  it("gives spans inside the file: a layer-string argument, an assignment target, an object-form key", () => {
    const { yaml: y } = parseBoth(gan, yaml);
    const src = new SourceText(FILE, yaml);
    const D = y.decls.find((d) => d.kind === "Net" && d.name.name === "D")!;
    const dense = D.kind === "Net" ? D.layers[1]! : null;
    expect(src.position(dense!.tap!.span.start)).toEqual(where(yaml, "logit\"]"));
    const k = y.decls.find((d) => d.kind === "After" && d.target)!;
    expect(k.kind === "After" && src.position(k.target!.span.start)).toEqual(where(yaml, "k = clip"));
    expect(k.kind === "After" && yaml.slice(k.expr.span.start, k.expr.span.end)).toBe("clip(k + 0.001 * (0.75 * d - g), 0, 1)");
    const tanh = y.decls.find((d) => d.kind === "Net")!;
    expect(tanh.kind === "Net" && yaml.slice(tanh.layers[4]!.op.span.start, tanh.layers[4]!.op.span.end)).toBe("tanh");
  });

  it("follows aliases: a shared layer list means the same as writing it twice", () => {
    const twice = parseYamlSpec(edit("      - sigmoid\n", "      - sigmoid\n  E:\n    inputs: [z]\n    layers: [\"dense 3\", relu]\n"), FILE);
    const aliased = parseYamlSpec(
      edit("      - sigmoid\n", "      - sigmoid\n  E:\n    inputs: [z]\n    layers: *l\n", edit("  G:\n    inputs: [z]\n    layers:\n", "  G:\n    inputs: [z]\n    layers: &l\n")),
      FILE,
    );
    expect(twice.diagnostics).toEqual([]);
    expect(aliased.diagnostics).toEqual([]);
    // G's layers are the anchored list in both; E's are G's in the aliased form.
    const G = (s: Spec) => stripSpans(s.decls.find((d) => d.kind === "Net" && d.name.name === "G"));
    const E = (s: Spec) => s.decls.find((d) => d.kind === "Net" && d.name.name === "E");
    expect(G(aliased.value!)).toEqual(G(twice.value!));
    const e = E(aliased.value!)!;
    expect(e.kind === "Net" && stripSpans(e.layers)).toEqual(stripSpans((G(twice.value!) as { layers: unknown }).layers));
  });
});

describe("YAML diagnostics", () => {
  it("reports a YAML syntax error where the parser found it", () => {
    const text = "data:\n  real: { source: mnist, batch: 64\nnets: {}\n";
    const d = only(text);
    expect(d.code).toBe("E0601");
    expect([d.line, d.column]).toEqual([3, 1]);
    expect(d.message).toMatch(/YAML syntax error: flow map .* end with a \}/);
  });

  it("reports bad indentation as a syntax error on its line", () => {
    const d = only("data:\n  real:\n    source: mnist\n   batch: 64\n");
    expect([d.code, d.line, d.column]).toEqual(["E0601", 4, 1]);
  });

  it("refuses more than one document", () => {
    const d = only("a: 1\n---\nb: 2\n");
    expect([d.code, d.line, d.column]).toEqual(["E0601", 2, 1]);
    expect(d.message).toMatch(/multiple documents/);
  });

  it("reports a duplicate key at the second one, with a note at the first", () => {
    const text = edit("  d: d_real + d_fake\n", "  d: d_real + d_fake\n  d: d_real\n");
    const d = only(text);
    expect(d.code).toBe("E0602");
    expect(d.message).toBe("duplicate key 'd'");
    expect({ line: d.line, column: d.column }).toEqual(where(text, "d: d_real\n"));
    const note = new SourceText(FILE, text).position(d.diag.notes[0]!.span.start);
    expect(note).toEqual(where(text, "d: d_real + d_fake"));
  });

  it("reports an unknown key at the key, with did-you-mean from the keys allowed there", () => {
    const text = edit("sample_every: 300", "sample_evry: 300");
    const d = only(text);
    expect(d.code).toBe("E0610");
    expect(d.message).toBe("unknown key 'sample_evry' in 'train'; did you mean 'sample_every'?");
    expect({ line: d.line, column: d.column }).toEqual(where(text, "sample_evry"));
  });

  it("checks the arguments of a data source against that source's parameters", () => {
    const text = edit("batch: 64", "batchs: 64");
    const d = only(text);
    expect(d.code).toBe("E0610");
    expect(d.message).toBe("unknown key 'batchs' in data 'real'; did you mean 'batch'?");
    expect({ line: d.line, column: d.column }).toEqual(where(text, "batchs"));
    // `count` belongs to the toy sources, not to mnist.
    const e = only(edit("batch: 64", "batch: 64, count: 10"));
    expect(e.message).toBe("unknown key 'count' in data 'real' (expected source, batch, path, limit)");
  });

  it("names unknown layers and optimizers as such", () => {
    const layer = edit("{ deconv: {", "{ deconv2: {");
    const d = only(layer);
    expect([d.code, d.message]).toEqual(["E0610", "unknown layer 'deconv2'; did you mean 'deconv'?"]);
    expect({ line: d.line, column: d.column }).toEqual(where(layer, "deconv2"));
    const opt = edit("{ adam: { lr: 1.0e-3", "{ adm: { lr: 1.0e-3");
    const o = only(opt);
    expect([o.code, o.message]).toEqual(["E0610", "unknown optimizer 'adm'; did you mean 'adam'?"]);
    expect({ line: o.line, column: o.column }).toEqual(where(opt, "adm"));
    const named = edit("optimizer: { adam: { lr: 1.0e-3, beta1: 0.5 } }", "optimizer: adamw");
    const n = only(named);
    expect([n.code, n.message]).toEqual(["E0613", "unknown optimizer 'adamw'; did you mean 'adam'?"]);
    expect({ line: n.line, column: n.column }).toEqual(where(named, "adamw"));
  });

  it("reports a wrong type at the value", () => {
    const text = edit("over: [D] }", 'over: [D], shared: "yes" }');
    const d = only(text);
    expect(d.code).toBe("E0611");
    expect(d.message).toBe("'shared' of step 'd' must be true or false, got the string 'yes'");
    expect({ line: d.line, column: d.column }).toEqual(where(text, '"yes"'));
  });

  it("reports a layer item that is neither a string nor a mapping", () => {
    const text = edit("      - sigmoid\n", "      - 5\n");
    const d = only(text);
    expect(d.code).toBe("E0611");
    expect(d.message).toBe("layer 12 of net 'G' must be a string or a mapping, got the number 5");
    expect({ line: d.line, column: d.column }).toEqual(where(text, "5\n", text.indexOf("      - 5")));
  });

  it("refuses .inf and .nan", () => {
    const text = edit("high: 1", "high: .inf");
    const d = only(text);
    expect([d.code, d.message]).toEqual(["E0611", "'high' of noise 'z' must be a finite number, got .inf"]);
    expect({ line: d.line, column: d.column }).toEqual(where(text, ".inf"));
  });

  it("reports a missing required key at the key of the incomplete mapping", () => {
    const text = edit("minimize: d, ", "");
    const d = only(text);
    expect(d.code).toBe("E0612");
    expect(d.message).toBe("step 'd' is missing 'minimize' (the loss minimized)");
    expect({ line: d.line, column: d.column }).toEqual(where(text, "d: { optimizer"));
  });

  it("reports the keys missing from the top level together, at the document's start", () => {
    const d = only("gan: x\n");
    expect([d.code, d.line, d.column]).toEqual(["E0612", 1, 1]);
    expect(d.message).toBe("the spec is missing 'data', 'nets', 'losses' and 'steps'");
  });

  it("reports an invalid name at the key", () => {
    const text = edit("fake: G(z)", "2fake: G(z)");
    const d = only(text);
    expect(d.code).toBe("E0614");
    expect(d.message).toMatch(/^'2fake' is not a valid name in 'values'/);
    expect({ line: d.line, column: d.column }).toEqual(where(text, "2fake"));
  });

  it("reports an expression error inside a double-quoted string at its column in the string", () => {
    const text = edit("d: d_real + d_fake", 'd: "d_real + * d_fake"');
    const d = only(text);
    expect(d.code).toBe("E0002");
    expect(d.message).toBe("expected an expression, found '*'");
    expect({ line: d.line, column: d.column }).toEqual(where(text, "* d_fake"));
  });

  it("places errors exactly in plain, single-quoted and one-line block scalars too", () => {
    for (const written of ["d: d_real + * d_fake", "d: 'd_real + * d_fake'", "d: |\n    d_real + * d_fake", "d: >- # a comment + * here\n    d_real + * d_fake"]) {
      const text = edit("d: d_real + d_fake", written);
      const d = only(text);
      expect(d.code).toBe("E0002");
      expect({ line: d.line, column: d.column }).toEqual(where(text, "* d_fake"));
    }
  });

  it("keeps an error in a string with escapes inside the string (best effort)", () => {
    const text = edit("d: d_real + d_fake", 'd: "d_\\u0072eal + * d_fake"');
    const d = only(text);
    expect(d.code).toBe("E0002");
    const open = text.indexOf('"d_\\u0072');
    expect(d.diag.span.start).toBeGreaterThan(open);
    expect(d.diag.span.end).toBeLessThanOrEqual(text.indexOf('"', open + 1));
  });

  it("reports an error in a layer string at its column, and says one item is one layer", () => {
    const text = edit("      - flatten\n", "      - flatten, dense 3\n");
    const d = only(text);
    expect(d.code).toBe("E0002");
    expect(d.message).toMatch(/each item of a layer list is one layer/);
    expect({ line: d.line, column: d.column }).toEqual(where(text, "dense 3"));
  });

  it("reports an error in the expression of a state update after its target", () => {
    const text = edit("train:\n", 'states: { k: 0 }\nafter:\n  d: ["k = k +"]\ntrain:\n');
    const d = only(text);
    expect(d.code).toBe("E0002");
    const p = where(text, '"]');
    expect([d.line, d.column]).toEqual([p.line, p.column]);
  });

  it("reports every bad expression string, not just the first", () => {
    const text = edit("fake: G(z)", "fake: G(z").replace("d: d_real + d_fake", "d: d_real +");
    const r = parseYamlSpec(text, FILE);
    expect(r.value).toBeNull();
    expect(r.diagnostics.map((d) => d.code)).toEqual(["E0002", "E0002"]);
  });

  it("stops after the stage that found errors", () => {
    // A schema error and an expression error: only the schema error is reported.
    const schemaAndExpr = edit("sample_every: 300", "sample_evry: 300").replace("d: d_real + d_fake", "d: d_real + * d_fake");
    expect(parseYamlSpec(schemaAndExpr, FILE).diagnostics.map((d) => d.code)).toEqual(["E0610"]);
    // A syntax error and a schema error: only the syntax error.
    const syntaxAndSchema = edit("sample_every: 300", "sample_evry: 300").replace("schedule: [d, g]", "schedule: [d, g");
    const codes = parseYamlSpec(syntaxAndSchema, FILE).diagnostics.map((d) => d.code);
    expect(codes.length).toBeGreaterThan(0);
    expect(codes.every((c) => c === "E0601")).toBe(true);
  });

  it("refuses an alias bomb without expanding it", () => {
    const text = [
      "a: &a [x, x, x, x, x, x, x, x, x]",
      "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]",
      "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]",
      "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]",
      "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]",
      "f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]",
      "g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]",
      "h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g]",
      "i: &i [*h, *h, *h, *h, *h, *h, *h, *h, *h]",
      "",
    ].join("\n");
    const t0 = Date.now();
    const d = only(text);
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(d.code).toBe("E0607");
    expect(d.message).toMatch(/aliases expand to too many nodes/);
    expect([d.line, d.column]).toEqual([2, 8]);
  });

  it("refuses an alias inside the node it refers to", () => {
    const d = only("data: &a { real: *a }\n");
    expect([d.code, d.line, d.column]).toEqual(["E0603", 1, 18]);
    expect(d.message).toMatch(/refers to a node that contains it/);
  });

  it("refuses a list or a mapping as a key", () => {
    const text = edit("  fake: G(z)\n", "  fake: G(z)\n  ? [a, b]\n  : 1\n");
    const d = only(text);
    expect([d.code, d.message]).toEqual(["E0606", "a key must be a plain name, not a list or a mapping"]);
    expect({ line: d.line, column: d.column }).toEqual(where(text, "[a, b]"));
  });

  it("says what is wrong with a list, a scalar or an empty document", () => {
    const list = only("- data\n- nets\n");
    expect([list.code, list.line, list.column]).toEqual(["E0605", 1, 1]);
    expect(list.message).toMatch(/not a list$/);
    const scalar = only("\n\nhello\n");
    expect([scalar.code, scalar.line, scalar.column]).toEqual(["E0605", 3, 1]);
    expect(scalar.message).toMatch(/not a single value$/);
    for (const empty of ["", "\n", "# only a comment\n", "---\n", "\uFEFF"]) {
      const d = only(empty);
      expect([d.code, d.line, d.column]).toEqual(["E0604", 1, 1]);
    }
  });

  it("keeps positions right in a file with a BOM and CRLF line ends", () => {
    const crlf = "\uFEFF" + seed.replace(/\r?\n/g, "\r\n");
    // The same AST as the LF file...
    const ok = parseYamlSpec(crlf, FILE);
    expect(ok.diagnostics).toEqual([]);
    expect(stripSpans(ok.value)).toEqual(stripSpans(parseYamlSpec(seed, FILE).value));
    // ...and its spans point at the same text.
    const fake = ok.value!.decls.find((d) => d.kind === "Value")!;
    expect(fake.kind === "Value" && crlf.slice(fake.expr.span.start, fake.expr.span.end)).toBe("G(z)");
    // Errors of every stage land on the line and column an editor shows.
    const lines = crlf.split("\r\n");
    const lineOf = (needle: string) => lines.findIndex((l) => l.includes(needle)) + 1;
    const expr = only(crlf.replace("d: d_real + d_fake", 'd: "d_real + * d_fake"'));
    expect([expr.code, expr.line, expr.column]).toEqual(["E0002", lineOf("d: d_real + d_fake"), '  d: "d_real + '.length + 1]);
    const schemaErr = only(crlf.replace("sample_every", "sample_evry"));
    expect([schemaErr.code, schemaErr.line, schemaErr.column]).toEqual(["E0610", lineOf("sample_every"), 3]);
    const block = only(crlf.replace("d: d_real + d_fake", "d: |\r\n    d_real + * d_fake"));
    expect([block.code, block.line, block.column]).toEqual(["E0002", lineOf("d: d_real + d_fake") + 1, "    d_real + ".length + 1]);
    // The first key sits right after the BOM: column 1.
    const first = only("\uFEFFgann: x\r\n" + crlf.slice(1));
    expect(first.code).toBe("E0610");
    expect([first.line, first.column]).toEqual([1, 1]);
  });
});

describe("robustness", () => {
  it("never throws on edited specs: a value, or errors with spans inside the file", () => {
    const pieces = ["", " ", "\n", ":", "-", "[", "]", "{", "}", ",", "*", "&a ", "*a", "'", '"', "#", "|", "x", "1", ".inf", "null", "true", "\t", "\r\n", "\uFEFF", "? ", "{a: 1}", "!!str ", "\\u0041", "->"];
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(seed.length), fc.nat(8), fc.constantFrom(...pieces)), { minLength: 1, maxLength: 4 }), (edits) => {
        let text = seed;
        for (const [at, cut, put] of edits) text = text.slice(0, at % (text.length + 1)) + put + text.slice((at % (text.length + 1)) + cut);
        const r = parseYamlSpec(text, FILE);
        if (r.value === null) expect(r.diagnostics.some((d) => d.severity === "error")).toBe(true);
        for (const d of r.diagnostics) {
          expect(d.span.start).toBeGreaterThanOrEqual(0);
          expect(d.span.end).toBeLessThanOrEqual(text.length);
          expect(d.span.start).toBeLessThanOrEqual(d.span.end);
        }
      }),
      { numRuns: 400, seed: 7 },
    );
  });
});

describe("the schema", () => {
  type S = { description?: string; properties?: Record<string, S | boolean>; additionalProperties?: S | boolean; definitions?: Record<string, S> };
  const root = schema as unknown as S;
  const props = (s: S | undefined) => Object.keys(s?.properties ?? {});
  const named = (section: string) => (root.properties![section] as S).additionalProperties as S;

  it("describes every field", () => {
    const missing: string[] = [];
    const walk = (s: S | boolean | undefined, path: string) => {
      if (!s || typeof s !== "object") return;
      for (const [k, v] of Object.entries(s.properties ?? {})) {
        // `true` marks a key allowed in an if/then branch; its description is on the key's main schema.
        if (typeof v === "object" && !v.description) missing.push(`${path}.${k}`);
        walk(v, `${path}.${k}`);
      }
      if (typeof s.additionalProperties === "object") {
        if (!s.additionalProperties.description) missing.push(`${path}.*`);
        walk(s.additionalProperties, `${path}.*`);
      }
      for (const [k, v] of Object.entries(s as Record<string, unknown>)) {
        if (["allOf", "then", "else"].includes(k)) for (const sub of [v].flat()) walk(sub as S, `${path}/${k}`);
      }
    };
    walk(root, "");
    for (const [k, v] of Object.entries(root.definitions ?? {})) {
      if (!v.description) missing.push(`#${k}`);
      walk(v, `#${k}`);
    }
    expect(missing).toEqual([]);
  });

  it("lists exactly the parameters of signatures.ts", () => {
    const layer = (root.definitions!.layer as { then: S }).then;
    expect(props(layer).sort()).toEqual([...Object.keys(LAYERS), ...Object.keys(LAYER_ALIASES)].sort());
    for (const [name, sigName] of [...Object.keys(LAYERS).map((n) => [n, n]), ...Object.entries(LAYER_ALIASES)] as [string, string][]) {
      const sig = LAYERS[sigName]!;
      const want = [...sig.params.map((p) => p.replace("...", "")), ...Object.keys(sig.aliases ?? {}), "tap", "when"]; // tap and when (block flags) go with every layer
      expect(props(layer.properties![name] as S).sort(), name).toEqual(want.sort());
    }
    const opt = (((named("steps").properties!.optimizer as S) as { else: S }).else);
    expect(props(opt).sort()).toEqual(Object.keys(OPTIMIZERS).sort());
    for (const [name, sig] of Object.entries(OPTIMIZERS)) expect(props(opt.properties![name] as S).sort(), name).toEqual([...sig.params].sort());
    const branches = (section: string) => (named(section) as { allOf: { if: { properties: Record<string, { const: string }> }; then: S }[] }).allOf;
    for (const [section, sel, table] of [["data", "source", DATA_SOURCES], ["noise", "dist", NOISE_DISTS]] as const) {
      const all = branches(section);
      expect(all.map((b) => b.if.properties[sel]!.const).sort()).toEqual(Object.keys(table).sort());
      for (const b of all) expect(props(b.then).sort()).toEqual([sel, ...table[b.if.properties[sel]!.const]!.params].sort());
    }
    expect(props(root.properties!.train as S).sort()).toEqual(Object.keys(TRAIN_SETTINGS).sort());
  });
});
