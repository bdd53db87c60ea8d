/**
 * Error baselines: every `<case>.gan` here must fail to compile, and its diagnostics (parse, then check
 * when it parsed), formatted without colour and joined by a blank line, must equal `<case>.errors.txt`.
 * `GANC_UPDATE_GOLDEN=1 npx vitest run test/errors` rewrites the baselines instead; read the diff by eye.
 *
 * `pending/` holds inputs whose diagnostics are wrong or unhelpful today (see PENDING for why). They have
 * no baseline yet; once the front end is fixed, move the case up one folder and write its baseline.
 *
 * A case that breaks a few lines of the seed GAN is written as those lines, `<case>.gan.diff` (or
 * `.gan.yaml.diff`) against `base/seed.gan` (see case-diff.ts); its diagnostics are those of the spec it
 * stands for, under the name `<case>.gan`. Cases about the bytes of a file (a BOM, CRLF or CR line ends,
 * tabs, non-UTF-8 bytes, empty files) and specs unlike the seed stay whole files.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { checkSpec } from "../../src/parser/check/index.ts";
import { formatDiagnostic, SourceText, toJson, type Diagnostic } from "../../src/parser/diagnostics.ts";
import { parseSpec } from "../../src/parser/index.ts";
import { CASE_DIFF_EXT, CaseDiffError, expandCaseDiff } from "./case-diff.ts";

const DIR = path.dirname(fileURLToPath(import.meta.url));
const PENDING_DIR = path.join(DIR, "pending");
const UPDATE = process.env.GANC_UPDATE_GOLDEN === "1";
const BASE_DIR = path.join(DIR, "base");
const SPEC_EXT = /\.gan(\.ya?ml)?$/;

interface Compiled {
  readonly text: string;
  readonly src: SourceText;
  readonly diags: Diagnostic[];
  readonly formatted: string[];
}

/** What the CLI does with a file: read it as UTF-8, parse, check if it parsed, format every diagnostic. */
function compile(text: string, file: string): Compiled {
  const parsed = parseSpec(text, file);
  const diags = [...parsed.diagnostics];
  if (parsed.spec) diags.push(...checkSpec(parsed.spec, text).diagnostics);
  const src = new SourceText(file, text);
  const formatted = diags.map((d) => formatDiagnostic(d, (f) => (f === file ? src : undefined)));
  return { text, src, diags, formatted };
}

function readCase(dir: string, file: string): Compiled {
  const text = fs.readFileSync(path.join(dir, file), "utf8");
  if (CASE_DIFF_EXT.test(file)) return compile(expandCaseDiff(text, file, BASE_DIR).text, file.replace(/\.diff$/, ""));
  return compile(text, file);
}

const expandTabs = (s: string) => s.replace(/\t/g, "    ");

/**
 * Every span (the diagnostic's and its notes') lies inside the text, and each code frame puts its carets
 * exactly under the text of the span when the span is on one line.
 */
function expectWellPlaced(c: Compiled): void {
  for (const d of c.diags) {
    const spans = [d.span, ...d.notes.map((n) => n.span)];
    for (const s of spans) {
      expect(Number.isInteger(s.start) && Number.isInteger(s.end), `${d.code} span ${JSON.stringify(s)}`).toBe(true);
      expect(0 <= s.start && s.start <= s.end && s.end <= c.text.length, `${d.code} span ${JSON.stringify(s)} in ${c.text.length} chars`).toBe(true);
    }
    const json = toJson(d, c.src);
    expect(json.line).toBeGreaterThanOrEqual(1);
    expect(json.column).toBeGreaterThanOrEqual(1);
    // The frames, in order: the diagnostic's own, then one per note.
    const lines = formatDiagnostic(d, (f) => (f === d.file ? c.src : undefined)).split("\n");
    const frames: { source: string; carets: string }[] = [];
    for (let i = 0; i + 1 < lines.length; i++) {
      const m = /^(\d+) \| (.*)$/.exec(lines[i]!);
      if (m && /^ +\| /.test(lines[i + 1]!)) frames.push({ source: m[2]!, carets: lines[i + 1]!.replace(/^ +\| /, "") });
    }
    expect(frames.length).toBe(spans.length);
    spans.forEach((s, k) => {
      const a = c.src.position(s.start);
      const b = c.src.position(s.end);
      const frame = frames[k]!;
      const at = frame.carets.indexOf("^");
      const width = /\^+/.exec(frame.carets)![0].length;
      expect(frame.source).toBe(expandTabs(c.src.lineText(a.line)));
      if (s.end > s.start && a.line === b.line) {
        expect(frame.source.slice(at, at + width), `${d.code}: carets of ${JSON.stringify(s)}`).toBe(expandTabs(c.text.slice(s.start, s.end)));
      }
    });
  }
}

/**
 * A diagnostic about a name the user wrote ("unknown layer 'flaten'", "net D has no tap 'logits'") is
 * placed on that name: its span is exactly the name's text.
 */
function expectOnTheName(c: Compiled): void {
  for (const d of c.diags) {
    const m = /^(?:unknown [a-z ]+|net \w+ has no tap|.* has no parameter|unknown key) '([^']+)'/.exec(d.message);
    if (m) expect(c.text.slice(d.span.start, d.span.end), d.message).toBe(m[1]);
  }
}

function expectSomeError(c: Compiled): void {
  expect(c.diags.filter((d) => d.severity === "error").map((d) => d.message), "at least one error").not.toEqual([]);
}

function baselineText(c: Compiled): string {
  return c.formatted.join("\n\n") + "\n";
}

/** Cases too large to commit as files; their baselines are committed like the others. */
const GENERATED: Record<string, () => string> = {
  // 10,000 nested parentheses in a loss, 100 to a line, so that the code frame stays short.
  "deep-parens": () => {
    const seed = fs.readFileSync(path.join(DIR, "../../specs/gan.gan"), "utf8");
    const open = Array.from({ length: 100 }, () => "(".repeat(100)).join("\n");
    const close = Array.from({ length: 100 }, () => ")".repeat(100)).join("\n");
    return seed.replace("loss d = d_real + d_fake", `loss d =\n${open}\nd_real\n${close}\n+ d_fake`);
  },
  // A 10 MB file: the seed, then comment lines. Refused before parsing.
  "ten-megabytes": () => {
    const seed = fs.readFileSync(path.join(DIR, "../../specs/gan.gan"), "utf8");
    return seed + "# padding padding padding padding padding padding padding padding padding padding\n".repeat(125_000);
  },
  // 10,000 nested lists in a layer argument.
  "deep-brackets": () => {
    const seed = fs.readFileSync(path.join(DIR, "../../specs/gan.gan"), "utf8");
    const open = Array.from({ length: 100 }, () => "[".repeat(100)).join("\n");
    const close = Array.from({ length: 100 }, () => "]".repeat(100)).join("\n");
    return seed.replace("reshape [7, 7, 128]", `reshape\n${open}\n7\n${close}`);
  },
};

/** Inputs whose diagnostics are wrong or unhelpful today: why, and whether the front end throws on it. */
const PENDING: Record<string, { readonly why: string; readonly throws?: true }> = {
  "yaml-tab-indent.gan.yaml": { why: "the tab error is right; the YAML parser then adds 'all mapping items must start at the same column' for the next line" },
};

const isCase = (f: string) => SPEC_EXT.test(f) || CASE_DIFF_EXT.test(f);
const caseFiles = fs.readdirSync(DIR).filter(isCase).sort();
const pendingFiles = fs.existsSync(PENDING_DIR) ? fs.readdirSync(PENDING_DIR).filter((f) => SPEC_EXT.test(f)).sort() : [];
const caseName = (f: string) => f.replace(CASE_DIFF_EXT, "").replace(SPEC_EXT, "");

describe("error baselines", () => {
  it("has at least 40 .gan cases, and a baseline for every case and a case for every baseline", () => {
    const names = [...caseFiles.map(caseName), ...Object.keys(GENERATED)];
    expect(caseFiles.filter((f) => f.endsWith(".gan") || f.endsWith(".gan.diff")).length).toBeGreaterThanOrEqual(40);
    expect(new Set(names).size).toBe(names.length);
    if (UPDATE) return;
    const baselines = fs.readdirSync(DIR).filter((f) => f.endsWith(".errors.txt")).map((f) => f.slice(0, -".errors.txt".length));
    expect(baselines.sort()).toEqual([...names].sort());
  });

  const cases: [string, () => Compiled][] = [
    ...caseFiles.map((f): [string, () => Compiled] => [caseName(f), () => readCase(DIR, f)]),
    ...Object.entries(GENERATED).map(([name, gen]): [string, () => Compiled] => [name, () => compile(gen(), `${name}.gan`)]),
  ];
  it.each(cases)("%s", (name, run) => {
    const c = run();
    expectSomeError(c);
    expectWellPlaced(c);
    expectOnTheName(c);
    const file = path.join(DIR, `${name}.errors.txt`);
    if (UPDATE) fs.writeFileSync(file, baselineText(c));
    else expect(baselineText(c)).toBe(fs.readFileSync(file, "utf8"));
  });
});

describe("cases written as changes to a base spec", () => {
  const diffCases = caseFiles.filter((f) => CASE_DIFF_EXT.test(f));

  it("each base is a clean spec, so that a case's diagnostics come from its own lines", () => {
    for (const base of ["seed.gan", "seed.gan.yaml"]) expect(readCase(BASE_DIR, base).diags).toEqual([]);
    expect(diffCases.length).toBeGreaterThan(50);
  });

  it.each(diffCases)("%s names a base of its own form and changes it", (f) => {
    const text = fs.readFileSync(path.join(DIR, f), "utf8");
    const { text: spec, base } = expandCaseDiff(text, f, BASE_DIR);
    expect(base.endsWith(".yaml")).toBe(f.endsWith(".yaml.diff"));
    // Its first line is its description, and it is the first line of the spec it stands for.
    expect(text.split("\n")[0]).toMatch(/^# \S/);
    expect(spec.split("\n")[0]).toBe(text.split("\n")[0]);
  });

  it("a hunk that matches the base twice, or not at all, is an error that says so", () => {
    expect(() => expandCaseDiff("# x\n@@ seed.gan\n-}\n+)\n", "t.gan.diff", BASE_DIR)).toThrow(/hunk 1's '-' and ' ' lines occur 2 times in seed.gan .*add context lines/);
    expect(() => expandCaseDiff("# x\n@@ seed.gan\n-not in the base\n+x\n", "t.gan.diff", BASE_DIR)).toThrow(/occur 0 times .*copy them from the base/);
    expect(() => expandCaseDiff("# x\n@@ nowhere.gan\n-}\n", "t.gan.diff", BASE_DIR)).toThrow(/no base/);
    expect(() => expandCaseDiff("# x\n@@ seed.gan\n net G(z) {\n", "t.gan.diff", BASE_DIR)).toThrow(/hunk 1 changes nothing/);
    expect(() => expandCaseDiff("# x\n@@ seed.gan\n", "t.gan.diff", BASE_DIR)).toThrow(CaseDiffError);
    // Context lines place a hunk that would otherwise match twice.
    const placed = expandCaseDiff("# x\n@@ seed.gan\n   deconv 1 kernel=4 stride=2, sigmoid\n-}\n+)\n", "t.gan.diff", BASE_DIR).text;
    expect(placed).toContain("  deconv 1 kernel=4 stride=2, sigmoid\n)\n");
  });
});

describe("positions do not depend on line endings, a BOM or where the text comes from", () => {
  const positions = (c: Compiled) => c.diags.map((d) => toJson(d, c.src));

  it.each(["crlf.gan", "crlf-syntax.gan", "cr-only.gan", "mixed-line-endings.gan", "yaml-crlf.gan.yaml"])("%s reports the lines and columns of its LF twin", (f) => {
    const c = readCase(DIR, f);
    expect(c.text).toMatch(/\r/);
    const lf = compile(c.text.replace(/\r\n?/g, "\n"), f);
    expect(positions(c)).toEqual(positions(lf));
    expect(c.formatted).toEqual(lf.formatted);
  });

  it.each(["bom.gan", "bom-syntax.gan", "yaml-bom.gan.yaml", "yaml-bom-line1.gan.yaml"])("%s: the byte order mark takes no column", (f) => {
    const c = readCase(DIR, f);
    expect(c.text.charCodeAt(0)).toBe(0xfeff);
    const plain = compile(c.text.slice(1), f);
    expect(positions(c)).toEqual(positions(plain));
    expect(c.formatted).toEqual(plain.formatted);
    if (f.includes("syntax") || f.includes("line1")) expect(positions(c)[0]).toMatchObject({ line: 1 });
  });

  it("non-utf8.gan: each byte that is not UTF-8 becomes one U+FFFD, reported where it is", () => {
    const bytes = fs.readFileSync(path.join(DIR, "non-utf8.gan"));
    expect(() => new TextDecoder("utf-8", { fatal: true }).decode(bytes)).toThrow();
    const c = readCase(DIR, "non-utf8.gan");
    const at = c.text.indexOf("\ufffd");
    expect(c.diags.map((d) => [d.code, d.span.start])).toEqual([["E0001", at]]);
    expect(c.diags[0]!.message).toMatch(/not valid UTF-8/);
  });

  it("10,000 nested parentheses on one line are refused at the 201st", () => {
    const seed = fs.readFileSync(path.join(DIR, "../../specs/gan.gan"), "utf8");
    const text = seed.replace("loss d = d_real + d_fake", `loss d = ${"(".repeat(10_000)}d_real${")".repeat(10_000)} + d_fake`);
    const c = compile(text, "deep.gan");
    expect(c.diags.map((d) => d.code)).toEqual(["E0003"]);
    const line = seed.split("\n").findIndex((l) => l.startsWith("loss d = ")) + 1;
    expect(toJson(c.diags[0]!, c.src)).toMatchObject({ line, column: "loss d = ".length + 201 });
    expectWellPlaced(c);
  });
});

describe("pending cases (wrong or unhelpful diagnostics, not baselined)", () => {
  it("every pending case says why it is pending", () => {
    expect(pendingFiles).toEqual(Object.keys(PENDING).sort());
  });
  for (const f of pendingFiles) {
    const p = PENDING[f];
    if (!p) continue;
    if (p.throws) {
      // The front end throws on this input; un-skip once it reports a diagnostic instead.
      it.skip(`${caseName(f)}: ${p.why}`, () => {
        const c = readCase(PENDING_DIR, f);
        expectSomeError(c);
        expectWellPlaced(c);
      });
      continue;
    }
    it(`${caseName(f)} fails with diagnostics inside the file`, () => {
      const c = readCase(PENDING_DIR, f);
      expectSomeError(c);
      expectWellPlaced(c);
    });
    it.skip(`${caseName(f)} baseline: ${p.why}`, () => {});
  }
});
