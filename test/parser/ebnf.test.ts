/**
 * Keeps grammar/gan.ebnf honest: its syntax productions are the JSDoc productions of the parser's rules,
 * verbatim, and the grammar it describes is complete, reachable and uses the lexer's own tokens.
 */
import * as fs from "node:fs";
import { describe, expect, it } from "vitest";
import { checkSpec } from "../../src/parser/check/index.ts";
import { parseDsl } from "../../src/parser/dsl/index.ts";
import { allTokens, ganLexer, keywords } from "../../src/parser/dsl/tokens.ts";

const ebnfText = fs.readFileSync(new URL("../../grammar/gan.ebnf", import.meta.url), "utf8");
const parserText = fs.readFileSync(new URL("../../src/parser/dsl/parser.ts", import.meta.url), "utf8");

/**
 * Productions of gan.ebnf that no parser rule documents, and rules documented by no production of their
 * own, each with the reason. Keep these short: each entry is a place where the JSDoc could say more.
 */
const EBNF_ONLY: Record<string, string> = {
  args: "the JSDoc of data, noise, step, layer and primary writes \"(\" [ args ] \")\", but no rule is called args (parenArgs includes the parentheses)",
};
const RULES_WITHOUT_OWN_PRODUCTION: Record<string, string> = {
  bareArg: "documented in the JSDoc of layer",
  namedArg: "inlined in train as IDENT \"=\" expr",
};
/** Productions nothing refers to, with the reason. */
const UNREFERENCED: Record<string, string> = {
  spec: "the start symbol",
  parenArgs: "the JSDoc of its callers writes \"(\" [ args ] \")\" instead",
};

type Tok = { kind: "name" | "terminal" | "special" | "sym"; text: string };

/** Splits EBNF text into names, quoted terminals, ? special sequences ? and symbols, dropping (* comments *). */
function tokenize(src: string): Tok[] {
  const out: Tok[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i]!;
    if (/\s/.test(c)) i++;
    else if (src.startsWith("(*", i)) {
      const end = src.indexOf("*)", i + 2);
      if (end < 0) throw new Error(`unclosed comment at ${i}`);
      i = end + 2;
    } else if (c === '"' || c === "'" || c === "?") {
      const end = src.indexOf(c, i + 1);
      if (end < 0) throw new Error(`unclosed ${c} at ${i}`);
      out.push({ kind: c === "?" ? "special" : "terminal", text: src.slice(i + 1, end) });
      i = end + 1;
    } else if (/[A-Za-z_]/.test(c)) {
      const m = /^[A-Za-z_]\w*/.exec(src.slice(i))!;
      out.push({ kind: "name", text: m[0] });
      i += m[0].length;
    } else if ("=|[]{}();,".includes(c)) {
      out.push({ kind: "sym", text: c });
      i++;
    } else throw new Error(`unexpected ${JSON.stringify(c)} at ${i} in the grammar`);
  }
  return out;
}

interface Production {
  readonly name: string;
  readonly body: Tok[];
}

function productions(src: string): Production[] {
  const toks = tokenize(src);
  const out: Production[] = [];
  let i = 0;
  while (i < toks.length) {
    const name = toks[i]!;
    expect(name.kind, `a production starts with a name, at ${JSON.stringify(name)}`).toBe("name");
    expect(toks[i + 1]?.text, `'=' after ${name.text}`).toBe("=");
    let j = i + 2;
    while (j < toks.length && !(toks[j]!.kind === "sym" && toks[j]!.text === ";")) j++;
    expect(j < toks.length, `';' ends ${name.text}`).toBe(true);
    out.push({ name: name.text, body: toks.slice(i + 2, j) });
    i = j + 1;
  }
  return out;
}

const isSyntax = (name: string) => /^[a-z]/.test(name);

/** `/** name = ... ; *\/` productions of each parser rule, from the JSDoc right above `x = this.RULE("x"`. */
function jsdocProductions(): { rule: string; text: string; name: string }[] {
  const out: { rule: string; text: string; name: string }[] = [];
  for (const m of parserText.matchAll(/\/\*\*((?:(?!\*\/)[\s\S])*)\*\/\s*(\w+)\s*=\s*this\.RULE\("(\w+)"/g)) {
    const [, doc, field, rule] = m as unknown as [string, string, string, string];
    expect(field).toBe(rule);
    for (const line of doc.split("\n")) {
      const p = /^\s*\*?\s*([A-Za-z]\w*) = (.*?;)(?:\s|$)/.exec(line);
      if (p) out.push({ rule, name: p[1]!, text: `${p[1]} = ${p[2]}` });
    }
  }
  return out;
}

const ruleNames = [...parserText.matchAll(/this\.RULE\("(\w+)"/g)].map((m) => m[1]!);
const docs = jsdocProductions();
const prods = productions(ebnfText);
const ebnfLines = new Set(ebnfText.split("\n").map((l) => l.trim()));

describe("grammar/gan.ebnf", () => {
  it("finds the parser's rules and their productions", () => {
    expect(ruleNames.length).toBeGreaterThanOrEqual(20);
    expect(docs.length).toBeGreaterThanOrEqual(20);
    expect(docs.map((d) => d.name)).toContain("primary");
  });

  it("has every JSDoc production of the parser, verbatim, on a line of its own", () => {
    const missing = docs.filter((d) => !ebnfLines.has(d.text)).map((d) => `${d.rule}: ${d.text}`);
    expect(missing).toEqual([]);
  });

  it("has no syntax production that the parser does not document", () => {
    const documented = new Map(docs.map((d) => [d.name, d.text]));
    const extra = prods.filter((p) => isSyntax(p.name) && !documented.has(p.name) && !(p.name in EBNF_ONLY)).map((p) => p.name);
    expect(extra).toEqual([]);
    for (const name of Object.keys(EBNF_ONLY)) {
      expect(prods.some((p) => p.name === name), `${name} is still in the grammar`).toBe(true);
      expect(ruleNames, `${name} is still not a rule`).not.toContain(name);
    }
  });

  it("defines each production once", () => {
    const names = prods.map((p) => p.name);
    expect(names.filter((n, i) => names.indexOf(n) !== i)).toEqual([]);
  });

  it("has one production per parser rule, named after the rule", () => {
    const byName = new Set(docs.map((d) => d.name));
    for (const rule of ruleNames) {
      const own = docs.filter((d) => d.rule === rule);
      if (rule in RULES_WITHOUT_OWN_PRODUCTION) {
        expect(byName.has(rule) || own.length === 0, rule).toBe(true);
        continue;
      }
      expect(own.length, `JSDoc production of rule ${rule}`).toBeGreaterThanOrEqual(1);
      expect([rule, rule.replace(/Decl$/, "")], `the first production in ${rule}'s JSDoc names it`).toContain(own[0]!.name);
    }
    for (const d of docs) expect(ruleNames.includes(d.name) || ruleNames.includes(`${d.name}Decl`), `${d.name} names a rule`).toBe(true);
  });

  it("defines every name it uses and reaches every production from spec", () => {
    const defined = new Set(prods.map((p) => p.name));
    const used = new Map<string, string[]>();
    for (const p of prods) for (const t of p.body) if (t.kind === "name") used.set(t.text, [...(used.get(t.text) ?? []), p.name]);
    expect([...used.keys()].filter((n) => !defined.has(n))).toEqual([]);
    const reached = new Set<string>(["spec"]);
    const stack = ["spec"];
    while (stack.length) {
      const current = stack.pop();
      for (const t of prods.find((p) => p.name === current)!.body) {
        if (t.kind === "name" && !reached.has(t.text)) {
          reached.add(t.text);
          stack.push(t.text);
        }
      }
    }
    const unreached = prods.filter((p) => !reached.has(p.name) && !(p.name in UNREFERENCED) && isSyntax(p.name)).map((p) => p.name);
    expect(unreached).toEqual([]);
    for (const name of Object.keys(UNREFERENCED)) if (name !== "spec") expect(reached.has(name), `${name} is still unreferenced`).toBe(false);
  });

  it("balances brackets in every production", () => {
    const pairs: Record<string, string> = { ")": "(", "]": "[", "}": "{" };
    for (const p of prods) {
      const stack: string[] = [];
      for (const t of p.body) {
        if (t.kind !== "sym") continue;
        if ("([{".includes(t.text)) stack.push(t.text);
        else if (t.text in pairs) expect(stack.pop(), `${p.name}: ${t.text}`).toBe(pairs[t.text]);
      }
      expect(stack, p.name).toEqual([]);
    }
  });

  it("uses exactly the lexer's keywords", () => {
    const words = new Set(prods.filter((p) => isSyntax(p.name)).flatMap((p) => p.body.filter((t) => t.kind === "terminal" && /^[a-z]+$/.test(t.text)).map((t) => t.text)));
    expect([...words].sort()).toEqual(keywords.map((k) => k.name.toLowerCase()).sort());
  });

  it("writes every other literal as exactly one lexer token, and uses every punctuation token", () => {
    const literals = new Set(prods.filter((p) => isSyntax(p.name)).flatMap((p) => p.body.filter((t) => t.kind === "terminal").map((t) => t.text)));
    const seen = new Set<string>();
    for (const lit of literals) {
      const r = ganLexer.tokenize(lit);
      expect(r.errors, lit).toEqual([]);
      expect(r.tokens.map((t) => t.image), lit).toEqual([lit]);
      seen.add(r.tokens[0]!.tokenType.name);
    }
    // The mistake tokens (an unterminated string, single quotes, '=>') exist only to be reported.
    const mistakes = ["UnterminatedString", "SingleQuoted", "FatArrow"];
    const punctuation = allTokens.filter((t) => !keywords.includes(t) && ![...mistakes, "WhiteSpace", "Comment", "Identifier", "NumberLiteral", "StringLiteral"].includes(t.name));
    expect(punctuation.map((t) => t.name).filter((n) => !seen.has(n))).toEqual([]);
  });

  it("uses only the tokens IDENT, NUMBER and STRING in syntax, and defines them", () => {
    const tokens = new Set(prods.filter((p) => isSyntax(p.name)).flatMap((p) => p.body.filter((t) => t.kind === "name" && !isSyntax(t.text)).map((t) => t.text)));
    expect([...tokens].sort()).toEqual(["IDENT", "NUMBER", "STRING"]);
    for (const t of tokens) expect(prods.some((p) => p.name === t)).toBe(true);
  });

  it("describes tokens the way the lexer reads them", () => {
    const one = (text: string) => ganLexer.tokenize(text).tokens.map((t) => t.tokenType.name);
    for (const n of ["0", "12", "1.", "1.5", ".5", "2e-4", "1E+3", "7.25e10"]) expect(one(n), n).toEqual(["NumberLiteral"]);
    for (const n of ["x", "_x", "x_1", "dataset", "overall", "Net", "shared_"]) expect(one(n), n).toEqual(["Identifier"]);
    for (const s of ['""', '"a b"', '"a\\"b"', '"\\\\"']) expect(one(s), s).toEqual(["StringLiteral"]);
    // A string cannot span lines: the lexer reads an unterminated string, which the parser reports.
    expect(one('"a\nb"')).toEqual(["UnterminatedString", "Identifier", "UnterminatedString"]);
    expect(one("\ufeff # c\n// d\r\n\tx")).toEqual(["Identifier"]);
  });

  it("has an example that parses and checks clean", () => {
    const header = /Example:\n([\s\S]*?)\*\)/.exec(ebnfText)![1]!;
    const example = header.split("\n").map((l) => l.replace(/^ {5}/, "")).join("\n");
    const parsed = parseDsl(example, "example.gan");
    expect(parsed.diagnostics).toEqual([]);
    expect(checkSpec(parsed.value!, example).diagnostics).toEqual([]);
  });
});
