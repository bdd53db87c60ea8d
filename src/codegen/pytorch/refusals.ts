/*
 * The constructs the PyTorch trainer does not run (E0240): the entries of the layer and function tables
 * marked `unsupported`, or a layer whose `refuse` says why. Each refusal points at the line of the spec
 * where the construct is written; a layer inside a block instance is reported at the instance's line in the
 * net, with a note at the layer's line inside the block.
 */
import type { ProgramIR } from "../../ir/types.ts";
import type { LayerIR } from "../../layers/index.ts";
import { PY_FUNCTIONS, type PyFunctionTable } from "./functions.ts";
import { PY_LAYERS, type PyLayer, type PyLayerTable, type Unsupported } from "./layers.ts";

/** A construct the PyTorch trainer does not run yet, at a line of the spec (and, inside a block, the block's line). */
export interface PyRefusal {
  readonly line: number;
  readonly message: string;
  readonly note?: { readonly line: number; readonly message: string };
}

/** The kind's entry of `table`, or why the layer cannot be compiled for PyTorch. */
export function pyLayerIn(table: PyLayerTable, l: LayerIR): { layer: PyLayer<LayerIR> } | { refusal: string } {
  const e = (table as Readonly<Record<string, PyLayer<LayerIR> | Unsupported>>)[l.op]!;
  if ("unsupported" in e) return { refusal: e.unsupported };
  const why = e.refuse?.(l);
  return why ? { refusal: why } : { layer: e };
}

/** Every refusal of program `p`, in the order of their lines. */
export function pyRefusals(p: ProgramIR, layers: PyLayerTable = PY_LAYERS, functions: PyFunctionTable = PY_FUNCTIONS): PyRefusal[] {
  const out: PyRefusal[] = [];
  for (const net of p.nets)
    for (const l of net.layers) {
      const r = pyLayerIn(layers, l.layer);
      if (!("refusal" in r)) continue;
      const message = `layer ${l.name} of net ${net.name} (${l.layer.op}): ${r.refusal}`;
      if (l.instanceLine !== undefined && l.instance !== undefined)
        out.push({ line: l.instanceLine, message: `${message} (in block instance ${l.instance})`, note: { line: l.line, message: "inside the block, here" } });
      else out.push({ line: l.line, message });
    }
  for (const n of p.nodes) {
    if (n.op !== "call") continue;
    const f = functions[n.fn];
    if (typeof f !== "function") out.push({ line: n.line, message: `${n.fn}(...): ${f.unsupported}` });
  }
  return out.sort((a, b) => a.line - b.line);
}
