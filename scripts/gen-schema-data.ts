/**
 * Rewrites the `data` part of grammar/gan.schema.json from the data sources' own modules (src/data/):
 * the source names, every parameter with its doc, and one branch per source listing the parameters it
 * takes (test/parser/yaml.test.ts keeps the schema in step with them).
 *
 *   node bin/run-ts.mjs scripts/gen-schema-data.ts
 */
import * as fs from "node:fs";
import { SOURCES } from "../src/data/index.ts";

const FILE = new URL("../grammar/gan.schema.json", import.meta.url);

export function dataSchema(): Record<string, unknown> {
  const sources = Object.entries(SOURCES);
  // One schema per parameter name; where sources document it differently, each says its own.
  const docs = new Map<string, Map<string, string[]>>();
  for (const [name, src] of sources) {
    for (const [p, doc] of Object.entries(src.params)) {
      const byDoc = docs.get(p) ?? new Map<string, string[]>();
      byDoc.set(doc, [...(byDoc.get(doc) ?? []), name]);
      docs.set(p, byDoc);
    }
  }
  const properties: Record<string, unknown> = {
    source: { description: sources.map(([n, s]) => `${n}: ${s.doc}`).join("; "), enum: sources.map(([n]) => n) },
  };
  for (const [p, byDoc] of docs) {
    const description = byDoc.size === 1 ? [...byDoc.keys()][0] : [...byDoc].map(([doc, names]) => `${names.join(", ")}: ${doc}`).join("; ");
    properties[p] = p === "path" ? { type: "string", description: `${description}; taken literally as a string, not as an expression` } : { $ref: "#/definitions/value", description };
  }
  return {
    description: "the data source, keyed by the name expressions use for a real batch, like real: {source: mnist, batch: 64}",
    type: "object",
    propertyNames: { $ref: "#/definitions/name" },
    additionalProperties: {
      description: "a data source and its settings",
      type: "object",
      required: ["source"],
      properties,
      allOf: sources.map(([n, s]) => ({
        if: { properties: { source: { const: n } }, required: ["source"] },
        then: { properties: Object.fromEntries(["source", ...Object.keys(s.params)].map((p) => [p, true])), additionalProperties: false },
      })),
    },
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const schema = JSON.parse(fs.readFileSync(FILE, "utf8"));
  schema.properties.data = dataSchema();
  fs.writeFileSync(FILE, JSON.stringify(schema, null, 2) + "\n");
}
