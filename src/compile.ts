import { specHash } from "./spec-hash.ts";
import { generateTrainer } from "./codegen/trainer.ts";
import type { OptSet } from "./codegen/opt.ts";
import type { ProgramIR } from "./ir/types.ts";
import { hasErrors, type Diagnostic } from "./parser/diagnostics.ts";
import { isYamlFile } from "./parser/index.ts";
import { printResolved } from "./codegen/resolved.ts";
import { checkText } from "./check.ts";
import { generatePyTrainer, type PyRefusal } from "./codegen/pytorch/trainer.ts";
import { error } from "./parser/diagnostics.ts";
import { C } from "./parser/codes.ts";

/** What `ganc compile` writes: a TypeScript trainer for TensorFlow.js (the default), or a Python one for PyTorch. */
export type Target = "tfjs" | "pytorch";
export const TARGETS: readonly Target[] = ["tfjs", "pytorch"];

export { checkText };

export interface CompileResult {
  readonly code: string | null;
  readonly program: ProgramIR | null;
  readonly diagnostics: Diagnostic[];
}

/**
 * The resolved spec (`ganc check --resolved`): the spec in its own form with every default written out and
 * shapes as comments; null when the spec has errors.
 */
export function resolvedText(text: string, file: string): string | null {
  const { program, spec, diagnostics } = checkText(text, file);
  if (!program || !spec || hasErrors(diagnostics)) return null;
  return printResolved(spec, program, text, isYamlFile(file) ? "yaml" : "dsl");
}

/** Spec text to trainer source. `source` is the spec path as printed in the generated header. */
export function compileText(text: string, file: string, opts: { source?: string; runtimeImport?: string; passes?: OptSet; target?: Target } = {}): CompileResult {
  const { program, spec, diagnostics } = checkText(text, file);
  if (!program || !spec || hasErrors(diagnostics)) return { code: null, program: null, diagnostics };
  if (opts.target === "pytorch") {
    const py = generatePyTrainer(program, { source: opts.source ?? file, hash: specHash(text), text, specFile: isYamlFile(file) ? "spec.gan.yaml" : "spec.gan" });
    if (py.code !== null) return { code: py.code, program, diagnostics };
    return { code: null, program: null, diagnostics: [...diagnostics, ...refusalDiagnostics(py.refusals, text, file)] };
  }
  const resolved = printResolved(spec, program, text, isYamlFile(file) ? "yaml" : "dsl");
  const code = generateTrainer(program, { source: opts.source ?? file, hash: specHash(text), resolved, runtimeImport: opts.runtimeImport, passes: opts.passes });
  return { code, program, diagnostics };
}

/** E0240 for each construct the PyTorch target refuses, at its line (a layer of a block: at the instance, with a note inside the block). */
export function refusalDiagnostics(refusals: readonly PyRefusal[], text: string, file: string): Diagnostic[] {
  return refusals.map((r) =>
    error(C.E0240, `not supported by the pytorch target yet: ${r.message}`, file, lineSpan(text, r.line), r.note ? [{ message: r.note.message, file, span: lineSpan(text, r.note.line) }] : []),
  );
}

/** The span of a line's text, without its indentation and line end (1-based line). */
function lineSpan(text: string, line: number): { start: number; end: number } {
  let start = 0;
  for (let l = 1; l < line; l++) {
    const nl = text.indexOf("\n", start);
    if (nl < 0) break;
    start = nl + 1;
  }
  let end = text.indexOf("\n", start);
  if (end < 0) end = text.length;
  while (end > start && /\s/.test(text[end - 1]!)) end--;
  while (start < end && /[ \t]/.test(text[start]!)) start++;
  return { start, end };
}
