/**
 * The catalog of diagnostic codes (src/parser/codes.ts) against what the front end emits: every code in
 * the sources and baselines is in the catalog, every entry's wrong example produces exactly its code and
 * its right example nothing, and every entry is emitted by some test (its example, or an error baseline).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { checkSpec } from "../../src/parser/check/index.ts";
import { CATALOG, completeExample, isCode, type Code, type Example } from "../../src/parser/codes.ts";
import { parseSpec } from "../../src/parser/index.ts";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const CODE = /\b[EW]0\d{3}\b/g;

function codesOf(ex: Example): string[] {
  const text = completeExample(ex);
  const file = ex.yaml ? "example.gan.yaml" : "example.gan";
  const parsed = parseSpec(text, file);
  const codes: string[] = parsed.diagnostics.map((d) => d.code);
  if (parsed.spec) codes.push(...checkSpec(parsed.spec, text).diagnostics.map((d) => d.code));
  return codes;
}

function filesUnder(dir: string, ext: RegExp): string[] {
  return fs.readdirSync(dir, { recursive: true, encoding: "utf8" }).filter((f) => ext.test(f)).map((f) => path.join(dir, f));
}

const entries = Object.entries(CATALOG) as [Code, (typeof CATALOG)[Code]][];

describe("diagnostic catalog", () => {
  it("every code written in the front end's sources is in the catalog", () => {
    const seen = new Set<string>();
    for (const f of filesUnder(path.join(ROOT, "src"), /\.ts$/)) for (const m of fs.readFileSync(f, "utf8").matchAll(CODE)) seen.add(m[0]);
    expect([...seen].filter((c) => !isCode(c))).toEqual([]);
    // The check is not vacuous: the front end does use the catalog's codes.
    expect(seen.size).toBeGreaterThan(50);
  });

  it("every code in the error baselines is in the catalog", () => {
    const seen = new Set<string>();
    for (const f of filesUnder(path.join(ROOT, "test/errors"), /\.errors\.txt$/)) {
      for (const m of fs.readFileSync(f, "utf8").matchAll(/^(?:error|warning)\[(\w+)\]/gm)) seen.add(m[1]!);
    }
    expect(seen.size).toBeGreaterThan(20);
    expect([...seen].filter((c) => !isCode(c))).toEqual([]);
  });

  it("codes are E or W, four digits, with a title and an explanation, and errors and warnings are apart", () => {
    for (const [code, info] of entries) {
      expect(code).toMatch(/^[EW]0\d{3}$/);
      expect(info.title.length, code).toBeGreaterThan(3);
      expect(info.explanation.length, code).toBeGreaterThan(20);
    }
  });

  it.each(entries)("%s: the wrong example gives exactly this code, the right one nothing", (code, info) => {
    if (!("wrong" in info)) {
      expect("noExample" in info && info.noExample.length > 0, `${code} has neither examples nor a reason`).toBe(true);
      return;
    }
    const wrong = codesOf(info.wrong);
    expect(wrong.length, `${code}: ${completeExample(info.wrong)}`).toBeGreaterThan(0);
    expect([...new Set(wrong)], `${code}: ${completeExample(info.wrong)}`).toEqual([code]);
    expect(codesOf(info.right), `${code} right: ${completeExample(info.right)}`).toEqual([]);
  });

  it("every entry is emitted by a test: its own wrong example or an error baseline", () => {
    const baselines = new Set<string>();
    for (const f of filesUnder(path.join(ROOT, "test/errors"), /\.errors\.txt$/)) {
      for (const m of fs.readFileSync(f, "utf8").matchAll(/^(?:error|warning)\[(\w+)\]/gm)) baselines.add(m[1]!);
    }
    // An entry without an example is in a baseline, or says that nothing can reach it today.
    const untested = entries.filter(([code, info]) => !("wrong" in info) && !baselines.has(code) && !("noExample" in info && info.noExample.startsWith("unreachable"))).map(([c]) => c);
    expect(untested).toEqual([]);
  });
});
