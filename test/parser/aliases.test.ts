/** The layer names and aliases the checker accepts are exactly the ones the README's Layers bullet lists. */
import * as fs from "node:fs";
import { expect, it } from "vitest";
import { LAYER_ALIASES, LAYERS } from "../../src/parser/signatures.ts";

it("README lists every layer and alias the checker accepts, and no other", () => {
  const readme = fs.readFileSync(new URL("../../README.md", import.meta.url), "utf8");
  const bullet = /^- \*\*Layers\*\*[\s\S]*?(?=^- \*\*)/m.exec(readme)![0];
  const listed = new Set([...bullet.matchAll(/`([a-z_][A-Za-z0-9_]*)(?:\([^`]*\))?`/g)].map((m) => m[1]!));
  const accepted = new Set([...Object.keys(LAYERS), ...Object.keys(LAYER_ALIASES)]);
  const words = new Set(["normal", "valid"]); // argument values named in the bullet
  expect([...accepted].filter((a) => !listed.has(a)).sort()).toEqual([]);
  expect([...listed].filter((a) => !accepted.has(a) && !words.has(a)).sort()).toEqual([]);
});
