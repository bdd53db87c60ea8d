/**
 * The function registry (src/functions/index.ts): one file per function, each registered under its own
 * name, documented, with tfjs code that calls only what the runtime exports; the README lists exactly
 * these functions; the runtime that generated trainers import reaches no compiler module.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { FUNCTIONS, NEGATE, OPERATORS, type EmitArgs } from "../../src/functions/index.ts";
import * as rt from "../../src/runtime/index.ts";
import { ROOT } from "../helpers.ts";

const DIR = path.join(ROOT, "src/functions");
/** Files of src/functions that are not a function: the registry, the shared types and rules, operators, shared forms. */
const SUPPORT = new Set(["index.ts", "function.ts", "rules.ts", "operators.ts", "extremum.ts", "fused-mean-of-difference.ts"]);

/** Arguments as placeholder code: a0, a1, ...; operands marked so a test can see how they are read. */
const fakeArgs: EmitArgs = {
  tensor: (i) => `a${i}`,
  operand: (i) => `a${i}`,
  number: (i) => `a${i}`,
  name: (i) => `a${i}`,
  constant: () => 1,
  gradient: () => "rt.gradOf((x) => x, a1)",
  site: () => '"d:1"',
  average: (i) => `avg${i}`,
};

describe("function registry", () => {
  it("has one file per function under src/functions, each registered under its own name", () => {
    const files = fs.readdirSync(DIR).filter((f) => f.endsWith(".ts") && !SUPPORT.has(f));
    const registered = Object.keys(FUNCTIONS).map((n) => `${n.replace(/_/g, "-")}.ts`);
    expect(files.sort()).toEqual([...registered].sort());
    for (const [key, def] of Object.entries(FUNCTIONS)) expect(def.name).toBe(key);
  });

  it("documents every function and each of its arguments", () => {
    for (const def of Object.values(FUNCTIONS)) {
      expect(def.doc.length, def.name).toBeGreaterThan(3);
      expect(def.params.length, def.name).toBeGreaterThan(0);
      for (const p of def.params) expect(p.doc.length, `${def.name}(${p.name})`).toBeGreaterThan(3);
    }
  });

  it("emits code that reads every argument and calls only what the runtime exports", () => {
    const runtime = rt as unknown as Record<string, unknown> & { fused: Record<string, unknown> };
    for (const def of Object.values(FUNCTIONS)) {
      const codes = [def.emit(fakeArgs), ...(def.fused ? [def.fused.emit(fakeArgs, "1")] : [])];
      for (const code of codes) {
        for (const [, fused, name] of code.matchAll(/\brt\.(fused\.)?([A-Za-z]+)\(/g)) {
          expect(typeof (fused ? runtime.fused[name!] : runtime[name!]), `${def.name}: ${code}`).toBe("function");
        }
      }
      const main = codes[0]!;
      // A string argument is a constant the emit reads through `constant` (diffaug's policy).
      if (def.name !== "grad") def.params.forEach((_, i) => i === def.stringArg?.index || expect(main, def.name).toContain(`a${i}`));
    }
    for (const op of [...Object.values(OPERATORS), NEGATE]) expect(op.emit(fakeArgs)).toMatch(/^tf\.\w+\(a0(, a1)?\)$/);
  });

  it("types arguments by its rule: pairwise functions and operators refuse shapes that do not broadcast", () => {
    const img = { batched: true, shape: [28, 28, 1] };
    const perSample = { batched: true, shape: [] };
    for (const def of Object.values(FUNCTIONS).filter((d) => d.broadcasts)) {
      expect(def.type([img, perSample], [null, null]), def.name).toMatch(/^shapes \[batch, 28, 28, 1\] and \[batch\] do not broadcast/);
      expect(typeof def.type([img, { batched: true, shape: [1] }], [null, null]), def.name).toBe("object");
    }
    for (const op of Object.values(OPERATORS)) expect(op.type(perSample, img)).toMatch(/do not broadcast/);
  });

  it("knows the ranges of bounded functions and propagates them through operators", () => {
    expect(FUNCTIONS.sigmoid.range([null])).toEqual({ low: 0, high: 1 });
    expect(FUNCTIONS.tanh.range([null])).toEqual({ low: -1, high: 1 });
    expect(FUNCTIONS.clip.range([null, { low: -0.5, high: -0.5 }, { low: 2, high: 2 }])).toEqual({ low: -0.5, high: 2 });
    expect(OPERATORS["*"].range({ low: -1, high: 1 }, { low: 2, high: 3 })).toEqual({ low: -3, high: 3 });
    expect(OPERATORS["/"].range({ low: 1, high: 2 }, { low: -1, high: 1 })).toBeNull();
    expect(NEGATE.range({ low: 0, high: 1 })).toEqual({ low: -1, high: -0 });
  });
});

it("README's Expressions bullet lists every function the checker accepts, and no other", () => {
  const readme = fs.readFileSync(path.join(ROOT, "README.md"), "utf8");
  const bullet = /^- \*\*Expressions\*\*[\s\S]*?(?=^- \*\*)/m.exec(readme)![0];
  const listed = new Set([...bullet.matchAll(/`([a-z_][a-z0-9_]*)(?:\([^`]*\))?`/g)].map((m) => m[1]!));
  const words = new Set(["ones", "zeros", "batch"]); // the names the bullet lists besides functions
  const accepted = new Set(Object.keys(FUNCTIONS));
  expect([...accepted].filter((f) => !listed.has(f)).sort()).toEqual([]);
  expect([...listed].filter((f) => !accepted.has(f) && !words.has(f)).sort()).toEqual([]);
});

/** Modules a file imports at run time (`import type` and type-only names are erased), resolved to paths. */
function valueImports(file: string): string[] {
  const text = fs.readFileSync(file, "utf8");
  const out: string[] = [];
  for (const m of text.matchAll(/^(?:import|export)\s+(?!type\b)([^;]*?)\s+from\s+"(\.[^"]+)"/gm)) {
    const what = m[1]!;
    if (/^\{[^}]*\}$/.test(what.trim()) && what.replace(/[{}]/g, "").split(",").every((n) => n.trim() === "" || n.trim().startsWith("type "))) continue;
    out.push(path.resolve(path.dirname(file), m[2]!));
  }
  return out;
}

it("the runtime generated trainers import reaches no compiler module (parser, checker, codegen)", () => {
  const seen = new Set<string>();
  const stack = [path.join(ROOT, "src/runtime/index.ts")];
  while (stack.length) {
    const f = stack.pop()!;
    if (seen.has(f)) continue;
    seen.add(f);
    stack.push(...valueImports(f));
  }
  const rel = [...seen].map((f) => path.relative(ROOT, f));
  expect(rel).toContain(path.join("src", "functions", "bce-logits.ts"));
  // codegen/writer.ts is the exception: the layer modules print their code with its pure string helpers
  // (`ident`, `num`), which hold no compiler state and import nothing.
  const writer = path.join("src", "codegen", "writer.ts");
  expect(rel.filter((f) => f !== writer && /^src[\\/](parser|codegen)[\\/]/.test(f))).toEqual([]);
});
