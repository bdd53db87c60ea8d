/**
 * The checker stores each expression's type, value range and broadcast alignment in the IR, once; the
 * trainer generator lays operands out from `align` alone (it derives no shapes).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { expect, it } from "vitest";
import { generateTrainer } from "../../src/codegen/trainer.ts";
import { checkSpec } from "../../src/parser/check/index.ts";
import type { ExprNode, ProgramIR } from "../../src/ir/types.ts";
import { parseSpec } from "../../src/parser/index.ts";
import { ROOT } from "../helpers.ts";

function program(file: string): ProgramIR {
  const text = fs.readFileSync(path.join(ROOT, file), "utf8");
  const parsed = parseSpec(text, file);
  const r = checkSpec(parsed.spec!, text);
  expect(r.diagnostics.filter((d) => d.severity === "error")).toEqual([]);
  return r.program!;
}

const named = (p: ProgramIR, name: string) => p.nodes[p.values[name]!]!;
const child = (p: ProgramIR, n: ExprNode, side: "a" | "b") => p.nodes[(n as ExprNode & { op: "binary" })[side]]!;

it("a per-sample [1] noise against images: type, ranges and alignment are stored on the nodes", () => {
  const p = program("test/fixtures/wgan-gp-eps1.gan");
  const xhat = named(p, "xhat"); // eps * real + (1 - eps) * fake
  expect(xhat.op).toBe("binary");
  expect(xhat.type).toEqual({ batched: true, shape: [28, 28, 1] });
  const left = child(p, xhat, "a"); // eps * real
  expect(left.align).toEqual([3, null]); // eps, [batch, 1], is laid out as [batch, 1, 1, 1]
  expect(child(p, left, "a").range).toEqual({ low: 0, high: 1 }); // uniform(0, 1)
  expect(child(p, left, "b").range).toEqual({ low: 0, high: 1 }); // MNIST
  expect(left.range).toEqual({ low: 0, high: 1 });
  expect(xhat.align).toEqual([null, null]); // equal shapes
  expect(named(p, "fake").range).toEqual({ low: 0, high: 1 }); // G ends with sigmoid
});

it("the trainer reshapes exactly the operands the checker aligned", () => {
  const p = program("test/fixtures/wgan-gp-eps1.gan");
  const src = (ir: ProgramIR) => generateTrainer(ir, { source: "x.gan", hash: "0", resolved: "" });
  const perSample = /tf\.reshape\([\w.]+, \[-1, 1, 1, 1\]\)/g;
  const aligned = p.nodes.filter((n) => n.align.some((a) => a !== null)).length;
  expect(aligned).toBe(2); // eps * real, (1 - eps) * fake
  expect(src(p).match(perSample)?.length).toBe(aligned);
  // the same program with the alignment taken away: the generator adds no reshape of its own
  const unaligned: ProgramIR = { ...p, nodes: p.nodes.map((n) => ({ ...n, align: n.align.map(() => null) })) };
  expect(src(unaligned).match(perSample)).toBeNull();
});
