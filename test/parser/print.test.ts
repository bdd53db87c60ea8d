import * as fs from "node:fs";
import * as path from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { stripSpans, type Decl, type Spec } from "../../src/parser/ast.ts";
import { parseSpec } from "../../src/parser/index.ts";
import { printDsl, printExpr, printYaml } from "../../src/parser/print.ts";
import { parseExpression } from "../../src/parser/dsl/index.ts";

const specsDir = path.resolve(__dirname, "../../specs");
const specs = fs.readdirSync(specsDir).filter((f) => /\.gan(\.yaml)?$/.test(f)).sort();

/** The YAML form groups declarations by section; compare as sets ordered by kind and name (see yaml.test.ts). */
function canonical(spec: Spec) {
  const key = (d: Decl) => `${d.kind}:${"name" in d ? d.name.name : d.kind === "After" ? d.step.name : ""}`;
  const decls = [...spec.decls].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
  return stripSpans({ ...spec, decls });
}

function parse(text: string, file: string): Spec {
  const r = parseSpec(text, file);
  expect(r.diagnostics, `${file}:\n${text}`).toEqual([]);
  return r.spec!;
}

describe("printing a spec in either form", () => {
  it.each(specs)("%s prints as .gan and as YAML, and both read back to the same AST", (f) => {
    const spec = parse(fs.readFileSync(path.join(specsDir, f), "utf8"), f);
    const dsl = printDsl(spec);
    expect(stripSpans(parse(dsl, "x.gan"))).toEqual(stripSpans({ ...spec, file: "x.gan" }));
    const yaml = printYaml(spec);
    expect(canonical(parse(yaml, "x.gan.yaml"))).toEqual(canonical({ ...spec, file: "x.gan.yaml" }));
    // Printing is stable: the printed form prints to itself.
    expect(printDsl(parse(dsl, "x.gan"))).toBe(dsl);
  });

  it("prints expressions with the parentheses precedence needs and no more", () => {
    for (const [src, want] of [
      ["a - (b - c)", "a - (b - c)"],
      ["(a - b) - c", "a - b - c"],
      ["(a + b) * c", "(a + b) * c"],
      ["a * (b / c)", "a * (b / c)"],
      ["-(a + b)", "-(a + b)"],
      ["-a * b", "-a * b"],
      ["D(x).logit - mean(D(G(z)).logit)", "D(x).logit - mean(D(G(z)).logit)"],
      ["(D(x)).logit", "D(x).logit"],
      ["2e-4 * 1000", "2e-4 * 1000"],
    ]) {
      expect(printExpr(parseExpression(src!, "e").value!)).toBe(want);
    }
  });

  it("round-trips random arithmetic expressions (property)", () => {
    const leaf = fc.oneof(fc.constantFrom("a", "b", "k"), fc.integer({ min: 0, max: 99 }).map(String));
    const expr: fc.Arbitrary<string> = fc.letrec((tie) => ({
      e: fc.oneof({ depthSize: "small" }, leaf, fc.tuple(tie("e"), fc.constantFrom("+", "-", "*", "/"), tie("e")).map(([l, o, r]) => `(${l} ${o} ${r})`), tie("e").map((x) => `-(${x})`), tie("e").map((x) => `mean(${x})`)),
    })).e as fc.Arbitrary<string>;
    fc.assert(
      fc.property(expr, (src) => {
        const tree = parseExpression(src, "e").value!;
        const printed = printExpr(tree);
        expect(stripSpans(parseExpression(printed, "e").value)).toEqual(stripSpans(tree));
      }),
      { numRuns: 300 },
    );
  });
});
