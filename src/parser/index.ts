import { C } from "./codes.ts";
import type { Spec } from "./ast.ts";
import { error, type Diagnostic } from "./diagnostics.ts";
import { parseDsl } from "./dsl/index.ts";
import type { parseYamlSpec } from "./yaml/load.ts";

export interface ParsedSpec {
  readonly spec: Spec | null;
  readonly diagnostics: Diagnostic[];
}

/** Far above any real spec (a 10,000-line spec is about 300 KB), far below what takes long to parse. */
import { MAX_SPEC_CHARS } from "./limits.ts";
export { MAX_SPEC_CHARS };

export function isYamlFile(fileName: string): boolean {
  return /\.(ya?ml)$/i.test(fileName);
}

/**
 * The YAML front end (the yaml and ajv packages and the JSON Schema: half the parser's code) is not
 * imported from here, so that a .gan spec is checked without loading it: it registers itself when
 * src/parser/yaml/load.ts is imported (the library entry src/index.ts and the tools do; the command
 * line awaits loadYamlFrontEnd() for a YAML spec).
 */
let yamlFrontEnd: typeof parseYamlSpec | null = null;

export function useYamlFrontEnd(parse: typeof parseYamlSpec): void {
  yamlFrontEnd = parse;
}

export async function loadYamlFrontEnd(): Promise<void> {
  if (!yamlFrontEnd) await import("./yaml/load.ts");
}

/**
 * Parses a spec in either form, chosen by the file name (`.gan` or `.gan.yaml` / `.yaml` / `.yml`).
 * A YAML spec needs the YAML front end loaded (see useYamlFrontEnd).
 */
export function parseSpec(text: string, fileName: string): ParsedSpec {
  if (text.length > MAX_SPEC_CHARS) {
    const mb = (text.length / 1048576).toFixed(1);
    return { spec: null, diagnostics: [error(C.E0007, `the file is ${mb} MB; a spec may be at most ${MAX_SPEC_CHARS / 1048576} MB (is this really a spec?)`, fileName, { start: 0, end: 0 })] };
  }
  const yaml = isYamlFile(fileName);
  if (yaml && !yamlFrontEnd) throw new Error(`${fileName}: the YAML front end is not loaded (import src/parser/yaml/load.ts, or await loadYamlFrontEnd())`);
  const r = yaml ? yamlFrontEnd!(text, fileName) : parseDsl(text, fileName);
  return { spec: r.value, diagnostics: r.diagnostics };
}
