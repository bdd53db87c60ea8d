/** The ganc library: front end, checker and code generator. */
import "./parser/yaml/load.ts"; // both forms of spec (the command line loads the YAML front end only for YAML specs)
export { parseSpec, isYamlFile } from "./parser/index.ts";
export { checkSpec } from "./parser/check/index.ts";
export { checkText, compileText, type CompileResult } from "./compile.ts";
export { generateTrainer } from "./codegen/trainer.ts";
export { formatDiagnostic, toJson, SourceText, type Diagnostic, type JsonDiagnostic } from "./parser/diagnostics.ts";
export type * from "./parser/ast.ts";
export type { ProgramIR } from "./ir/types.ts";
