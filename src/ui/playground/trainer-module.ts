import * as tf from "@tensorflow/tfjs";
import { transform } from "sucrase";
import type { SpecInfo } from "../../runtime/run-spec.ts";
import * as rt from "./runtime.ts";

/** A problem the page explains in words (a spec with errors, data it cannot read, a backend it cannot start). */
export class PlaygroundError extends Error {
  override name = "PlaygroundError";
}

/** Evaluates a generated trainer's code with the page's runtime behind its imports. */
export function loadTrainer(code: string): { SPEC: SpecInfo; main(argv: string[]): Promise<number> } {
  // A program's entry point (runIfMain) reads import.meta, which a function body cannot; the page calls main().
  const body = code.replace(/^rt\.runIfMain\(import\.meta\.url, main\);$/m, "");
  const js = transform(body, { transforms: ["typescript", "imports"] }).code;
  const modules: Record<string, unknown> = { "@tensorflow/tfjs": tf, "ganc/runtime": rt };
  const require = (id: string) => {
    if (!(id in modules)) throw new PlaygroundError(`the trainer imports ${id}, which the page does not provide`);
    return modules[id];
  };
  const module = { exports: {} as Record<string, unknown> };
  new Function("require", "exports", "module", js)(require, module.exports, module);
  return module.exports as unknown as { SPEC: SpecInfo; main(argv: string[]): Promise<number> };
}
