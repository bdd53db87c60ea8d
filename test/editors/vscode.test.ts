/**
 * The VS Code extension packs into a .vsix (editors/vscode/package.mjs): a zip with the manifest VS Code
 * reads, the extension's package.json, its bundled client, the TextMate grammar and the JSON Schema. The
 * bundled client loads (against a stand-in for the `vscode` module) and starts `ganc lsp --stdio`.
 */
import * as fs from "node:fs";
import { createRequire } from "node:module";
import * as path from "node:path";
import { spawnSync } from "node:child_process";
import { unzipSync, strFromU8 } from "fflate";
import { beforeAll, describe, expect, it } from "vitest";
import { ROOT, tmpDir } from "../helpers.ts";

let files: Record<string, Uint8Array> = {};
let vsix = "";
let output = "";

beforeAll(() => {
  vsix = path.join(tmpDir("ganc-vsix-"), "ganc.vsix");
  const r = spawnSync(process.execPath, ["editors/vscode/package.mjs", "--out", vsix], { cwd: ROOT, encoding: "utf8" });
  output = r.stdout + r.stderr;
  expect(r.status, output).toBe(0);
  if (fs.existsSync(vsix)) files = unzipSync(fs.readFileSync(vsix));
}, 120_000);

const json = (name: string) => JSON.parse(strFromU8(files[name]!)) as Record<string, any>;

describe("the .vsix", () => {
  it("is built (or says why not)", () => {
    if (output.startsWith("skipped:")) {
      console.log(output);
      return;
    }
    expect(output).toMatch(/^wrote .*ganc\.vsix/);
    expect(Object.keys(files).sort()).toEqual([
      "[Content_Types].xml",
      "extension.vsixmanifest",
      "extension/README.md",
      "extension/dist/extension.js",
      "extension/language-configuration.json",
      "extension/package.json",
      "extension/schemas/gan.schema.json",
      "extension/syntaxes/gan.tmLanguage.json",
    ]);
  });

  it("has a manifest that names the extension as its package.json does, and every file the package.json points at", () => {
    if (!files["extension/package.json"]) return;
    const pkg = json("extension/package.json");
    const manifest = strFromU8(files["extension.vsixmanifest"]!);
    expect(manifest).toContain(`<Identity Language="en-US" Id="${pkg.name}" Version="${pkg.version}" Publisher="${pkg.publisher}" />`);
    expect(manifest).toContain(`<Property Id="Microsoft.VisualStudio.Code.Engine" Value="${pkg.engines.vscode}" />`);
    expect(strFromU8(files["[Content_Types].xml"]!)).toContain('Extension=".js"');
    const at = (p: string) => `extension/${p.replace(/^\.\//, "")}`;
    expect(files[at(pkg.main)]).toBeDefined();
    for (const l of pkg.contributes.languages) expect(files[at(l.configuration)], l.configuration).toBeDefined();
    for (const g of pkg.contributes.grammars) expect(files[at(g.path)], g.path).toBeDefined();
    for (const y of pkg.contributes.yamlValidation) expect(files[at(y.url)], y.url).toBeDefined();
    expect(pkg.contributes.languages[0].extensions).toEqual([".gan"]);
  });

  it("carries the repository's grammar and schema, and a language configuration that parses", () => {
    if (!files["extension/package.json"]) return;
    expect(json("extension/syntaxes/gan.tmLanguage.json")).toEqual(JSON.parse(fs.readFileSync(path.join(ROOT, "grammar/gan.tmLanguage.json"), "utf8")));
    expect(json("extension/schemas/gan.schema.json")).toEqual(JSON.parse(fs.readFileSync(path.join(ROOT, "grammar/gan.schema.json"), "utf8")));
    expect(json("extension/language-configuration.json").comments).toEqual({ lineComment: "#" });
  });

  it("bundles a client that loads (vscode-languageclient inside it) and starts ganc with 'lsp --stdio' for .gan and .gan.yaml documents", async () => {
    if (!files["extension/dist/extension.js"]) return;
    const file = path.join(path.dirname(vsix), "extension.js");
    fs.writeFileSync(file, files["extension/dist/extension.js"]!);
    const Module = createRequire(import.meta.url)("node:module") as { _load: (req: string, ...rest: unknown[]) => unknown };
    // A stand-in for VS Code's API: every property is a callable, constructible object.
    const any: any = new Proxy(function () {}, { get: (_t, k) => (k === "then" ? undefined : k === Symbol.toPrimitive ? () => "" : any), apply: () => any, construct: () => any });
    const vscode = new Proxy({}, { get: (_t, k) => (k === "workspace" ? { getConfiguration: () => ({ get: (key: string) => (key === "path" ? "/opt/ganc/bin/ganc" : undefined) }), workspaceFolders: [] } : any) });
    const load = Module._load;
    Module._load = function (req: string, ...rest: unknown[]) {
      return req === "vscode" ? vscode : load.call(this, req, ...rest);
    };
    try {
      const ext = createRequire(file)(file) as { activate: (ctx: unknown) => Promise<void>; deactivate: () => Promise<void> };
      expect(typeof ext.activate).toBe("function");
      expect(typeof ext.deactivate).toBe("function");
      const src = strFromU8(files["extension/dist/extension.js"]!);
      // The client library is in the bundle, not required at run time.
      expect(src).not.toMatch(/require\("vscode-languageclient/);
      expect(src).toContain('args: ["lsp", "--stdio"]');
      expect(src).toContain('pattern: "**/*.gan.{yaml,yml}"');
    } finally {
      Module._load = load;
    }
  });
});

describe("semantic highlighting", () => {
  it("the extension declares each token type of the server's legend that LSP does not define, with a standard super type", async () => {
    const { SemanticTokenTypes } = await import("vscode-languageserver/node.js");
    const { TOKEN_TYPES } = await import("../../src/lsp/semantic.ts");
    const standard = new Set<string>(Object.values(SemanticTokenTypes));
    const own = TOKEN_TYPES.filter((t) => !standard.has(t));
    expect(own).toEqual(["loss"]);
    const manifest = JSON.parse(fs.readFileSync(path.join(ROOT, "editors/vscode/package.json"), "utf8")) as { contributes: { semanticTokenTypes: { id: string; superType: string }[] } };
    const declared = manifest.contributes.semanticTokenTypes;
    expect(declared.map((t) => t.id).sort()).toEqual([...own].sort());
    for (const t of declared) expect(standard.has(t.superType)).toBe(true);
  });
});
