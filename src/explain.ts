/** `ganc explain CODE`: the catalog entry of a diagnostic code, as `rustc --explain` prints one. */
import { CATALOG, isCode, type Example } from "./parser/codes.ts";
import { suggest } from "./parser/diagnostics.ts";

function block(ex: Example): string {
  const text = (ex.shown ?? ex.text).replace(/\n+$/, "");
  const where = ex.whole ? "the whole file" : "in a spec";
  const form = ex.yaml ? "YAML" : ".gan";
  return `(${form}, ${where})\n\n` + text.split("\n").map((l) => (l ? `    ${l}` : "")).join("\n");
}

/** The entry as text, or null for a code that is not in the catalog. */
export function explain(code: string): string | null {
  const c = code.trim().toUpperCase();
  if (!isCode(c)) return null;
  const info = CATALOG[c];
  const out = [`${c}: ${info.title}`, "", info.explanation];
  if ("wrong" in info) out.push("", `Wrong ${block(info.wrong)}`, "", `Right ${block(info.right)}`);
  if ("noExample" in info) out.push("", `No example: ${info.noExample}.`);
  return out.join("\n") + "\n";
}

/** The one-line usage error for a code that is not in the catalog, with the nearest code if one is close. */
export function unknownCode(code: string): string {
  const c = code.trim().toUpperCase();
  const s = /^[EW]?\d{1,4}$/.test(c) ? nearestCode(c) : suggest(c, Object.keys(CATALOG));
  return `unknown diagnostic code '${code}'${s ? `; did you mean ${s}?` : ""} (codes look like E0113 or W0401)`;
}

/** A code written without its letter or zeros (`113`, `E113`), or the numerically nearest code (within 10). */
function nearestCode(c: string): string | null {
  const n = Number(c.replace(/^[EW]/, ""));
  const letters = c.startsWith("W") ? ["W", "E"] : ["E", "W"];
  for (const l of letters) {
    const exact = l + String(n).padStart(4, "0");
    if (isCode(exact)) return exact;
  }
  let best: string | null = null;
  for (const k of Object.keys(CATALOG)) {
    const d = Math.abs(Number(k.slice(1)) - n);
    if (k[0] === letters[0] && d <= 10 && (best === null || d < Math.abs(Number(best.slice(1)) - n))) best = k;
  }
  return best;
}
