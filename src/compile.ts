import { specHash } from "./spec-hash.ts";
import { generateTrainer } from "./codegen/trainer.ts";
import type { OptSet } from "./codegen/opt.ts";
import { checkSpec } from "./parser/check/index.ts";
import type { ProgramIR } from "./ir/types.ts";
import { hasErrors, type Diagnostic } from "./parser/diagnostics.ts";
import { isYamlFile, parseSpec } from "./parser/index.ts";
import type { Spec } from "./parser/ast.ts";
import { printResolved } from "./codegen/resolved.ts";

export interface CompileResult {
  readonly code: string | null;
  readonly program: ProgramIR | null;
  readonly diagnostics: Diagnostic[];
}

/** Checks a spec (either form) and stops at the first stage with errors; warnings pass through. */
export function checkText(text: string, file: string): { program: ProgramIR | null; spec: Spec | null; diagnostics: Diagnostic[] } {
  const parsed = parseSpec(text, file);
  if (!parsed.spec || hasErrors(parsed.diagnostics)) return { program: null, spec: parsed.spec, diagnostics: parsed.diagnostics };
  const checked = checkSpec(parsed.spec, text);
  return { program: checked.program, spec: parsed.spec, diagnostics: [...parsed.diagnostics, ...checked.diagnostics] };
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
