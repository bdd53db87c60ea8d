/**
 * Error cases written as the lines they change in a shared base spec (test/errors/base/), so that the
 * ~100 cases that break one line of the seed GAN do not each carry a copy of it:
 *
 *   # a misspelt tap                                  <- the case's comment lines (its description)
 *   @@ seed.gan                                       <- the base, in base/
 *   -loss g = bce_logits(D(fake).logit, ones)        <- hunks: '-' a line of the base, '+' its replacement,
 *   +loss g = bce_logits(D(fake).logits, ones)           ' ' an unchanged line for context
 *
 * The spec the case stands for is its comment lines followed by the base without its own leading
 * comment lines, with each hunk applied. A hunk's '-' and ' ' lines must occur exactly once, in order,
 * in the base as changed by the hunks before it (add context lines until they do); further hunks
 * start with a line "@@". An empty line in a hunk is an empty context line (an editor may strip the
 * space). The expanded text is what the checker sees, so the baselines' code frames show the lines
 * and positions a user of that spec would see.
 */
import * as fs from "node:fs";
import * as path from "node:path";

export const CASE_DIFF_EXT = /\.gan(\.ya?ml)?\.diff$/;

export class CaseDiffError extends Error {}

/** Leading comment lines, then the rest. */
function splitComments(lines: string[]): [string[], string[]] {
  let i = 0;
  while (i < lines.length && lines[i]!.startsWith("#")) i++;
  return [lines.slice(0, i), lines.slice(i)];
}

/** The spec text a `<case>.gan.diff` stands for; `baseDir` holds the bases it names. */
export function expandCaseDiff(diffText: string, caseName: string, baseDir: string): { text: string; base: string } {
  const fail = (why: string) => new CaseDiffError(`${caseName}: ${why}`);
  const lines = diffText.split("\n");
  if (lines.at(-1) === "") lines.pop();
  const [header, rest] = splitComments(lines);
  const m = /^@@ (\S+)$/.exec(rest[0] ?? "");
  if (!m) throw fail(`after the comment lines, expected "@@ <base>" naming a file of ${baseDir}, got ${JSON.stringify(rest[0] ?? "the end")}`);
  const base = m[1]!;
  const baseFile = path.join(baseDir, base);
  if (!fs.existsSync(baseFile)) throw fail(`no base ${baseFile}`);
  const hunks: string[][] = [[]];
  for (const l of rest.slice(1)) {
    if (l === "@@") hunks.push([]);
    else if (l === "" || " -+".includes(l[0]!)) hunks.at(-1)!.push(l === "" ? " " : l);
    else throw fail(`a hunk line starts with ' ', '-' or '+': ${JSON.stringify(l)}`);
  }
  let out = splitComments(fs.readFileSync(baseFile, "utf8").split("\n"))[1];
  hunks.forEach((h, k) => {
    const before = h.filter((l) => l[0] !== "+").map((l) => l.slice(1));
    const after = h.filter((l) => l[0] !== "-").map((l) => l.slice(1));
    if (!h.some((l) => l[0] !== " ")) throw fail(`hunk ${k + 1} changes nothing`);
    if (before.length === 0) throw fail(`hunk ${k + 1} has no '-' or ' ' line to say where it goes`);
    const at: number[] = [];
    for (let i = 0; i + before.length <= out.length; i++) if (before.every((l, j) => out[i + j] === l)) at.push(i);
    if (at.length !== 1) throw fail(`hunk ${k + 1}'s '-' and ' ' lines occur ${at.length} times in ${base} (as changed by the hunks before it); they must occur once: ${at.length ? "add context lines" : "copy them from the base"}`);
    out = [...out.slice(0, at[0]), ...after, ...out.slice(at[0]! + before.length)];
  });
  return { text: [...header, ...out].join("\n"), base };
}
