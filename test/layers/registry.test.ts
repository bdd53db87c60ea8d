import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { layerTable, readmeText, schemaText } from "../../scripts/gen-layers.ts";
import { FUSED_OPS, LAYER_MODULES, layerModule, type LayerKind } from "../../src/layers/index.ts";
import { LAYER_ALIASES, LAYERS } from "../../src/parser/signatures.ts";
import { ROOT } from "../helpers.ts";

const read = (f: string) => fs.readFileSync(path.join(ROOT, f), "utf8");
const kinds = Object.keys(LAYER_MODULES) as LayerKind[];

describe("the layer registry", () => {
  it("registers every layer module in src/layers/, under its own kind", async () => {
    const dir = path.join(ROOT, "src/layers");
    const found: string[] = [];
    for (const f of fs.readdirSync(dir).filter((x) => x.endsWith(".ts"))) {
      const mod = (await import(path.join(dir, f))) as Record<string, unknown>;
      for (const v of Object.values(mod)) {
        if (typeof v !== "object" || v === null || !("kind" in v) || !("check" in v) || !("export" in v)) continue;
        const kind = (v as { kind: string }).kind;
        found.push(kind);
        expect((LAYER_MODULES as Record<string, unknown>)[kind], `${f} exports layer '${kind}', which src/layers/index.ts does not register`).toBe(v);
      }
    }
    expect(found.sort()).toEqual([...kinds].sort());
  });

  it("gives the front ends their signatures and names: every kind and alias, no name twice", () => {
    expect(Object.keys(LAYERS)).toEqual(kinds);
    for (const k of kinds) expect(LAYERS[k]!.params).toEqual(Object.keys(layerModule(k).params));
    const names = [...kinds, ...kinds.flatMap((k) => layerModule(k).aliases ?? [])];
    expect(new Set(names).size).toBe(names.length);
    expect(Object.keys(LAYER_ALIASES).sort()).toEqual(names.filter((n) => !kinds.includes(n as LayerKind)).sort());
    for (const [a, k] of Object.entries(LAYER_ALIASES)) expect(layerModule(k as LayerKind).aliases).toContain(a);
  });

  it("documents every parameter, and every short name stands for a parameter", () => {
    for (const k of kinds) {
      const m = layerModule(k);
      for (const [p, doc] of Object.entries(m.params)) expect(doc.length, `${k}.${p}`).toBeGreaterThan(0);
      for (const [short, p] of Object.entries(m.paramAliases ?? {})) expect(Object.keys(m.params), `${k}: ${short}`).toContain(p);
    }
  });

  it("has one fused runtime op for each op name a fused form writes", () => {
    for (const k of kinds) {
      const f = layerModule(k).fused;
      if (f === null || f === "identity") continue;
      expect(FUSED_OPS.get(f.runtime.op), k).toBe(f.runtime);
    }
  });
});

describe("what derives from the registry", () => {
  it("grammar/gan.schema.json's layer part is the generated one (node bin/run-ts.mjs scripts/gen-layers.ts)", () => {
    const current = read("grammar/gan.schema.json");
    expect(schemaText(current)).toBe(current);
  });

  it("README.md's layer table is the generated one", () => {
    const current = read("README.md");
    expect(readmeText(current)).toBe(current);
    for (const k of kinds) expect(layerTable()).toContain(`| \`${k}\``);
  });
});

describe("the two halves of a layer module", () => {
  /** Source files (relative to the root) and packages that bundling `entry` pulls in. */
  async function inputsOf(entry: string): Promise<string[]> {
    const esbuild = await import("esbuild");
    const r = await esbuild.build({
      entryPoints: [path.join(ROOT, entry)],
      bundle: true,
      platform: "node",
      format: "esm",
      write: false,
      metafile: true,
      logLevel: "silent",
      external: ["@node-rs/*", "tsx"],
      plugins: [{ name: "mark-tfjs", setup: (b) => b.onResolve({ filter: /^@tensorflow\// }, (a) => ({ path: `tfjs:${a.path}`, external: true })) }],
    });
    const ext = Object.values(r.metafile.outputs).flatMap((o) => o.imports.filter((i) => i.external).map((i) => i.path));
    return [...Object.keys(r.metafile.inputs).map((f) => path.relative(ROOT, path.resolve(ROOT, f))), ...ext];
  }

  it("the registry loads no tfjs and no parser (ganc check loads it; so does the runtime)", async () => {
    const ins = await inputsOf("src/layers/index.ts");
    expect(ins.filter((f) => f.startsWith("tfjs:"))).toEqual([]);
    expect(ins.filter((f) => f.startsWith("src/parser/") || /chevrotain|ajv|node_modules\/yaml/.test(f))).toEqual([]);
    expect(ins).toContain("src/layers/dense.ts");
  });

  it("the runtime trainers import reaches the layer modules, but not the parser", async () => {
    const ins = await inputsOf("src/runtime/index.ts");
    expect(ins).toContain("src/layers/index.ts");
    expect(ins.some((f) => f.startsWith("tfjs:")), "the runtime loads tfjs: the check above can see it").toBe(true);
    expect(ins.filter((f) => f.startsWith("src/parser/") || /chevrotain|ajv|node_modules\/yaml/.test(f))).toEqual([]);
  });
});
