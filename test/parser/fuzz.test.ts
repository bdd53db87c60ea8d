import * as fs from "node:fs";
import * as fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { Spec } from "../../src/parser/ast.ts";
import { checkSpec } from "../../src/parser/check/index.ts";
import { FUNCTIONS } from "../../src/functions/index.ts";
import { formatDiagnostic, SourceText, toJson, type Diagnostic } from "../../src/parser/diagnostics.ts";
import { parseExpression, parseLayer } from "../../src/parser/dsl/index.ts";
import { ganLexer } from "../../src/parser/dsl/tokens.ts";
import { parseSpec } from "../../src/parser/index.ts";

const SEED_FILE = new URL("../../specs/gan.gan", import.meta.url);
const seedText = fs.readFileSync(SEED_FILE, "utf8");
const FILE = "fuzz.gan";

/** Parses and (when it parsed) checks `text`; throws if a diagnostic points outside the text. */
function compile(text: string): Diagnostic[] {
  const parsed = parseSpec(text, FILE);
  const diags = [...parsed.diagnostics];
  if (parsed.spec) {
    expect(parsed.diagnostics.filter((d) => d.severity === "error")).toEqual([]);
    diags.push(...checkSpec(parsed.spec, text).diagnostics);
  } else {
    expect(diags.some((d) => d.severity === "error")).toBe(true);
  }
  const src = new SourceText(FILE, text);
  for (const d of diags) {
    for (const s of [d.span, ...d.notes.map((n) => n.span)]) {
      if (!(Number.isInteger(s.start) && Number.isInteger(s.end) && 0 <= s.start && s.start <= s.end && s.end <= text.length)) {
        throw new Error(`${d.code} span ${JSON.stringify(s)} is outside a text of length ${text.length}: ${d.message}`);
      }
    }
    const out = formatDiagnostic(d, (f) => (f === FILE ? src : undefined));
    expect(out.startsWith(`${d.severity}[${d.code}]: `)).toBe(true);
    const j = toJson(d, src);
    expect(j.line).toBeGreaterThanOrEqual(1);
    expect(j.column).toBeGreaterThanOrEqual(1);
  }
  return diags;
}

const YAML_FILE = "fuzz.gan.yaml";
const yamlSeedText = fs.readFileSync(new URL("../../specs/gan.gan.yaml", import.meta.url), "utf8");

/** `compile` for the YAML form. */
function compileYaml(text: string): void {
  const parsed = parseSpec(text, YAML_FILE);
  const diags = [...parsed.diagnostics];
  if (parsed.spec) {
    diags.push(...checkSpec(parsed.spec, text).diagnostics);
  } else expect(diags.some((d) => d.severity === "error")).toBe(true);
  const src = new SourceText(YAML_FILE, text);
  for (const d of diags) {
    for (const s of [d.span, ...d.notes.map((n) => n.span)]) {
      if (!(Number.isInteger(s.start) && Number.isInteger(s.end) && 0 <= s.start && s.start <= s.end && s.end <= text.length)) {
        throw new Error(`${d.code} span ${JSON.stringify(s)} is outside a text of length ${text.length}: ${d.message}`);
      }
    }
    expect(formatDiagnostic(d, (f) => (f === YAML_FILE ? src : undefined)).startsWith(`${d.severity}[${d.code}]: `)).toBe(true);
  }
}

const yamlPieces = ["- ", ": ", "{", "}", "[", "]", "&a ", "*a", "? ", "|", ">", "'", "\"", "#", "\t", "  ", "\r", "1e999", "-1", "null", "~", "!!str ", "<<: *a", "---", "...", "\ufeff", ",", "->", "(", ")"];
type LineMutation = { kind: "delete" | "duplicate" | "swap" | "insert" | "cut"; at: number; other: number; col: number };
const lineMutation: fc.Arbitrary<LineMutation> = fc.record({
  kind: fc.constantFrom("delete", "duplicate", "swap", "insert", "cut"),
  at: fc.nat(),
  other: fc.nat(),
  col: fc.nat(),
});

function mutateYaml(ms: readonly LineMutation[]): string {
  const lines = yamlSeedText.split("\n");
  for (const m of ms) {
    const i = m.at % lines.length;
    const j = m.other % lines.length;
    const line = lines[i]!;
    const c = m.col % (line.length + 1);
    if (m.kind === "delete") lines.splice(i, 1);
    else if (m.kind === "duplicate") lines.splice(i, 0, line);
    else if (m.kind === "swap") [lines[i], lines[j]] = [lines[j]!, line];
    else if (m.kind === "insert") lines[i] = line.slice(0, c) + yamlPieces[m.other % yamlPieces.length] + line.slice(c);
    else lines[i] = line.slice(0, c) + line.slice(c + 1 + (m.other % 4));
  }
  return lines.join("\n");
}

/** The seed as tokens, each with the text (whitespace, comments) before it. */
const seedTokens: { gap: string; image: string }[] = (() => {
  const toks = ganLexer.tokenize(seedText).tokens;
  let at = 0;
  return toks.map((t) => {
    const end = t.endOffset! + 1;
    const r = { gap: seedText.slice(at, t.startOffset), image: seedText.slice(t.startOffset, end) };
    at = end;
    return r;
  });
})();

const extraTokens = ["gan", "data", "noise", "net", "loss", "state", "step", "after", "train", "minimize", "over", "shared",
  "(", ")", "[", "]", "{", "}", ",", ":", "=", "->", ".", "+", "-", "*", "/", "0", "1e999", "-1", "0.5", "\"s\"", "\"", "'",
  "G", "D", "x", "real", "fake", "ones", "mean", "grad", "concat", "dense", "\ufeff", "\r", "\t", "@", "\u00e9"];

type Mutation = { kind: "delete" | "duplicate" | "insert" | "swap"; at: number; other: number; extra: number };
const mutation: fc.Arbitrary<Mutation> = fc.record({
  kind: fc.constantFrom("delete", "duplicate", "insert", "swap"),
  at: fc.nat(),
  other: fc.nat(),
  extra: fc.nat(),
});

function mutate(ms: readonly Mutation[]): string {
  const toks = [...seedTokens];
  for (const m of ms) {
    if (toks.length === 0) break;
    const i = m.at % toks.length;
    const j = m.other % toks.length;
    switch (m.kind) {
      case "delete":
        toks.splice(i, 1);
        break;
      case "duplicate":
        toks.splice(i, 0, { gap: " ", image: toks[i]!.image });
        break;
      case "insert": {
        const image = m.extra % 2 === 0 ? toks[j]!.image : extraTokens[m.extra % extraTokens.length]!;
        toks.splice(i, 0, { gap: m.extra % 3 === 0 ? "" : " ", image });
        break;
      }
      case "swap": {
        const a = toks[i]!;
        toks[i] = { gap: a.gap, image: toks[j]!.image };
        toks[j] = { gap: toks[j]!.gap, image: a.image };
        break;
      }
    }
  }
  return toks.map((t) => t.gap + t.image).join("");
}

describe("the front end never throws", () => {
  it("keeps the seed spec clean (the mutations start from a valid spec)", () => {
    expect(compile(seedText).filter((d) => d.severity === "error")).toEqual([]);
    expect(mutate([])).toBe(seedText.trimEnd());
  });

  it("on random strings", () => {
    fc.assert(fc.property(fc.string({ unit: "binary", maxLength: 200 }), (s) => void compile(s)), { numRuns: 300 });
  });

  it("on random strings over the language's own characters", () => {
    const chars = fc.constantFrom(..." \n\t(){}[],:=->.+*/#\"'0123456789eEabcdgnrstxz_GD".split(""));
    fc.assert(fc.property(fc.string({ unit: chars, maxLength: 200 }), (s) => void compile(s)), { numRuns: 300 });
  });

  it("on random bytes decoded as UTF-8", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => void compile(new TextDecoder("utf-8").decode(bytes))),
      { numRuns: 300 },
    );
  });

  it("on the seed spec with random bytes spliced in", () => {
    const bytes = Buffer.from(seedText, "utf8");
    fc.assert(
      fc.property(fc.nat(bytes.length), fc.uint8Array({ minLength: 1, maxLength: 8 }), (at, ins) => {
        const b = Buffer.concat([bytes.subarray(0, at), Buffer.from(ins), bytes.subarray(at)]);
        compile(b.toString("utf8"));
      }),
      { numRuns: 300 },
    );
  });

  it("parseExpression and parseLayer (the YAML front end's entry points) keep spans within the shifted text", () => {
    const chars = fc.constantFrom(..." (){}[],=->.+*/\"'0123456789eabdknrsxz_".split(""));
    fc.assert(
      fc.property(fc.string({ unit: chars, maxLength: 60 }), fc.nat(1000), fc.boolean(), (s, base, asLayer) => {
        const r = asLayer ? parseLayer(s, FILE, base) : parseExpression(s, FILE, base);
        expect(r.value === null).toBe(r.diagnostics.length > 0);
        const spans = r.value ? [r.value.span] : r.diagnostics.map((d) => d.span);
        for (const sp of spans) expect(base <= sp.start && sp.start <= sp.end && sp.end <= base + s.length).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it("on token deletions, insertions, duplications and swaps in the seed spec", () => {
    fc.assert(fc.property(fc.array(mutation, { minLength: 1, maxLength: 4 }), (ms) => void compile(mutate(ms))), { numRuns: 600 });
  });

  it("on line deletions, duplications, swaps and edits in the YAML seed spec", () => {
    expect(parseSpec(yamlSeedText, YAML_FILE).diagnostics).toEqual([]);
    fc.assert(fc.property(fc.array(lineMutation, { minLength: 1, maxLength: 4 }), (ms) => compileYaml(mutateYaml(ms))), { numRuns: 200 });
  });

  it("on random strings read as YAML", () => {
    const chars = fc.constantFrom(..." \n\t:-{}[],&*?|>'\"#!0123456789abdgnrstxz_".split(""));
    fc.assert(fc.property(fc.string({ unit: chars, maxLength: 200 }), (s) => compileYaml(s)), { numRuns: 300 });
  });
});

/**
 * Inputs that make the front end throw today. Each is skipped so the suite stays green; un-skip it with
 * the fix.
 */
describe("inputs that used to crash the front end", () => {
  const seedWith = (from: string, to: string) => {
    expect(seedText).toContain(from);
    return seedText.replace(from, to);
  };
  const fails = (text: string) => {
    const diags = compileUnguarded(text);
    expect(diags.some((d) => d.severity === "error")).toBe(true);
  };

  // TypeError "Cannot read properties of undefined (reading 'expr')" in Checker.resolveValue. Minimal
  // form found by the mutation property: `D = 1` (a value with the name of a net) anywhere after data.
  it("a value named like a net, a noise, the data, a state or a built-in", () => {
    for (const extra of ["D = 1", "z = 1", "real = 1", "mean = 1", "state k = 0\nk = 1"]) fails(seedWith("fake = G(z)\n", `fake = G(z)\n${extra}\n`));
  });

  // RangeError (stack overflow) in the parser: unary minus nests without counting towards the nesting limit.
  it("2,000 unary minuses", () => {
    fails(seedWith("loss d = d_real + d_fake", `loss d = ${"-".repeat(2_000)}d_real + d_fake`));
  });

  // RangeError in the checker: Checker.expr recurses down the left spine of a long sum.
  it("a loss that adds 10,000 terms", () => {
    fails(seedWith("loss d = d_real + d_fake", `loss d = d_real${" + d_fake".repeat(10_000)}`));
  });

  // RangeError in the checker: Checker.member recurses down a chain of 10,000 members.
  it("a member chain 10,000 long", () => {
    fails(seedWith("loss d = d_real + d_fake", `loss d = d_real${".x".repeat(10_000)}`));
  });

  // RangeError in the checker: resolveValue recurses through 10,000 values that each name the next.
  it("10,000 values defined in a chain", () => {
    const chain = Array.from({ length: 10_000 }, (_, i) => `v${i} = v${i + 1}\n`).join("");
    fails(seedWith("fake = G(z)\n", `fake = G(z)\n${chain}v10000 = fake\n`));
  });
});

/** `compile` without the known-crash guard (fc.pre only works inside a property). */
function compileUnguarded(text: string): Diagnostic[] {
  const parsed = parseSpec(text, FILE);
  const diags = [...parsed.diagnostics];
  if (parsed.spec) diags.push(...checkSpec(parsed.spec, text).diagnostics);
  const src = new SourceText(FILE, text);
  for (const d of diags) {
    for (const s of [d.span, ...d.notes.map((n) => n.span)]) expect(0 <= s.start && s.start <= s.end && s.end <= text.length).toBe(true);
    formatDiagnostic(d, () => src);
  }
  return diags;
}
