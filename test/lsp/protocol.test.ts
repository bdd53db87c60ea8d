/**
 * `ganc lsp` driven as an editor drives it: a child process spoken to in JSON-RPC over stdio. One session
 * opens the seed spec, breaks and fixes it with edits, and asks for hover, completion, definition,
 * references, rename, the outline and quick fixes; then shuts the server down.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ROOT } from "../helpers.ts";
import { formatGan } from "../../src/format/index.ts";
import { TestClient, uriOf, type LspDiagnostic } from "./client.ts";

const SEED = fs.readFileSync(path.join(ROOT, "specs/gan.gan"), "utf8");
const URI = uriOf("specs/gan.gan");
let c: TestClient;
let capabilities: Record<string, unknown> = {};

beforeAll(async () => {
  c = new TestClient();
}, 120_000);
afterAll(() => c.kill());

interface Hover { contents: { kind: string; value: string }; range: LspDiagnostic["range"] }
interface Item { label: string; kind: number; textEdit?: { newText: string } }
interface Loc { uri: string; range: LspDiagnostic["range"] }
interface Edit { changes: Record<string, { range: LspDiagnostic["range"]; newText: string }[]> }

const labels = (items: Item[]) => items.map((i) => i.label);
const textAt = (r: LspDiagnostic["range"]) => {
  const d = c.doc(URI);
  return d.getText().slice(d.offsetAt(r.start), d.offsetAt(r.end));
};

describe("ganc lsp over stdio", () => {
  it("initializes with the features it serves", async () => {
    const r = await c.initialize();
    capabilities = r.capabilities;
    expect(r.capabilities.semanticTokensProvider).toMatchObject({ full: true, range: true });
    expect(r.capabilities).toMatchObject({ hoverProvider: true, definitionProvider: true, referencesProvider: true, renameProvider: { prepareProvider: true }, documentSymbolProvider: true });
    expect(r.capabilities.completionProvider).toBeDefined();
    expect(r.capabilities.codeActionProvider).toBeDefined();
  }, 120_000);

  it("opens the seed spec with no diagnostics", async () => {
    await c.open(URI, SEED);
    expect(await c.diagnostics(URI, 1)).toEqual([]);
  });

  it("an edit that breaks the spec gives the checker's diagnostic, range and code; the edit that fixes it clears it", async () => {
    const v = await c.replace(URI, "loss g = bce_logits(D(fake).logit", "loss g = bce_logits(D(fake).logits");
    const diags = await c.diagnostics(URI, v);
    expect(diags).toHaveLength(1);
    expect(diags[0]).toMatchObject({ code: "E0125", severity: 1, source: "ganc", message: "net D has no tap 'logits'; did you mean 'logit'?" });
    expect(textAt(diags[0]!.range)).toBe("logits");
    // The quick fix for "did you mean".
    const actions = await c.request<{ title: string; edit: Edit }[]>("textDocument/codeAction", { textDocument: { uri: URI }, range: diags[0]!.range, context: { diagnostics: diags } });
    expect(actions).toHaveLength(1);
    expect(actions[0]!.title).toBe("Change to 'logit'");
    expect(actions[0]!.edit.changes[URI]).toEqual([{ range: diags[0]!.range, newText: "logit" }]);
    const fixed = await c.replace(URI, "D(fake).logits", "D(fake).logit");
    expect(await c.diagnostics(URI, fixed)).toEqual([]);
  });

  it("a duplicate gives related information where the name was first declared", async () => {
    const v = await c.replace(URI, "loss g = ", "loss d = ");
    const diags = await c.diagnostics(URI, v);
    const dup = diags.find((d) => d.code === "E0120")!;
    expect(dup.message).toBe("'d' is declared twice");
    expect(dup.relatedInformation).toHaveLength(1);
    expect(dup.relatedInformation![0]!.message).toBe("first declared here");
    expect(dup.relatedInformation![0]!.location.range.start.line).toBe(c.pos(URI, "loss d = d_real").line);
    const fixed = await c.replace(URI, "loss d = bce_logits(D(fake).logit, ones)", "loss g = bce_logits(D(fake).logit, ones)");
    expect(await c.diagnostics(URI, fixed)).toEqual([]);
  });

  it("hover: a layer's shapes and variables, a net's signature, a tap's shape, a function's doc, a loss's steps", async () => {
    const hover = async (needle: string, k = 0) => (await c.request<Hover | null>("textDocument/hover", { textDocument: { uri: URI }, position: c.pos(URI, needle, k) }))?.contents.value ?? "";
    const dense = await hover("dense 1024", 2);
    expect(dense).toContain("fully connected layer");
    expect(dense).toContain("`G/dense1`: [62] → **[1024]**");
    expect(dense).toContain("`G/dense1/kernel` [62, 1024]");
    expect(await hover("D(fake).logit", 0)).toContain("net D(x: [28, 28, 1]) -> [1]");
    expect(await hover("D(fake).logit", 9)).toContain("**tap** `logit` of net `D`: [batch, 1]");
    expect(await hover("bce_logits", 3)).toContain("sigmoid cross-entropy");
    const loss = await hover("loss d =", 5);
    expect(loss).toContain("step `d` (adam) minimizes it over D");
    expect(await hover("fake =", 1)).toContain("[batch, 28, 28, 1]");
    expect(await c.request("textDocument/hover", { textDocument: { uri: URI }, position: { line: 0, character: 0 } })).toBeNull();
  });

  it("completion: layer kinds in a net, argument names after a layer, taps after '.', names in expressions, optimizers, train settings", async () => {
    const complete = (line: number, character: number) => c.request<Item[]>("textDocument/completion", { textDocument: { uri: URI }, position: { line, character } });
    const at = (needle: string, k = 0) => c.pos(URI, needle, k);
    const p = at("  dense 1024, batchnorm, relu");
    expect(labels(await complete(p.line, 2))).toEqual(expect.arrayContaining(["dense", "conv2d", "batchnorm", "deconv"]));
    const deconv = at("stride=2, batchnorm, relu", 2);
    const args = await complete(deconv.line, deconv.character);
    expect(labels(args)).toEqual(expect.arrayContaining(["filters", "kernel", "stride", "init"]));
    expect(args.find((i) => i.label === "stride")!.textEdit!.newText).toBe("stride=");
    const tap = at("D(fake).logit, ones", 8);
    expect(labels(await complete(tap.line, tap.character))).toEqual(["features", "logit", "out"]);
    const expr = at("loss d = d_real", 9);
    expect(labels(await complete(expr.line, expr.character))).toEqual(expect.arrayContaining(["d_real", "fake", "G", "D", "z", "real", "mean", "bce_logits", "ones"]));
    const opt = at("step d: adam", 8);
    expect(labels(await complete(opt.line, opt.character))).toEqual(["adam", "rmsprop", "sgd", "momentum"]);
    const optArgs = at("lr=2e-4", 0);
    expect(labels(await complete(optArgs.line, optArgs.character))).toEqual(expect.arrayContaining(["lr", "beta1", "beta2"]));
    const train = at("epochs=25", 0);
    expect(labels(await complete(train.line, train.character))).toEqual(expect.arrayContaining(["epochs", "steps", "schedule", "seed"]));
    const sched = at("schedule=[d, g]", 10);
    expect(labels(await complete(sched.line, sched.character))).toEqual(["d", "g"]);
  });

  it("definition and references of a loss, a net and a step", async () => {
    const def = await c.request<Loc[]>("textDocument/definition", { textDocument: { uri: URI }, position: c.pos(URI, "minimize d over", 9) });
    expect(def).toHaveLength(1);
    expect(textAt(def[0]!.range)).toBe("d");
    expect(def[0]!.range.start).toEqual(c.pos(URI, "loss d =", 5));
    const refs = await c.request<Loc[]>("textDocument/references", { textDocument: { uri: URI }, position: c.pos(URI, "net D(", 4), context: { includeDeclaration: true } });
    // The declaration, D(real), D(fake) twice, `over D`.
    expect(refs.map((r) => textAt(r.range))).toEqual(["D", "D", "D", "D", "D"]);
    const stepRefs = await c.request<Loc[]>("textDocument/references", { textDocument: { uri: URI }, position: c.pos(URI, "step g", 5), context: { includeDeclaration: false } });
    expect(stepRefs.map((r) => r.range.start)).toEqual([c.pos(URI, "g]", 0)]);
  });

  it("rename of a loss edits the declaration and every use (not the step of the same name); refuses keywords and collisions", async () => {
    const prep = await c.request<{ placeholder: string }>("textDocument/prepareRename", { textDocument: { uri: URI }, position: c.pos(URI, "loss d =", 5) });
    expect(prep.placeholder).toBe("d");
    const r = await c.request<Edit>("textDocument/rename", { textDocument: { uri: URI }, position: c.pos(URI, "loss d =", 5), newName: "d_total" });
    const edits = r.changes[URI]!;
    expect(edits.map((e) => e.range.start)).toEqual([c.pos(URI, "loss d =", 5), c.pos(URI, "minimize d", 9)]);
    expect(edits.every((e) => e.newText === "d_total")).toBe(true);
    await expect(c.request("textDocument/rename", { textDocument: { uri: URI }, position: c.pos(URI, "fake =", 0), newName: "loss" })).rejects.toThrow(/'loss' is a keyword/);
    await expect(c.request("textDocument/rename", { textDocument: { uri: URI }, position: c.pos(URI, "fake =", 0), newName: "d_real" })).rejects.toThrow(/'d_real' is already declared/);
    await expect(c.request("textDocument/rename", { textDocument: { uri: URI }, position: c.pos(URI, "fake =", 0), newName: "mean" })).rejects.toThrow(/built-in/);
    // Applied, the renamed spec still checks clean.
    let v = 0;
    for (const e of [...edits].reverse()) v = await c.edit(URI, c.doc(URI).offsetAt(e.range.start), c.doc(URI).offsetAt(e.range.end), e.newText);
    expect(await c.diagnostics(URI, v)).toEqual([]);
  });

  it("document symbols: nets with their layers, losses, steps", async () => {
    const syms = await c.request<{ name: string; detail?: string; children?: { name: string }[] }[]>("textDocument/documentSymbol", { textDocument: { uri: URI } });
    expect(syms.map((s) => s.name)).toEqual(["real", "z", "G", "D", "fake", "d_real", "d_fake", "d_total", "g", "d", "g", "train"]);
    const d = syms.find((s) => s.name === "D")!;
    expect(d.detail).toBe("(x) -> [1]");
    expect(d.children!.map((l) => l.name)).toEqual(["conv", "lrelu", "conv", "batchnorm", "lrelu", "flatten", "dense", "batchnorm", "lrelu -> features", "dense -> logit"]);
  });

  it("a request about a document it was never sent answers empty", async () => {
    const other = uriOf("specs/nowhere.gan");
    expect(await c.request("textDocument/hover", { textDocument: { uri: other }, position: { line: 0, character: 0 } })).toBeNull();
    expect(await c.request("textDocument/completion", { textDocument: { uri: other }, position: { line: 0, character: 0 } })).toEqual([]);
  });

  it("YAML: diagnostics, hover, completion through the same tables, and rename across keys and expression strings", async () => {
    const uri = uriOf("specs/gan.gan.yaml");
    const text = fs.readFileSync(path.join(ROOT, "specs/gan.gan.yaml"), "utf8");
    await c.open(uri, text);
    expect(await c.diagnostics(uri, 1)).toEqual([]);
    const d = c.doc(uri);
    const hv = await c.request<Hover>("textDocument/hover", { textDocument: { uri }, position: d.positionAt(text.indexOf("- dense 1024") + 3) });
    expect(hv.contents.value).toContain("`G/dense1`: [62] → **[1024]**");
    const src = d.positionAt(text.indexOf("source: mnist") + "source: ".length);
    expect(labels(await c.request<Item[]>("textDocument/completion", { textDocument: { uri }, position: src }))).toEqual(expect.arrayContaining(["mnist", "cifar10", "ring8"]));
    const layer = d.positionAt(text.indexOf("- batchnorm") + 2);
    expect(labels(await c.request<Item[]>("textDocument/completion", { textDocument: { uri }, position: layer }))).toEqual(expect.arrayContaining(["dense", "conv2d", "batchnorm"]));
    const v = await c.replace(uri, "source: mnist", "source: mnst");
    const diags = await c.diagnostics(uri, v);
    expect(diags).toHaveLength(1);
    expect(diags[0]!.message).toMatch(/did you mean 'mnist'/);
    const fixed = await c.replace(uri, "source: mnst", "source: mnist");
    expect(await c.diagnostics(uri, fixed)).toEqual([]);
    // Rename in YAML: the key that declares the net and every use, inside expression strings too.
    const r = await c.request<Edit>("textDocument/rename", { textDocument: { uri }, position: c.doc(uri).positionAt(c.doc(uri).getText().indexOf("  D:") + 2), newName: "Disc" });
    let v2 = 0;
    for (const e of [...r.changes[uri]!].sort((a, b) => c.doc(uri).offsetAt(b.range.start) - c.doc(uri).offsetAt(a.range.start))) v2 = await c.edit(uri, c.doc(uri).offsetAt(e.range.start), c.doc(uri).offsetAt(e.range.end), e.newText);
    expect(r.changes[uri]!.length).toBe(5);
    expect(c.doc(uri).getText()).toContain("bce_logits(Disc(fake).logit, ones)");
    expect(await c.diagnostics(uri, v2)).toEqual([]);
    await c.close(uri);
  });

  it("formatting: one edit to ganc fmt's layout, none for a formatted spec, a spec that does not parse, or YAML", async () => {
    type TextEditT = { range: { start: { line: number; character: number }; end: { line: number; character: number } }; newText: string };
    const uri = uriOf("specs/messy.gan");
    const seed = fs.readFileSync(path.join(ROOT, "specs/gan.gan"), "utf8");
    // The seed spec with its layout spoiled: squeezed assignments, extra blank lines, an indented declaration.
    const messy = seed.replace("fake = G(z)", "fake=G(z)").replace("loss g =", "\n\n\n   loss   g =");
    expect(messy).not.toBe(seed);
    await c.open(uri, messy);
    const edits = await c.request<TextEditT[]>("textDocument/formatting", { textDocument: { uri }, options: { tabSize: 2, insertSpaces: true } });
    expect(edits).toHaveLength(1);
    expect(edits[0]!.range.start).toEqual({ line: 0, character: 0 });
    expect(edits[0]!.range.end).toEqual(c.doc(uri).positionAt(messy.length));
    const expected = formatGan(messy);
    expect(expected.ok).toBe(true);
    expect(edits[0]!.newText).toBe(expected.ok ? expected.text : "");
    // At most one blank line is kept, so the spoiled spec comes back as the seed plus one blank line.
    expect(edits[0]!.newText).toBe(seed.replace("loss g =", "\nloss g ="));
    const v = await c.edit(uri, 0, messy.length, edits[0]!.newText);
    expect(await c.diagnostics(uri, v)).toEqual([]);
    expect(await c.request("textDocument/formatting", { textDocument: { uri }, options: { tabSize: 2, insertSpaces: true } })).toEqual([]);
    const broken = await c.replace(uri, "fake = G(z)", "fake = G(z");
    expect((await c.diagnostics(uri, broken)).length).toBeGreaterThan(0);
    expect(await c.request("textDocument/formatting", { textDocument: { uri }, options: { tabSize: 2, insertSpaces: true } })).toEqual([]);
    await c.close(uri);
    const yaml = uriOf("specs/gan.gan.yaml");
    await c.open(yaml, fs.readFileSync(path.join(ROOT, "specs/gan.gan.yaml"), "utf8"));
    expect(await c.request("textDocument/formatting", { textDocument: { uri: yaml }, options: { tabSize: 2, insertSpaces: true } })).toEqual([]);
    await c.close(yaml);
  });

  it("semantic tokens: each word as the analysis resolved it, in the legend the server announced; a range gives the tokens inside it", async () => {
    const uri = uriOf("specs/tokens.gan");
    const text = SEED.replace("loss g =", "# the generator's loss\nloss g =");
    await c.open(uri, text);
    await c.diagnostics(uri, 1);
    const legend = (capabilities.semanticTokensProvider as { legend: { tokenTypes: string[]; tokenModifiers: string[] } }).legend;
    const doc = c.doc(uri);
    /** The tokens decoded: "text:type.modifiers", as an editor reads them. */
    const decode = (data: number[]) => {
      const out: string[] = [];
      let line = 0;
      let char = 0;
      for (let i = 0; i < data.length; i += 5) {
        line += data[i]!;
        char = data[i]! === 0 ? char + data[i + 1]! : data[i + 1]!;
        const start = doc.offsetAt({ line, character: char });
        const mods = legend.tokenModifiers.filter((_, b) => data[i + 4]! & (1 << b));
        out.push(`${text.slice(start, start + data[i + 2]!)}:${[legend.tokenTypes[data[i + 3]!], ...mods].join(".")}`);
      }
      return out;
    };
    const full = decode((await c.request<{ data: number[] }>("textDocument/semanticTokens/full", { textDocument: { uri } })).data);
    const seq = (...words: string[]) => expect(full.join(" ")).toContain(words.join(" "));
    seq("data:keyword", "real:variable.declaration.readonly", "mnist:function.defaultLibrary", "batch:parameter", "=:operator", "64:number", "# [64, 28, 28, 1] in [0, 1]:comment");
    seq("net:keyword", "G:class.declaration", "z:parameter.declaration", "dense:type.defaultLibrary", "1024:number", "batchnorm:type.defaultLibrary");
    seq("->:operator", "logit:property.declaration");
    seq("fake:variable.declaration", "=:operator", "G:class", "z:variable.readonly");
    seq("# the generator's loss:comment", "loss:keyword", "g:loss.declaration", "=:operator", "bce_logits:function.defaultLibrary", "D:class", "fake:variable", "logit:property", "ones:enumMember.defaultLibrary");
    seq("step:keyword", "d:event.declaration", "adam:function.defaultLibrary", "lr:parameter", "=:operator", "2e-4:number");
    seq("minimize:keyword", "d:loss", "over:keyword", "D:class");
    seq("schedule:parameter", "=:operator", "d:event", "g:event");
    // A range: the tokens of the lines it covers, the same as in the full answer.
    const from = c.pos(uri, "loss d =");
    const range = { start: from, end: { line: from.line + 1, character: 0 } };
    const part = decode((await c.request<{ data: number[] }>("textDocument/semanticTokens/range", { textDocument: { uri }, range })).data);
    expect(part).toEqual(["loss:keyword", "d:loss.declaration", "=:operator", "d_real:loss", "+:operator", "d_fake:loss"]);
    // A spec that does not parse keeps its words' lexical kinds; a YAML spec has none.
    const broken = await c.replace(uri, "fake = G(z)", "fake = G(z");
    await c.diagnostics(uri, broken);
    const lexical = decode((await c.request<{ data: number[] }>("textDocument/semanticTokens/full", { textDocument: { uri } })).data);
    expect(lexical).toContain("net:keyword");
    expect(lexical).toContain("1024:number");
    expect(lexical.some((t) => t.startsWith("G:"))).toBe(false);
    await c.close(uri);
    const yaml = uriOf("specs/gan.gan.yaml");
    await c.open(yaml, fs.readFileSync(path.join(ROOT, "specs/gan.gan.yaml"), "utf8"));
    expect(await c.request("textDocument/semanticTokens/full", { textDocument: { uri: yaml } })).toEqual({ data: [] });
    await c.close(yaml);
  });

  it("shuts down and exits with 0 when asked, having logged no error", async () => {
    expect(c.errors).toEqual([]);
    expect(await c.shutdown()).toBe(0);
  });
});
