/**
 * Random edits, as a person typing makes them (fast-check): the features never throw in process, and the
 * server over stdio answers every request, publishes diagnostics for the last version, and stays up.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import "../../src/parser/yaml/load.ts";
import { analyze, symbolAt } from "../../src/lsp/analysis.ts";
import { complete, hover, outline, prepareRename, rename } from "../../src/lsp/features.ts";
import { ROOT } from "../helpers.ts";
import { TestClient, uriOf } from "./client.ts";

const SEED = fs.readFileSync(path.join(ROOT, "specs/gan.gan"), "utf8");
const SEED_YAML = fs.readFileSync(path.join(ROOT, "specs/gan.gan.yaml"), "utf8");
const PIECES = ["{", "}", "(", ")", ",", ".", "->", "=", ":", "[", "]", "\n", "\r\n", "\r", " ", "  ", "#", '"', "'", "-", "*", "/", "net", "block B(c) {", "dense", "conv 3", "D", "G", "logit", "loss", "step", "train {", "minimize", "over", "1e400", "0", "\uFEFF", "\u{1F600}", "\t", "- dense 4", "layers:", "nets:", "{ source: mnist }", "when=f"];

/** An edit: replace `del` characters at a fraction `at` of the text with `ins`. */
const edit = fc.record({ at: fc.double({ min: 0, max: 1, noNaN: true }), del: fc.nat({ max: 12 }), ins: fc.oneof(fc.constantFrom(...PIECES), fc.string({ maxLength: 6 })) });
type Edit = { at: number; del: number; ins: string };
const apply = (text: string, e: Edit) => {
  const start = Math.floor(e.at * text.length);
  return { start, end: Math.min(text.length, start + e.del), text: text.slice(0, start) + e.ins + text.slice(Math.min(text.length, start + e.del)) };
};

describe("random edits", () => {
  for (const [name, seed, file] of [["a .gan spec", SEED, "f.gan"], ["a .gan.yaml spec", SEED_YAML, "f.gan.yaml"]] as const) {
    it(`the features never throw on ${name}`, () => {
      fc.assert(
        fc.property(fc.array(edit, { minLength: 1, maxLength: 8 }), fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: 3, maxLength: 3 }), (edits, where) => {
          let text: string = seed;
          for (const e of edits) text = apply(text, e).text;
          const a = analyze(text, file);
          outline(a);
          for (const w of where) {
            const o = Math.floor(w * text.length);
            hover(a, o);
            complete(a, o, file.endsWith(".yaml"));
            symbolAt(a, o);
            prepareRename(a, o);
            const r = rename(a, o, "renamed");
            if (r.ok) for (const s of r.spans) expect(s.end).toBeLessThanOrEqual(text.length);
          }
        }),
        { numRuns: 150, seed: 42 },
      );
    });
  }
});

describe("the server under random edits", () => {
  let c: TestClient;
  beforeAll(async () => {
    c = new TestClient({ GANC_LSP_DEBOUNCE_MS: "5" });
    await c.initialize();
  }, 120_000);
  afterAll(() => c.kill());

  it("answers every request, publishes diagnostics for the last version, and stays up", async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(edit, { minLength: 1, maxLength: 8 }), fc.array(fc.tuple(fc.constantFrom("hover", "completion", "definition", "references", "documentSymbol", "rename", "codeAction"), fc.double({ min: 0, max: 1, noNaN: true })), { minLength: 1, maxLength: 4 }), async (edits, requests) => {
        const uri = uriOf(`fuzz-${run++}.gan`);
        await c.open(uri, SEED);
        let version = 1;
        for (const e of edits) {
          const r = apply(c.doc(uri).getText(), e);
          version = await c.edit(uri, r.start, r.end, e.ins);
        }
        for (const [method, w] of requests) {
          const d = c.doc(uri);
          const position = d.positionAt(Math.floor(w * d.getText().length));
          const td = { textDocument: { uri } };
          if (method === "rename") {
            // Either edits or a refusal with a message: both are answers.
            await c.request(`textDocument/${method}`, { ...td, position, newName: "renamed" }).catch((err: Error) => expect(err.message).not.toMatch(/failed|hang/));
          } else if (method === "codeAction") {
            const diags = await c.diagnostics(uri, version);
            await c.request(`textDocument/${method}`, { ...td, range: { start: position, end: position }, context: { diagnostics: diags } });
          } else await c.request(`textDocument/${method}`, { ...td, position, context: { includeDeclaration: true } });
        }
        const diags = await c.diagnostics(uri, version);
        expect(Array.isArray(diags)).toBe(true);
        await c.close(uri);
        expect(c.exitCode).toBeNull();
      }),
      { numRuns: 25, seed: 7 },
    );
    expect(c.errors).toEqual([]);
  }, 300_000);
});
