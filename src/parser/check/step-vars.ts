import type * as A from "../ast.ts";
import { C } from "../codes.ts";
import { error, type Diagnostic } from "../diagnostics.ts";
import type { ProgramIR } from "../../ir/types.ts";

/** E0511: every step trains something; a step whose nets have no trainable variable has nothing to update. */
export function checkStepsTrainSomething(p: ProgramIR, spec: A.Spec, diags: Diagnostic[]): void {
  for (const s of p.steps) {
    const trainable = s.nets.some((n) => p.nets.find((x) => x.name === n)?.vars.some((v) => v.trainable));
    if (trainable) continue;
    const decl = spec.decls.find((d): d is A.StepDecl => d.kind === "Step" && d.name.name === s.name);
    if (!decl) continue;
    const over = s.nets.length === 1 ? `net ${s.nets[0]} has` : `nets ${s.nets.join(", ")} have`;
    const notes = s.nets.flatMap((n) => {
      const nd = spec.decls.find((d): d is A.NetDecl => d.kind === "Net" && d.name.name === n);
      return nd ? [{ message: `net ${n} has only layers without weights`, file: spec.file, span: nd.name.span }] : [];
    });
    diags.push(error(C.E0511, `step '${s.name}' trains nothing: ${over} no trainable variables; add a layer with weights (dense, conv, deconv, batchnorm, layernorm) or remove the step`, spec.file, decl.name.span, notes));
  }
}
