import { specHash } from "./spec-hash.ts";
import { generateTrainer } from "./codegen/trainer.ts";
import type { OptSet } from "./codegen/opt.ts";
import type { ProgramIR } from "./ir/types.ts";
import { hasErrors, type Diagnostic } from "./parser/diagnostics.ts";
import { isYamlFile } from "./parser/index.ts";
import { printResolved } from "./codegen/resolved.ts";
import { checkText } from "./check.ts";

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
export function compileText(text: string, file: string, opts: { source?: string; runtimeImport?: string; passes?: OptSet } = {}): CompileResult {
  const { program, spec, diagnostics } = checkText(text, file);
  if (!program || !spec || hasErrors(diagnostics)) return { code: null, program: null, diagnostics };
  const resolved = printResolved(spec, program, text, isYamlFile(file) ? "yaml" : "dsl");
  const code = generateTrainer(program, { source: opts.source ?? file, hash: specHash(text), resolved, runtimeImport: opts.runtimeImport, passes: opts.passes });
  return { code, program, diagnostics };
}
