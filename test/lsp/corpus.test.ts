/**
 * The server against the compiler's own corpus: every spec in specs/ opens with no diagnostics, and every
 * error case of test/errors/ gives through the server what `ganc check` gives: the same codes, severities,
 * messages and ranges, with each note as related information.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TextDocument } from "vscode-languageserver-textdocument";
import { checkText } from "../../src/check.ts";
import { SourceText, toJson } from "../../src/parser/diagnostics.ts";
import "../../src/parser/yaml/load.ts";
import { fileOfUri } from "../../src/lsp/server.ts";
import { CASE_DIFF_EXT, expandCaseDiff } from "../errors/case-diff.ts";
import { ganc, ROOT, tmpDir } from "../helpers.ts";
import { TestClient, uriOf } from "./client.ts";

const ERRORS = path.join(ROOT, "test/errors");
const SPEC_EXT = /\.gan(\.ya?ml)?$/;
const specs = fs.readdirSync(path.join(ROOT, "specs")).filter((f) => SPEC_EXT.test(f)).sort();
const cases = fs.readdirSync(ERRORS).filter((f) => SPEC_EXT.test(f) || CASE_DIFF_EXT.test(f)).sort().map((f) => {
  const raw = fs.readFileSync(path.join(ERRORS, f), "utf8");
  const file = f.replace(/\.diff$/, "");
  return { file, text: CASE_DIFF_EXT.test(f) ? expandCaseDiff(raw, f, path.join(ERRORS, "base")).text : raw };
});

let c: TestClient;
beforeAll(async () => {
  c = new TestClient();
  await c.initialize();
}, 120_000);
afterAll(() => c.kill());

describe("ganc lsp on the corpus", () => {
  it("opens every spec in specs/ (both forms) with zero diagnostics, warnings included, as ganc check gives", async () => {
    expect(specs.length).toBeGreaterThanOrEqual(20);
    const warned: string[] = [];
    for (const f of specs) {
      const uri = uriOf(`specs/${f}`);
      const text = fs.readFileSync(path.join(ROOT, "specs", f), "utf8");
      await c.open(uri, text);
      const got = await c.diagnostics(uri, 1);
      await c.close(uri);
      expect(got.filter((d) => d.severity === 1), f).toEqual([]);
      expect(got.map((d) => `${d.code} ${d.message}`), f).toEqual(checkText(text, fileOfUri(uri)).diagnostics.map((d) => `${d.code} ${d.message}`));
      if (got.length) warned.push(`${f}: ${got.map((d) => d.code).join(", ")}`);
    }
    // (The gradient-penalty specs keep the reference's batchnorm in D on purpose, and allow W0403 there.)
    expect(warned).toEqual([]);
  }, 120_000);

  it("gives every error case's diagnostics as ganc check does (code, severity, message, range, notes)", async () => {
    expect(cases.length).toBeGreaterThanOrEqual(150);
    for (const { file, text } of cases) {
      const uri = uriOf(`test/errors/${file}`);
      await c.open(uri, text);
      const got = await c.diagnostics(uri, 1);
      await c.close(uri);
      // What ganc check computes for this text under the name the server checks it under.
      const want = checkText(text, fileOfUri(uri, file.endsWith(".yaml") ? "gan-yaml" : "gan")).diagnostics;
      expect(want.some((d) => d.severity === "error"), file).toBe(true);
      const doc = TextDocument.create(uri, "gan", 1, text);
      const range = (s: { start: number; end: number }) => ({ start: doc.positionAt(s.start), end: doc.positionAt(Math.max(s.start, s.end)) });
      expect(got, file).toEqual(
        want.map((d) => ({
          range: range(d.span),
          severity: d.severity === "error" ? 1 : 2,
          code: d.code,
          source: "ganc",
          message: d.message,
          ...(d.notes.length ? { relatedInformation: d.notes.map((n) => ({ location: { uri, range: range(n.span) }, message: n.message })) } : {}),
        })),
      );
      // The lines and columns `ganc check --json` prints, 1-based (a byte-order mark is no column there,
      // while an editor that sends one counts it).
      if (!text.startsWith("\uFEFF")) {
        const src = new SourceText(file, text);
        expect(got.map((d) => [d.range.start.line + 1, d.range.start.character + 1, d.range.end.line + 1, d.range.end.character + 1]), file).toEqual(
          want.map((d) => toJson(d, src)).map((j) => [j.line, j.column, j.endLine, j.endColumn]),
        );
      }
    }
  }, 300_000);

  it("matches the ganc command itself (check --json) on a .gan and a .gan.yaml case", async () => {
    const dir = tmpDir("ganc-lsp-");
    let n = 0;
    for (const { file, text } of cases.filter((x) => ["duplicate-name.gan", "yaml-block-arity.gan.yaml"].includes(x.file))) {
      const f = path.join(dir, file);
      fs.writeFileSync(f, text);
      const cli = ganc(["check", "--json", f]);
      expect(cli.code, cli.stderr).toBe(1);
      const json = JSON.parse(cli.stdout) as { code: string; message: string; line: number; column: number; endLine: number; endColumn: number }[];
      const uri = uriOf(f);
      await c.open(uri, text);
      const got = await c.diagnostics(uri, 1);
      await c.close(uri);
      n++;
      expect(got.map((d) => ({ code: d.code, message: d.message, line: d.range.start.line + 1, column: d.range.start.character + 1, endLine: d.range.end.line + 1, endColumn: d.range.end.character + 1 })), file).toEqual(
        json.map((j) => ({ code: j.code, message: j.message, line: j.line, column: j.column, endLine: j.endLine, endColumn: j.endColumn })),
      );
    }
    expect(n).toBe(2);
  }, 120_000);
});
