import * as fs from "node:fs";
import { describe, expect, it } from "vitest";
import { textMateGrammar } from "../../scripts/gen-textmate.ts";

const file = new URL("../../grammar/gan.tmLanguage.json", import.meta.url);
const grammar = JSON.parse(fs.readFileSync(file, "utf8")) as { patterns: { include: string }[]; repository: Record<string, { name?: string; match: string; captures?: Record<string, { name: string }> }> };

/**
 * A small stand-in for an editor's TextMate engine: at each position, the first top-level pattern that
 * matches there wins (the patterns are plain regular expressions that JavaScript and Oniguruma read alike).
 */
function scopes(line: string): [string, string][] {
  const rules = grammar.patterns.map((p) => grammar.repository[p.include.slice(1)]!);
  const out: [string, string][] = [];
  let i = 0;
  while (i < line.length) {
    let best: { at: number; m: RegExpExecArray; rule: (typeof rules)[number] } | null = null;
    for (const rule of rules) {
      const re = new RegExp(rule.match, "gm");
      re.lastIndex = i;
      const m = re.exec(line);
      if (m && m[0].length > 0 && (!best || m.index < best.at)) best = { at: m.index, m, rule };
    }
    if (!best) break;
    if (best.rule.captures) {
      for (const [g, c] of Object.entries(best.rule.captures)) if (best.m[Number(g)]) out.push([best.m[Number(g)]!, c.name]);
    } else out.push([best.m[0], best.rule.name!]);
    i = best.at + best.m[0].length;
  }
  return out;
}

describe("the TextMate grammar for .gan files", () => {
  it("is the one generated from the lexer's keywords and the layer and function tables", () => {
    expect(grammar).toEqual(JSON.parse(JSON.stringify(textMateGrammar())));
  });

  it("gives the seed spec's words the scopes an editor colours", () => {
    expect(scopes('gan "gan"   # the classic GAN')).toEqual([["gan", "keyword.control.gan"], ['"gan"', "string.quoted.double.gan"], ["# the classic GAN", "comment.line.gan"]]);
    expect(scopes("net D(x) {")).toEqual([["net", "keyword.control.gan"], ["D", "entity.name.function.gan"]]);
    expect(scopes("  conv 128 kernel=4 stride=2, batchnorm, lrelu 0.2")).toEqual([
      ["conv", "support.type.layer.gan"], ["128", "constant.numeric.gan"], ["=", "keyword.operator.gan"], ["4", "constant.numeric.gan"],
      ["=", "keyword.operator.gan"], ["2", "constant.numeric.gan"], ["batchnorm", "support.type.layer.gan"], ["lrelu", "support.type.layer.gan"], ["0.2", "constant.numeric.gan"],
    ]);
    expect(scopes("  dense 1 -> logit")).toContainEqual(["logit", "variable.other.tap.gan"]);
    expect(scopes("loss g = bce_logits(D(fake).logit, ones)")).toContainEqual(["bce_logits", "support.function.gan"]);
    expect(scopes("step d: adam(lr=2e-4, beta1=0.5) minimize d over D")).toEqual(
      expect.arrayContaining([["step", "keyword.control.gan"], ["adam", "support.function.gan"], ["2e-4", "constant.numeric.gan"], ["minimize", "keyword.control.gan"], ["over", "keyword.control.gan"]]),
    );
  });
});
