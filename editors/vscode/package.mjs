#!/usr/bin/env node
// Packages the VS Code extension into a .vsix: bundles src/extension.js with vscode-languageclient
// (esbuild), copies the TextMate grammar and the JSON Schema from grammar/, and writes the zip a .vsix is
// (extension.vsixmanifest, [Content_Types].xml, extension/...) with fflate. No vsce: its 3.x line
// pulls in Azure SDKs for publishing, which packaging does not need.
//
//   node editors/vscode/package.mjs [--out file.vsix]
//
// Prints "skipped: <why>" and exits 0 where a tool it needs (esbuild, fflate, vscode-languageclient) is
// not installed.
import * as fs from "node:fs";
import * as path from "node:path";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "../..");
const require = createRequire(path.join(root, "package.json"));

export async function packageExtension({ out, quiet = false } = {}) {
  const say = (s) => quiet || process.stdout.write(s + "\n");
  const missing = ["esbuild", "fflate", "vscode-languageclient/node"].filter((m) => {
    try {
      require.resolve(m);
      return false;
    } catch {
      return true;
    }
  });
  if (missing.length) {
    say(`skipped: the .vsix is not built because ${missing.join(", ")} ${missing.length === 1 ? "is" : "are"} not installed (npm ci installs the dev dependencies)`);
    return null;
  }
  const esbuild = await import("esbuild");
  const { zipSync, strToU8 } = await import("fflate");
  const manifest = JSON.parse(fs.readFileSync(path.join(here, "package.json"), "utf8"));

  const bundle = await esbuild.build({
    entryPoints: [path.join(here, "src/extension.js")],
    bundle: true,
    platform: "node",
    format: "cjs",
    target: "node18",
    external: ["vscode"],
    nodePaths: [path.join(root, "node_modules")],
    write: false,
    logLevel: "silent",
  });
  const files = {
    "extension/package.json": fs.readFileSync(path.join(here, "package.json")),
    "extension/README.md": fs.readFileSync(path.join(here, "README.md")),
    "extension/language-configuration.json": fs.readFileSync(path.join(here, "language-configuration.json")),
    "extension/dist/extension.js": bundle.outputFiles[0].contents,
    "extension/syntaxes/gan.tmLanguage.json": fs.readFileSync(path.join(root, "grammar/gan.tmLanguage.json")),
    "extension/schemas/gan.schema.json": fs.readFileSync(path.join(root, "grammar/gan.schema.json")),
  };
  const esc = (s) => String(s).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
  const vsixmanifest = `<?xml version="1.0" encoding="utf-8"?>
<PackageManifest Version="2.0.0" xmlns="http://schemas.microsoft.com/developer/vsx-schema/2011" xmlns:d="http://schemas.microsoft.com/developer/vsx-schema-design/2011">
  <Metadata>
    <Identity Language="en-US" Id="${esc(manifest.name)}" Version="${esc(manifest.version)}" Publisher="${esc(manifest.publisher)}" />
    <DisplayName>${esc(manifest.displayName)}</DisplayName>
    <Description xml:space="preserve">${esc(manifest.description)}</Description>
    <Tags>gan,ganc,${esc(manifest.contributes.languages.map((l) => l.id).join(","))}</Tags>
    <Categories>${esc(manifest.categories.join(","))}</Categories>
    <GalleryFlags>Public</GalleryFlags>
    <Properties>
      <Property Id="Microsoft.VisualStudio.Code.Engine" Value="${esc(manifest.engines.vscode)}" />
      <Property Id="Microsoft.VisualStudio.Code.ExtensionDependencies" Value="" />
      <Property Id="Microsoft.VisualStudio.Code.ExtensionPack" Value="" />
      <Property Id="Microsoft.VisualStudio.Code.ExtensionKind" Value="workspace" />
      <Property Id="Microsoft.VisualStudio.Code.LocalizedLanguages" Value="" />
    </Properties>
  </Metadata>
  <Installation>
    <InstallationTarget Id="Microsoft.VisualStudio.Code" />
  </Installation>
  <Dependencies />
  <Assets>
    <Asset Type="Microsoft.VisualStudio.Code.Manifest" Path="extension/package.json" Addressable="true" />
    <Asset Type="Microsoft.VisualStudio.Services.Content.Details" Path="extension/README.md" Addressable="true" />
  </Assets>
</PackageManifest>
`;
  const types = { ".json": "application/json", ".js": "application/javascript", ".md": "text/markdown", ".vsixmanifest": "text/xml" };
  const contentTypes = `<?xml version="1.0" encoding="utf-8"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">
${Object.entries(types).map(([ext, type]) => `  <Default Extension="${ext}" ContentType="${type}" />`).join("\n")}
</Types>
`;
  // A fixed time: the same sources give the same bytes.
  const mtime = new Date("2020-01-01T00:00:00Z");
  const entries = { "[Content_Types].xml": strToU8(contentTypes), "extension.vsixmanifest": strToU8(vsixmanifest), ...files };
  const zip = zipSync(Object.fromEntries(Object.entries(entries).map(([name, data]) => [name, [data instanceof Uint8Array ? data : new Uint8Array(data), { mtime }]])), { level: 9 });
  const file = out ?? path.join(here, `${manifest.name}-${manifest.version}.vsix`);
  fs.writeFileSync(file, zip);
  say(`wrote ${path.relative(process.cwd(), file) || file} (${(zip.length / 1024).toFixed(0)} KB)`);
  return file;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const i = process.argv.indexOf("--out");
  await packageExtension({ out: i > 0 ? path.resolve(process.argv[i + 1]) : undefined });
}
