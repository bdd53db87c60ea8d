import { checkSpec, type CheckOptions } from "./parser/check/index.ts";
import type { NetIR, ProgramIR } from "./ir/types.ts";
import { hasErrors, type Diagnostic } from "./parser/diagnostics.ts";
import { parseSpec, type ParsedSpec } from "./parser/index.ts";
import type { Spec } from "./parser/ast.ts";

/**
 * Checks a spec (either form) and stops at the first stage with errors; warnings pass through. Apart
 * from compile.ts, so that `ganc check` loads no code generator.
 */
export function checkText(
  text: string,
  file: string,
  /** The parser: parseSpec, or one that gives what it gives faster (the language server's, src/lsp/incremental.ts). */
  parse: (text: string, file: string) => ParsedSpec = parseSpec,
  options: CheckOptions = {},
): { program: ProgramIR | null; spec: Spec | null; diagnostics: Diagnostic[]; nets: readonly NetIR[] } {
  const parsed = parse(text, file);
  if (!parsed.spec || hasErrors(parsed.diagnostics)) return { program: null, spec: parsed.spec, diagnostics: parsed.diagnostics, nets: [] };
  const checked = checkSpec(parsed.spec, text, options);
  return { program: checked.program, spec: parsed.spec, diagnostics: [...parsed.diagnostics, ...checked.diagnostics], nets: checked.nets };
}
