/**
 * Writes what derives from the layer registry (src/layers/index.ts): the layer part of
 * grammar/gan.schema.json (`definitions.layer.then.properties`, one entry per layer name and alias; the
 * rest of the schema is written by hand) and the layer table of README.md, between its markers.
 * test/layers/registry.test.ts keeps both in step.
 *
 *   node bin/run-ts.mjs scripts/gen-layers.ts
 */
import * as fs from "node:fs";
import { LAYER_MODULES, layerModule, type LayerKind } from "../src/layers/index.ts";

const TAP_DOC = "name this layer's output, readable as net(x).tap";
const WHEN_DOC = "inside a block: keep this layer only in the instances whose flag (true, false or a parameter of the block) is true";

type Json = Record<string, unknown>;

function layerProperties(kind: LayerKind, description: string): Json {
  const m = layerModule(kind);
  const properties: Json = {};
  for (const [p, doc] of Object.entries(m.params)) properties[p.replace("...", "")] = { $ref: "#/definitions/value", description: doc };
  for (const [short, p] of Object.entries(m.paramAliases ?? {})) properties[short] = { $ref: "#/definitions/value", description: `short for ${p}: ${m.params[p]}` };
  properties.tap = { $ref: "#/definitions/name", description: TAP_DOC };
  properties.when = { $ref: "#/definitions/value", description: WHEN_DOC };
  return { description, type: ["object", "null"], properties, additionalProperties: false };
}

/** `definitions.layer.then.properties`: every layer kind, then every alias (described as `kind: doc`). */
export function layerSchema(): Json {
  const kinds = Object.keys(LAYER_MODULES) as LayerKind[];
  const out: Json = {};
  for (const k of kinds) out[k] = layerProperties(k, layerModule(k).doc);
  for (const k of kinds) for (const a of layerModule(k).aliases ?? []) out[a] = layerProperties(k, `${k}: ${layerModule(k).doc}`);
  return out;
}

/** The schema file with its layer part replaced by the registry's. */
export function schemaText(current: string): string {
  const schema = JSON.parse(current) as { definitions: { layer: { then: { properties: Json } } } };
  schema.definitions.layer.then.properties = layerSchema();
  return JSON.stringify(schema, null, 2) + "\n";
}

export const TABLE_BEGIN = "<!-- layer table: generated from src/layers/ by scripts/gen-layers.ts -->";
export const TABLE_END = "<!-- end of layer table -->";

/** The README's table of layer kinds: names, parameters in positional order, what each does. */
export function layerTable(): string {
  const cell = (s: string) => s.replace(/\|/g, "\\|");
  const rows = (Object.keys(LAYER_MODULES) as LayerKind[]).map((k) => {
    const m = layerModule(k);
    const names = [k, ...(m.aliases ?? [])].map((n) => `\`${n}\``).join(", ");
    const params = Object.keys(m.params).map((p) => `\`${p}\``).join(", ") || "-";
    return `| ${names} | ${params} | ${cell(m.doc)} |`;
  });
  return ["| Layer | Parameters | What it does |", "| --- | --- | --- |", ...rows].join("\n");
}

/** README.md with the text between the table's markers replaced. */
export function readmeText(current: string): string {
  const a = current.indexOf(TABLE_BEGIN);
  const b = current.indexOf(TABLE_END);
  if (a < 0 || b < a) throw new Error(`README.md has no layer table markers (${TABLE_BEGIN} ... ${TABLE_END})`);
  return `${current.slice(0, a + TABLE_BEGIN.length)}\n${layerTable()}\n${current.slice(b)}`;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const schema = new URL("../grammar/gan.schema.json", import.meta.url);
  fs.writeFileSync(schema, schemaText(fs.readFileSync(schema, "utf8")));
  const readme = new URL("../README.md", import.meta.url);
  fs.writeFileSync(readme, readmeText(fs.readFileSync(readme, "utf8")));
}
