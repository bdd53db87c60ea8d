/**
 * Allowing a warning knowingly: a comment directive, the same in `.gan` and `.gan.yaml` (both have `#`
 * comments), after Rust's attributes:
 *
 *   #[allow(W0403)] D keeps the reference's batch norm        on a line of its own: the next declaration
 *   loss gp = mean(square(sample_norm(grad(D(xhat).logit, xhat)) - 1))     (or layer) and what is in it
 *
 *   dense 1024, batchnorm   #[allow(W0403)]                   after code: that line
 *   #![allow(W0405)]                                          with `!`: the whole spec
 *
 * The directive starts its comment (`#` at the start of a line or after white space, outside quotes);
 * the rest of the comment is free text, the place to say why. Only the checker's warnings can be allowed: an error
 * code is E0631, a code that does not exist E0630, a directive that does not read `#[allow(CODE, ...)]` E0632.
 * An allow that suppresses nothing (in a spec without errors, where every warning has been looked for)
 * is W0408, so that allows do not outlive the reason for them. W0601, the YAML reader's warning, is
 * reported before the directives are read and cannot be allowed (E0631).
 */
import { C, CATALOG, isCode, type WarningCode } from "../codes.ts";
import type * as A from "../ast.ts";
import { error, hasErrors, suggest, warning, type Diagnostic } from "../diagnostics.ts";

interface Directive {
  /** The allowed codes and where each is written. */
  readonly codes: { readonly code: WarningCode; readonly span: A.Span; used: boolean }[];
  /** The text the directive covers (null: nothing follows it), and how to say it. */
  readonly scope: A.Span | null;
  readonly where: "the spec" | "the declaration that follows it" | "its line";
}

/** W0601 is the YAML reader's, reported before a spec's directives are read: fix the YAML instead. */
const READER_WARNINGS = new Set(["W0601"]);
const WARNINGS = Object.keys(CATALOG)
  .filter((c) => c.startsWith("W") && !READER_WARNINGS.has(c))
  .sort();
const DIRECTIVE = /^#(!?)\[allow\(([^()[\]\r\n]*)\)\]/;

/**
 * The spec's allow directives applied to `diags` (the checker's): the warnings they allow are removed,
 * and the directives' own diagnostics added. `diags` is returned as it is when the text has none.
 */
export function applyAllows(spec: A.Spec, text: string, diags: readonly Diagnostic[]): Diagnostic[] {
  if (!text.includes("[allow")) return [...diags];
  const file = spec.file;
  const own: Diagnostic[] = [];
  const directives: Directive[] = [];
  let targets: A.Span[] | null = null;
  for (const at of directiveStarts(text, /\.ya?ml$/i.test(file))) {
    const lineStart = Math.max(text.lastIndexOf("\n", at - 1), text.lastIndexOf("\r", at - 1)) + 1;
    let lineEnd = text.slice(at).search(/[\r\n]/);
    lineEnd = lineEnd < 0 ? text.length : at + lineEnd;
    const m = DIRECTIVE.exec(text.slice(at, lineEnd));
    if (!m || !m[2]!.trim()) {
      const rest = text.slice(at, lineEnd);
      const close = rest.indexOf("]");
      const end = close >= 0 ? at + close + 1 : at + rest.trimEnd().length;
      own.push(error(C.E0632, "an allow directive reads #[allow(W0403)] (several codes: #[allow(W0403, W0405)]; for the whole spec: #![allow(W0403)])", file, { start: at, end }));
      continue;
    }
    const codes: Directive["codes"] = [];
    const listStart = at + m[0].indexOf("(") + 1;
    for (const part of m[2]!.matchAll(/[^,]+/g)) {
      const word = part[0].trim();
      const start = listStart + part.index! + part[0].indexOf(word);
      const span = { start, end: start + word.length };
      if (!word) continue;
      const code = word.toUpperCase();
      if (isCode(code) && code.startsWith("E")) {
        own.push(error(C.E0631, `${code} is an error, and errors cannot be allowed: a spec with an error is not compiled; only warnings can be (${WARNINGS.join(", ")})`, file, span));
        continue;
      }
      if (READER_WARNINGS.has(code)) {
        own.push(error(C.E0631, `${code} is reported while the YAML is read, before any directive is, so it cannot be allowed: write the YAML the standard way`, file, span));
        continue;
      }
      if (!isCode(code) || word !== code) {
        const s = suggest(code, WARNINGS);
        own.push(error(C.E0630, `unknown warning code '${word}'${s ? `; did you mean '${s}'?` : ` (warnings: ${WARNINGS.join(", ")})`}`, file, span));
        continue;
      }
      codes.push({ code: code as WarningCode, span, used: false });
    }
    if (m[1] === "!") {
      directives.push({ codes, scope: { start: 0, end: text.length }, where: "the spec" });
    } else if (text.slice(lineStart, at).trim() === "") {
      // On a line of its own: the first declaration or layer that starts after it, and all that is in it.
      targets ??= declarationsAndLayers(spec);
      let next: A.Span | null = null;
      for (const t of targets) if (t.start >= lineEnd && (!next || t.start < next.start || (t.start === next.start && t.end > next.end))) next = t;
      directives.push({ codes, scope: next, where: "the declaration that follows it" });
    } else {
      directives.push({ codes, scope: { start: lineStart, end: lineEnd }, where: "its line" });
    }
  }
  const kept = diags.filter((d) => {
    if (d.severity !== "warning") return true;
    let allowed = false;
    for (const dir of directives) {
      if (!dir.scope || d.span.start < dir.scope.start || d.span.start > dir.scope.end) continue;
      for (const c of dir.codes) {
        if (c.code !== d.code) continue;
        c.used = true;
        allowed = true;
      }
    }
    return !allowed;
  });
  // Warnings are looked for only once a spec has no errors: before that, an unused allow may not be.
  if (!hasErrors(kept) && !hasErrors(own)) {
    for (const dir of directives) {
      for (const c of dir.codes) {
        if (!c.used) own.push(warning(C.W0408, `allow(${c.code}) allows nothing: ${dir.scope ? `there is no ${c.code} warning in ${dir.where}` : "no declaration follows it"}; remove it`, file, c.span));
      }
    }
  }
  return [...kept, ...own];
}

/** Where each directive's `#` is: the `#` that starts a comment (not one inside quotes or a comment). */
export function* directiveStarts(text: string, yaml: boolean): Generator<number> {
  for (let i = text.indexOf("[allow"); i >= 0; i = text.indexOf("[allow", i + 1)) {
    const hash = text[i - 1] === "#" ? i - 1 : text[i - 1] === "!" && text[i - 2] === "#" ? i - 2 : -1;
    if (hash < 0) continue;
    const lineStart = Math.max(text.lastIndexOf("\n", hash - 1), text.lastIndexOf("\r", hash - 1)) + 1;
    if (hash > lineStart && !/[ \t]/.test(text[hash - 1]!)) continue;
    if (commentOrQuoteBefore(text.slice(lineStart, hash), yaml)) continue;
    yield hash;
  }
}

/** Whether a line's text up to a `#` already opened a comment (`#`, and `//` in .gan) or leaves a quote open. */
function commentOrQuoteBefore(prefix: string, yaml: boolean): boolean {
  let quote: string | null = null;
  for (let i = 0; i < prefix.length; i++) {
    const ch = prefix[i]!;
    if (quote) {
      if (ch === "\\" && quote === '"') i++;
      else if (ch === quote) quote = null;
    } else if (ch === '"' || ch === "'") quote = ch;
    else if (ch === "#" && (i === 0 || /[ \t]/.test(prefix[i - 1]!))) return true;
    else if (!yaml && ch === "/" && prefix[i + 1] === "/") return true;
  }
  return quote !== null;
}

function declarationsAndLayers(spec: A.Spec): A.Span[] {
  const out: A.Span[] = [];
  for (const d of spec.decls) {
    out.push(d.span);
    if (d.kind === "Net" || d.kind === "Block") for (const l of d.layers) out.push(l.span);
  }
  return out;
}
