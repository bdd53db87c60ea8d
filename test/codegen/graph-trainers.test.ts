/**
 * Trainers of nets with joins and blocks type-check against the runtime (with noUnusedLocals: a named
 * value no layer reads is not kept), optimized and layer by layer.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { execFileSync } from "node:child_process";
import { expect, it } from "vitest";
import { NO_PASSES } from "../../src/codegen/opt.ts";
import { compileText } from "../../src/compile.ts";
import { ROOT } from "../helpers.ts";

const FIXTURES = ["graph-joins.gan", "graph-blocks.gan"];

it("the trainers of the graph fixtures type-check, optimized and --no-opt", () => {
  fs.mkdirSync(path.join(ROOT, ".cache"), { recursive: true });
  const dir = fs.mkdtempSync(path.join(ROOT, ".cache", "graph-tc-"));
  try {
    fs.mkdirSync(path.join(dir, "trainers"));
    for (const f of FIXTURES) {
      const text = fs.readFileSync(path.join(ROOT, "test/fixtures", f), "utf8");
      for (const [tag, opts] of [["opt", {}], ["noopt", { passes: NO_PASSES }]] as const) {
        const r = compileText(text, `test/fixtures/${f}`, opts);
        expect(r.code, r.diagnostics.map((d) => d.message).join("; ")).not.toBeNull();
        fs.writeFileSync(path.join(dir, "trainers", `${f}-${tag}.ts`), r.code!);
      }
    }
    // The no-opt trainer keeps the values the joins read as locals (not checked by tsc alone).
    expect(fs.readFileSync(path.join(dir, "trainers", "graph-blocks.gan-noopt.ts"), "utf8")).toContain("const up2_main = h;");
    const rel = path.relative(dir, ROOT).split(path.sep).join("/");
    fs.writeFileSync(path.join(dir, "tsconfig.json"), JSON.stringify({ extends: `${rel}/tsconfig.json`, compilerOptions: { noUnusedLocals: true, baseUrl: rel }, include: ["trainers/*.ts"] }));
    const tsc = path.join(ROOT, "node_modules/typescript/bin/tsc");
    let out = "";
    try {
      out = execFileSync(process.execPath, [tsc, "--noEmit", "-p", path.join(dir, "tsconfig.json")], { encoding: "utf8" });
    } catch (e) {
      out = (e as { stdout: string }).stdout;
    }
    expect(out).toBe("");
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}, 120_000);
