import { C } from "../codes.ts";
import type * as A from "../ast.ts";
import { warning, type Diagnostic } from "../diagnostics.ts";
import type { ExprNode, ProgramIR } from "../../ir/types.ts";
import { children } from "./index.ts";
import { FUNCTIONS } from "../../functions/index.ts";

/** What the last layer before this node's value is, when it is an activation. */
function activationOf(p: ProgramIR, n: ExprNode): string | null {
  if (n.op === "call" && (n.fn === "sigmoid" || n.fn === "tanh")) return n.fn;
  let apply: ExprNode | undefined;
  let layerIdx = -1;
  if (n.op === "tap") {
    apply = p.nodes[n.of];
    const net = p.nets.find((x) => x.name === (apply as { net: string }).net)!;
    layerIdx = net.taps[n.tap]!;
  } else if (n.op === "apply") {
    apply = n;
    layerIdx = p.nets.find((x) => x.name === n.net)!.layers.length - 1;
  }
  if (!apply || apply.op !== "apply") return null;
  const net = p.nets.find((x) => x.name === (apply as { net: string }).net)!;
  const op = net.layers[layerIdx]!.layer.op;
  return op === "sigmoid" || op === "softmax" ? op : null;
}

/**
 * The nets applied on a path from `x` to `y`: those grad(y, x) differentiates through. A net that only
 * produced x (the generator behind an interpolate x̂) is outside the gradient.
 */
function netsBetween(p: ProgramIR, x: number, y: number): Set<string> {
  const out = new Set<string>();
  const memo = new Map<number, boolean>();
  const reaches = (id: number): boolean => {
    if (id === x) return true;
    const known = memo.get(id);
    if (known !== undefined) return known;
    memo.set(id, false);
    const n = p.nodes[id]!;
    let r = false;
    for (const c of children(n)) if (reaches(c)) r = true;
    memo.set(id, r);
    if (r && n.op === "apply") out.add(n.net);
    return r;
  };
  reaches(y);
  return out;
}

/** GAN lint rules: mistakes that compile and train, but not the way the author meant. */
export function lintSpec(p: ProgramIR, spec: A.Spec, diags: Diagnostic[]): void {
  for (const n of p.nodes) {
    if (n.op !== "call") continue;
    const applies = FUNCTIONS[n.fn].applies;
    if (applies && activationOf(p, p.nodes[n.args[0]!]!)) {
      diags.push(warning(C.W0401, `${n.fn} applies its own ${applies}, but its input already went through ${activationOf(p, p.nodes[n.args[0]!]!)}: use the logits (a tap before the activation) or ${n.fn === "bce_logits" ? "bce" : "a plain cross-entropy"}`, spec.file, n.span));
    }
    if (n.fn === "grad") {
      const y = p.nodes[n.args[0]!]!;
      if (activationOf(p, y)) {
        diags.push(warning(C.W0402, "gradient penalty taken on probabilities (after sigmoid): the penalty belongs on the critic's logits", spec.file, n.span));
      }
      for (const net of netsBetween(p, n.args[1]!, y.id)) {
        const ir = p.nets.find((x) => x.name === net)!;
        if (ir.hasBatchnorm) {
          diags.push(warning(C.W0403, `net ${net} has batchnorm, which couples the samples of a batch and breaks a per-sample gradient penalty; use layernorm or none`, spec.file, n.span));
        }
      }
    }
  }
}

