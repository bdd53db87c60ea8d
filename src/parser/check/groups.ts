import { C } from "../codes.ts";
import type * as A from "../ast.ts";
import { error, warning, type Diagnostic } from "../diagnostics.ts";
import type { ProgramIR } from "../../ir/types.ts";
import { children } from "./index.ts";

/** The nets whose application the value `id` depends on, through values, taps and gradients. */
export function netsUsedBy(p: ProgramIR, id: number): Set<string> {
  const out = new Set<string>();
  const seen = new Set<number>();
  const stack = [id];
  while (stack.length) {
    const n = p.nodes[stack.pop()!]!;
    if (seen.has(n.id)) continue;
    seen.add(n.id);
    if (n.op === "apply") out.add(n.net);
    stack.push(...children(n));
  }
  return out;
}

/**
 * Optimizer groups are named by network, so the compiler can prove what the reference code only hoped
 * for with variable-name substrings: each group's loss depends on its variables, every trainable
 * variable is trained, and groups overlap only where the spec says `shared`.
 */
export function checkGroups(p: ProgramIR, spec: A.Spec, diags: Diagnostic[]): void {
  const stepDecl = (name: string) => spec.decls.find((d): d is A.StepDecl => d.kind === "Step" && d.name.name === name)!;
  const owner = new Map<string, string>();
  for (const s of p.steps) {
    const used = netsUsedBy(p, s.lossNode);
    const decl = stepDecl(s.name);
    for (const n of s.nets) {
      const at = decl.over.find((o) => o.name === n)!.span;
      if (!used.has(n)) {
        diags.push(error(C.E0301, `loss '${s.loss}' does not depend on net ${n}, so step '${s.name}' cannot train it`, spec.file, at, [
          { message: `loss '${s.loss}' uses ${used.size ? [...used].join(", ") : "no net"}`, file: spec.file, span: decl.loss.span },
        ]));
      }
      const prev = owner.get(n);
      // a step on another step's optimizer (every(16, d_reg)) trains that step's nets by design
      if (s.optimizerOf !== undefined) continue;
      if (prev !== undefined && !s.shared && !p.steps.find((x) => x.name === prev)!.shared) {
        diags.push(error(C.E0302, `net ${n} is trained by both step '${prev}' and step '${s.name}'; add 'shared' to a step that trains it on purpose`, spec.file, at, [
          { message: `step '${prev}' trains it here`, file: spec.file, span: stepDecl(prev).over.find((o) => o.name === n)!.span },
        ]));
      }
      if (prev === undefined || p.steps.find((x) => x.name === prev)!.shared) owner.set(n, s.name);
    }
  }
  for (const net of p.nets) {
    if (!net.vars.some((v) => v.trainable)) continue;
    if (!p.steps.some((s) => s.nets.includes(net.name))) {
      const decl = spec.decls.find((d): d is A.NetDecl => d.kind === "Net" && d.name.name === net.name)!;
      diags.push(warning(C.W0407, `net ${net.name} has trainable variables but no step trains it`, spec.file, decl.name.span));
    }
  }
}
