/** The layer names and aliases the checker accepts are exactly the ones the README's layer table lists. */
import * as fs from "node:fs";
import { expect, it } from "vitest";
import { LAYER_ALIASES, LAYERS } from "../../src/parser/signatures.ts";

it("README lists every layer and alias the checker accepts, and no other", () => {
  const readme = fs.readFileSync(new URL("../../README.md", import.meta.url), "utf8");
  // The table's first column: `name`, `alias`, ...
  const table = /^<!-- layer table:[^\n]*\n([\s\S]*?)\n<!-- end of layer table -->/m.exec(readme)![1]!;
  const firstColumns = table.split("\n").slice(2).map((row) => row.split("|")[1]!);
  const listed = new Set(firstColumns.flatMap((c) => [...c.matchAll(/`([a-z_][A-Za-z0-9_]*)`/g)].map((m) => m[1]!)));
  const accepted = new Set([...Object.keys(LAYERS), ...Object.keys(LAYER_ALIASES)]);
  expect([...accepted].filter((a) => !listed.has(a)).sort()).toEqual([]);
  expect([...listed].filter((a) => !accepted.has(a)).sort()).toEqual([]);
});
