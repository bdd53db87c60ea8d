import { createHash } from "node:crypto";
import { generateTrainer } from "./codegen/trainer.ts";
import type { OptSet } from "./codegen/opt.ts";
import { checkSpec } from "./parser/check/index.ts";
import type { ProgramIR } from "./parser/check/ir.ts";
import { hasErrors, type Diagnostic } from "./parser/diagnostics.ts";
import { parseSpec } from "./parser/index.ts";
import { printResolved } from "./codegen/resolved.ts";

export interface CompileResult {
  readonly code: string | null;
  readonly program: ProgramIR | null;
  readonly diagnostics: Diagnostic[];
}

/** Checks a spec (either form) and stops at the first stage with errors; warnings pass through. */
export function checkText(text: string, file: string): { program: ProgramIR | null; diagnostics: Diagnostic[] } {
  const parsed = parseSpec(text, file);
  if (!parsed.spec || hasErrors(parsed.diagnostics)) return { program: null, diagnostics: parsed.diagnostics };
  const checked = checkSpec(parsed.spec, text);
  return { program: checked.program, diagnostics: [...parsed.diagnostics, ...checked.diagnostics] };
}

/** Spec text to trainer source. `source` is the spec path as printed in the generated header. */
export function compileText(text: string, file: string, opts: { source?: string; runtimeImport?: string; passes?: OptSet } = {}): CompileResult {
  const { program, diagnostics } = checkText(text, file);
  if (!program || hasErrors(diagnostics)) return { code: null, program: null, diagnostics };
  const hash = createHash("sha256").update(text.replace(/\r\n?/g, "\n")).digest("hex").slice(0, 16);
  const code = generateTrainer(program, { source: opts.source ?? file, hash, resolved: printResolved(program), runtimeImport: opts.runtimeImport, passes: opts.passes });
  return { code, program, diagnostics };
}
