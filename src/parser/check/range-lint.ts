import type * as A from "../ast.ts";
import { C } from "../codes.ts";
import { warning, type Diagnostic } from "../diagnostics.ts";
import { dataRange, netRange } from "./expr-types.ts";
import { layerModule } from "../../layers/index.ts";
import type { ProgramIR } from "../../ir/types.ts";

/**
 * W0510: the generator's last activation (the net whose output is sampled) makes values in another range
 * than the data's: a tanh generator against MNIST in [0, 1], or a sigmoid one against data in [-1, 1].
 * D then tells real from fake by the range alone.
 */
export function lintOutputRange(p: ProgramIR, spec: A.Spec, diags: Diagnostic[]): void {
  const s = p.nodes[p.train.samples];
  if (!s || s.op !== "apply") return;
  const net = p.nets.find((n) => n.name === s.net);
  const data = dataRange(p);
  if (!net || !data) return;
  const out = netRange(net);
  // The activation that set the range: the last layer that is not a "through" one (reshape, upsample, ...).
  const act = [...net.layers].reverse().find((l) => layerModule(l.layer.op).range !== "through")?.layer.op;
  if (!out || act === "softmax") return;
  if (out.low === data.low && out.high === data.high) return;
  const decl = spec.decls.find((d): d is A.NetDecl => d.kind === "Net" && d.name.name === net.name);
  const last = decl?.layers[decl.layers.length - 1];
  if (!last) return;
  const fix = data.low === 0 && data.high === 1 ? "end it with sigmoid" : data.low === -1 && data.high === 1 ? "end it with tanh" : "change its last activation";
  diags.push(
    warning(C.W0510, `net ${net.name} generates values in [${out.low}, ${out.high}] (${act}), but data '${p.data.name}' is in [${data.low}, ${data.high}], so D can tell them apart by range alone; ${fix}`, spec.file, last.span, [
      { message: `data '${p.data.name}' is declared here`, file: spec.file, span: spec.decls.find((d) => d.kind === "Data")!.span },
    ]),
  );
}
