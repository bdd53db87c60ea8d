import type { Spec } from "./ast.ts";
import type { Diagnostic } from "./diagnostics.ts";
import { parseDsl } from "./dsl/index.ts";
import { parseYamlSpec } from "./yaml/load.ts";

export interface ParsedSpec {
  readonly spec: Spec | null;
  readonly diagnostics: Diagnostic[];
}

export function isYamlFile(fileName: string): boolean {
  return /\.(ya?ml)$/i.test(fileName);
}

/** Parses a spec in either form, chosen by the file name (`.gan` or `.gan.yaml` / `.yaml` / `.yml`). */
export function parseSpec(text: string, fileName: string): ParsedSpec {
  const r = isYamlFile(fileName) ? parseYamlSpec(text, fileName) : parseDsl(text, fileName);
  return { spec: r.value, diagnostics: r.diagnostics };
}
