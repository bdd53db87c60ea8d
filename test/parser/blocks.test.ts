/**
 * Blocks and named values in the checker: instances expand with their own variables and shapes, nested
 * instances nest their names, flags drop layers, and both spec forms give the same tree.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { stripSpans } from "../../src/parser/ast.ts";
import { checkSpec } from "../../src/parser/check/index.ts";
import { completeExample } from "../../src/parser/codes.ts";
import { parseSpec } from "../../src/parser/index.ts";
import { ROOT } from "../helpers.ts";

function check(text: string) {
  const full = completeExample({ text });
  const parsed = parseSpec(full, "blocks.gan");
  expect(parsed.diagnostics).toEqual([]);
  return checkSpec(parsed.spec!, full);
}

describe("blocks", () => {
  it("each instance has its own variables, named by instance, and its own shapes", () => {
    const r = check("block Mlp(n, act=true) {\n  dense(n) -> h, lrelu 0.2 when=act\n  add(h)\n}\nnet D(x) {\n  Mlp(8), Mlp(4, act=false), Mlp(n=6)\n  dense 1 -> logit\n}");
    expect(r.diagnostics).toEqual([]);
    const d = r.program!.nets.find((n) => n.name === "D")!;
    expect(d.vars.filter((v) => v.name.endsWith("/kernel")).map((v) => [v.name, v.shape])).toEqual([
      ["D/mlp1/dense1/kernel", [2, 8]],
      ["D/mlp2/dense1/kernel", [8, 4]],
      ["D/mlp3/dense1/kernel", [4, 6]],
      ["D/dense1/kernel", [6, 1]],
    ]);
    // act=false drops the activation of the second instance only
    expect(d.layers.filter((l) => l.layer.op === "leakyrelu").map((l) => l.instance)).toEqual(["mlp1", "mlp3"]);
    // the instance's value `h` is its own: mlp2's add reads mlp2/h
    expect(d.layers.filter((l) => l.layer.op === "add").map((l) => (l.layer as unknown as { values: string[] }).values)).toEqual([["mlp1/h"], ["mlp2/h"], ["mlp3/h"]]);
    expect(d.taps).toEqual({ logit: 3 + 2 + 3, out: 3 + 2 + 3 }); // dense, lrelu, add per instance (no lrelu in mlp2)
  });

  it("a value of the net given as an argument is read through the parameter, also by a nested instance", () => {
    const r = check(
      "noise y: categorical(3)\nblock Cond(n, c) {\n  dense(n), cbn(c)\n}\nblock Two(n, c) {\n  Cond(n, c), Cond(n, c=c)\n}\nnet G(z, y) {\n  embed(y, 4) -> e\n  chunk(z, 1, 2), concat(e) -> c1\n  from(z), Cond(8, c1), Two(6, e)\n  dense 2\n}\nfake = G(z, y)",
    );
    expect(r.diagnostics).toEqual([]);
    const g = r.program!.nets.find((n) => n.name === "G")!;
    expect(g.layers.filter((l) => l.layer.op === "cbn").map((l) => [l.instance, (l.layer as unknown as { cond: string }).cond])).toEqual([
      ["cond1", "c1"],
      ["two1/cond1", "e"],
      ["two1/cond2", "e"],
    ]);
    // the maps' input width is the condition's: [2 + 4] for c1, [4] for e
    expect(g.vars.filter((v) => v.name.endsWith("/gain")).map((v) => v.shape)).toEqual([[6, 8], [4, 6], [4, 6]]);
  });

  it("nested instances nest their names; a block's input is the path's value where it starts", () => {
    const r = check("block Res(n) {\n  dense(n), add(input)\n}\nblock Two(n) {\n  Res(n), Res(n)\n}\nnet D(x) {\n  dense 5, Two(5)\n  dense 1 -> logit\n}");
    expect(r.diagnostics).toEqual([]);
    const d = r.program!.nets.find((n) => n.name === "D")!;
    expect(d.vars.map((v) => v.name)).toContain("D/two1/res2/dense1/kernel");
    const adds = d.layers.filter((l) => l.layer.op === "add").map((l) => (l.layer as unknown as { values: string[] }).values[0]);
    expect(adds).toEqual(["two1/res1/input", "two1/res2/input"]);
    // the value a block reads as `input` is kept by the layer before the instance
    expect(d.layers.find((l) => l.name === "dense1")!.values).toEqual(["two1/res1/input"]); // two1 never reads its input
  });

  it("the .gan and YAML forms of the blocks fixture give the same tree", () => {
    const read = (f: string) => {
      const text = fs.readFileSync(path.join(ROOT, f), "utf8");
      const parsed = parseSpec(text, f);
      expect(parsed.diagnostics).toEqual([]);
      return stripSpans(parsed.spec!.decls);
    };
    const gan = read("test/fixtures/graph-blocks.gan");
    expect(JSON.stringify(gan)).toContain('"kind":"Block"');
    expect(read("test/fixtures/graph-blocks.gan.yaml")).toEqual(gan);
  });
});
