/**
 * Writes grammar/gan.tmLanguage.json, the TextMate grammar editors use to highlight .gan files, from the
 * lexer's keywords and the tables of layers and functions (test/parser/textmate.test.ts keeps it in step).
 *
 *   node bin/run-ts.mjs scripts/gen-textmate.ts
 */
import * as fs from "node:fs";
import { FUNCTIONS } from "../src/functions/index.ts";
import { keywords } from "../src/parser/dsl/tokens.ts";
import { DATA_SOURCES, LAYER_ALIASES, LAYERS, NOISE_DISTS, OPTIMIZERS } from "../src/parser/signatures.ts";

const words = (ws: Iterable<string>) => `\\b(?:${[...new Set(ws)].sort().join("|")})\\b`;

export function textMateGrammar(): Record<string, unknown> {
  return {
    $schema: "https://raw.githubusercontent.com/martinring/tmlanguage/master/tmlanguage.json",
    name: "GAN spec",
    scopeName: "source.gan",
    fileTypes: ["gan"],
    patterns: [
      { include: "#comment" },
      { include: "#string" },
      { include: "#declaration" },
      { include: "#keyword" },
      { include: "#layer" },
      { include: "#builtin" },
      { include: "#number" },
      { include: "#tap" },
      { include: "#operator" },
    ],
    repository: {
      comment: { name: "comment.line.gan", match: "(#|//).*$" },
      string: { name: "string.quoted.double.gan", match: '"(?:[^"\\\\]|\\\\.)*"' },
      keyword: { name: "keyword.control.gan", match: words(keywords.map((k) => String(k.PATTERN).replace(/^\/|\\b\/$/g, ""))) },
      declaration: {
        comment: "the name after net, block, loss, state, step, data, noise",
        match: "\\b(net|block|loss|state|step|data|noise)\\s+([A-Za-z_][A-Za-z0-9_]*)",
        captures: { "1": { name: "keyword.control.gan" }, "2": { name: "entity.name.function.gan" } },
      },
      layer: { name: "support.type.layer.gan", match: words([...Object.keys(LAYERS), ...Object.keys(LAYER_ALIASES)]) },
      builtin: {
        name: "support.function.gan",
        match: words([...Object.keys(FUNCTIONS), ...Object.keys(DATA_SOURCES), ...Object.keys(NOISE_DISTS), ...Object.keys(OPTIMIZERS), "clip_weights"]),
      },
      number: { name: "constant.numeric.gan", match: "\\b(?:\\d+\\.?\\d*|\\.\\d+)(?:[eE][+-]?\\d+)?\\b" },
      tap: { match: "(->)\\s*([A-Za-z_][A-Za-z0-9_]*)", captures: { "1": { name: "keyword.operator.tap.gan" }, "2": { name: "variable.other.tap.gan" } } },
      operator: { name: "keyword.operator.gan", match: "[-+*/=]" },
    },
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  fs.writeFileSync(new URL("../grammar/gan.tmLanguage.json", import.meta.url), JSON.stringify(textMateGrammar(), null, 2) + "\n");
}
