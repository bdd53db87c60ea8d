import type { Spec } from "../ast.ts";
import { error, type Diagnostic } from "../diagnostics.ts";

export function parseYamlSpec(_text: string, file: string): { value: Spec | null; diagnostics: Diagnostic[] } {
  return { value: null, diagnostics: [error("E0600", "YAML specs are not supported yet", file, { start: 0, end: 0 })] };
}
