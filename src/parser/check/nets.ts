import { C } from "../codes.ts";
import type * as A from "../ast.ts";
import { error, suggest, type Diagnostic } from "../diagnostics.ts";
import { layerModule, type LayerKind } from "../../layers/index.ts";
import { LAYERS, canonicalLayer } from "../signatures.ts";
import { ArgReader } from "./args.ts";
import type { Init, LayerInfo, NetIR, VarIR } from "../../ir/types.ts";

export { fmt } from "../../layers/layer.ts";

/**
 * Infers the shape after every layer of `net`, given the shapes of its inputs, and names its variables.
 * Each error points at the layer where the shapes stop fitting and names both shapes.
 */
export function instantiateNet(
  net: A.NetDecl,
  inputShapes: readonly (readonly number[])[],
  file: string,
  diags: Diagnostic[],
  lineOf: (offset: number) => number,
): NetIR | null {
  const name = net.name.name;
  const params = net.params.map((p, i) => ({ name: p.name, shape: inputShapes[i]! }));
  const layers: LayerInfo[] = [];
  const vars: VarIR[] = [];
  const taps: Record<string, number> = {};
  const counters: Record<string, number> = {};
  let shape: readonly number[] = inputShapes[0] ?? [];
  let ok = true;
  const before = diags.length;
  // Named values in scope: the inputs, then each `-> name` once its layer has run.
  const scope = new Map<string, readonly number[]>(params.map((p) => [p.name, p.shape]));
  const values = new Set<string>();
  const value = (v: string, span: A.Span): readonly number[] | null => {
    const s = scope.get(v);
    if (s) return s;
    const later = net.layers.find((x) => x.tap?.name === v);
    if (later) {
      diags.push(error(C.E0161, `'${v}' is used before it is defined: the layer that names it comes later in net ${name}`, file, span, [{ message: `'${v}' is defined here`, file, span: later.tap!.span }]));
      return null;
    }
    const s2 = suggest(v, [...scope.keys()]);
    diags.push(error(C.E0160, `net ${name} has no value named '${v}'${s2 ? `; did you mean '${s2}'?` : ` (its values here: ${[...scope.keys()].join(", ")})`}`, file, span));
    return null;
  };
  for (const l of net.layers) {
    const op = canonicalLayer(l.op.name);
    const sig = LAYERS[op];
    if (!sig) {
      const s = suggest(l.op.name, [...Object.keys(LAYERS)]);
      const isInput = net.params.some((p) => p.name === l.op.name);
      const hint = isInput ? `; '${l.op.name}' is an input of net ${name}: to concatenate it, write concat(${l.op.name})` : s ? `; did you mean '${s}'?` : "";
      diags.push(error(C.E0101, `unknown layer '${l.op.name}'${hint}`, file, l.op.span));
      ok = false;
      break;
    }
    const mod = layerModule(op as LayerKind);
    const short = mod.prefix ?? op;
    counters[short] = (counters[short] ?? 0) + 1;
    const lname = `${short}${counters[short]}`;
    const r = new ArgReader(file, diags, l.args, `layer '${l.op.name}'`, sig);
    const inShape = shape;
    const checked = mod.check({
      r,
      layer: l,
      net,
      inputShapes,
      shape,
      value,
      values,
      variable: (suffix, vshape, init, trainable = true) => {
        const full = `${name}/${lname}/${suffix}`;
        vars.push({ name: full, shape: vshape, init, trainable });
        return full;
      },
      init: (dflt) => readInit(r, file, diags, dflt),
      fail: (msg, code = C.E0201) => {
        diags.push(error(code, msg, file, l.span));
        return null;
      },
      error: (code, msg, span) => {
        diags.push(error(code, msg, file, span));
      },
      suggest,
    });
    const layer = checked?.layer ?? null;
    const out = checked?.out ?? shape;
    if (!layer) {
      // Later layers would see a wrong input shape and report errors that are not theirs.
      ok = false;
      break;
    }
    shape = out;
    const tap = l.tap?.name ?? null;
    if (l.tap) {
      if (l.tap.name in taps || l.tap.name === "out") {
        const first = net.layers.find((x) => x.tap?.name === l.tap!.name && x !== l);
        const notes = first && first !== l ? [{ message: "first defined here", file, span: first.tap!.span }] : [];
        diags.push(error(C.E0103, l.tap.name === "out" ? "'out' is the name of every net's final output and cannot be a tap" : `tap '${l.tap.name}' is defined twice in net ${name}`, file, l.tap.span, notes));
        ok = false;
      }
      taps[l.tap.name] = layers.length;
      scope.set(l.tap.name, out);
      values.add(l.tap.name);
    }
    layers.push({ layer, name: lname, inShape, outShape: out, line: lineOf(l.span.start), tap });
  }
  if (net.layers.length === 0) {
    diags.push(error(C.E0104, `net ${name} has no layers`, file, net.name.span));
    return null;
  }
  if (!ok || diags.length > before) return null;
  taps.out = layers.length - 1;
  return {
    name,
    params,
    layers,
    taps,
    vars,
    outShape: shape,
    line: lineOf(net.span.start),
    hasBatchnorm: layers.some((l) => l.layer.op === "batchnorm"),
    hasDropout: layers.some((l) => l.layer.op === "dropout"),
  };
}

function readInit(r: ArgReader, file: string, diags: Diagnostic[], dflt: Init): Init {
  const a = r.arg("init");
  if (!a) return dflt;
  const e = a.value;
  const name = e.kind === "Name" ? e.name : e.kind === "Call" ? e.callee.name : null;
  const nums = e.kind === "Call" ? e.args.map((x) => (x.value.kind === "Number" ? x.value.value : NaN)) : [];
  const bad = (msg: string) => {
    diags.push(error(C.E0119, msg, file, e.span));
    return dflt;
  };
  switch (name) {
    case "glorot":
    case "zeros":
    case "ones":
      return { kind: name };
    case "normal":
    case "truncated_normal":
      if (nums.length !== 2 || nums.some(Number.isNaN) || nums[1]! <= 0) return bad(`${name} takes (mean, std) with std > 0, like ${name}(0, 0.02)`);
      return { kind: name, mean: nums[0]!, std: nums[1]! };
    case "uniform":
      if (nums.length !== 2 || nums.some(Number.isNaN) || nums[1]! <= nums[0]!) return bad("uniform takes (low, high) with low < high");
      return { kind: "uniform", low: nums[0]!, high: nums[1]! };
    default: {
      const s = name ? suggest(name, ["normal", "truncated_normal", "uniform", "glorot", "zeros", "ones"]) : null;
      return bad(`unknown initializer${name ? ` '${name}'` : ""}; use normal(mean, std), truncated_normal(mean, std), uniform(low, high), glorot, zeros or ones${s ? ` (did you mean '${s}'?)` : ""}`);
    }
  }
}
