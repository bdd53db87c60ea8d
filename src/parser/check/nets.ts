import { C, type ErrorCode } from "../codes.ts";
import type * as A from "../ast.ts";
import { error, suggest, type Diagnostic } from "../diagnostics.ts";
import { LAYERS, canonicalLayer } from "../signatures.ts";
import { ArgReader } from "./args.ts";
import type { Init, LayerInfo, LayerIR, NetIR, VarIR } from "./ir.ts";

export const fmt = (s: readonly number[]) => `[${s.join(", ")}]`;
const prod = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);

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
    const short = { conv2d: "conv", conv2dTranspose: "deconv", batchnorm: "bn", layernorm: "ln", dense: "dense" }[op as string] ?? op;
    counters[short] = (counters[short] ?? 0) + 1;
    const lname = `${short}${counters[short]}`;
    const r = new ArgReader(file, diags, l.args, `layer '${l.op.name}'`, sig);
    const v = (suffix: string, vshape: number[], init: Init, trainable = true) => {
      const full = `${name}/${lname}/${suffix}`;
      vars.push({ name: full, shape: vshape, init, trainable });
      return full;
    };
    const fail = (msg: string, code: ErrorCode = C.E0201) => {
      diags.push(error(code, msg, file, l.span));
      ok = false;
    };
    const inShape = shape;
    let layer: LayerIR | null = null;
    let out: readonly number[] = shape;
    switch (op) {
      case "dense": {
        const units = r.posInt("units", null);
        if (units === null) {
          r.required("units", l.span);
          ok = false;
          break;
        }
        if (shape.length !== 1) {
          fail(`dense needs a flat input per sample, got ${fmt(shape)}; add 'flatten' before it`);
          break;
        }
        const useBias = r.bool("bias", true);
        const kernel = v("kernel", [shape[0]!, units], readInit(r, file, diags, { kind: "normal", mean: 0, std: 0.02 }));
        const bias = useBias ? v("bias", [units], { kind: "zeros" }) : null;
        const sn = r.bool("sn", false) ? v("sn_u", [1, units], { kind: "normal", mean: 0, std: 1 }, false) : null;
        layer = { op: "dense", units, kernel, bias, sn };
        out = [units];
        break;
      }
      case "conv2d":
      case "conv2dTranspose": {
        const filters = r.posInt("filters", null);
        const k = r.posInt("kernel", null);
        const stride = r.posInt("stride", 1)!;
        const padding = r.word("padding", "same", ["same", "valid"]) as "same" | "valid";
        if (filters === null || k === null) {
          if (filters === null) r.required("filters", l.span);
          if (k === null) r.required("kernel", l.span);
          ok = false;
          break;
        }
        if (shape.length !== 3) {
          fail(`${l.op.name} needs an image input [height, width, channels] per sample, got ${fmt(shape)}; add 'reshape' before it`);
          break;
        }
        const [h, w, c] = shape as [number, number, number];
        const isT = op === "conv2dTranspose";
        const dim = (n: number) =>
          isT ? (padding === "same" ? n * stride : (n - 1) * stride + k) : padding === "same" ? Math.ceil(n / stride) : Math.floor((n - k) / stride) + 1;
        const oh = dim(h);
        const ow = dim(w);
        if (oh <= 0 || ow <= 0) {
          fail(`${l.op.name} with kernel ${k} and padding 'valid' does not fit an input of ${fmt(shape)}`, C.E0222);
          break;
        }
        const dflt: Init = isT ? { kind: "normal", mean: 0, std: 0.02 } : { kind: "truncated_normal", mean: 0, std: 0.02 };
        const kernel = v("kernel", isT ? [k, k, filters, c] : [k, k, c, filters], readInit(r, file, diags, dflt));
        const bias = r.bool("bias", true) ? v("bias", [filters], { kind: "zeros" }) : null;
        // Spectral norm's u spans the kernel's last axis (rt.spectralNorm views the kernel as [-1, last]): a
        // conv's output channels, a deconv's input channels.
        const sn = r.bool("sn", false) ? v("sn_u", [1, isT ? c : filters], { kind: "normal", mean: 0, std: 1 }, false) : null;
        layer = { op, filters, kernelSize: k, stride, padding, kernel, bias, sn };
        out = [oh, ow, filters];
        break;
      }
      case "batchnorm": {
        const decay = r.number("decay", 0.9, (x) => (x >= 0 && x < 1 ? null : "must be in [0, 1)"));
        const epsilon = r.number("epsilon", 1e-5, (x) => (x > 0 ? null : "must be > 0"));
        const c = shape[shape.length - 1] ?? 1;
        const gamma = r.bool("scale", true) ? v("gamma", [c], { kind: "ones" }) : null;
        const beta = r.bool("center", true) ? v("beta", [c], { kind: "zeros" }) : null;
        const mean = v("moving_mean", [c], { kind: "zeros" }, false);
        const variance = v("moving_variance", [c], { kind: "ones" }, false);
        layer = { op: "batchnorm", decay, epsilon, gamma, beta, mean, variance };
        break;
      }
      case "layernorm": {
        const epsilon = r.number("epsilon", 1e-5, (x) => (x > 0 ? null : "must be > 0"));
        const c = shape[shape.length - 1] ?? 1;
        layer = { op: "layernorm", epsilon, gamma: v("gamma", [c], { kind: "ones" }), beta: v("beta", [c], { kind: "zeros" }) };
        break;
      }
      case "dropout": {
        const rate = r.number("rate", 0.5, (x) => (x >= 0 && x < 1 ? null : "must be in [0, 1)"));
        layer = { op: "dropout", rate };
        break;
      }
      case "reshape": {
        const target = r.intList("shape");
        if (!target) {
          if (!r.has("shape")) r.required("shape", l.span);
          ok = false;
          break;
        }
        if (prod(target) !== prod(shape)) {
          fail(`reshape to ${fmt(target)} (${prod(target)} values) does not fit an input of ${fmt(shape)} (${prod(shape)} values)`, C.E0202);
          break;
        }
        layer = { op: "reshape", shape: target };
        out = target;
        break;
      }
      case "flatten":
        layer = { op: "flatten" };
        out = [prod(shape)];
        break;
      case "concat": {
        const a = r.arg("inputs");
        const items = a ? (a.value.kind === "List" ? a.value.items : [a.value]) : [];
        if (items.length === 0) {
          const next = net.layers[net.layers.indexOf(l) + 1];
          const meant = next && net.params.some((p) => p.name === next.op.name) ? next.op.name : null;
          fail(meant ? `concat takes its inputs in parentheses: write concat(${meant})` : "concat needs at least one input of the net to concatenate, like concat(y)", C.E0145);
          break;
        }
        const names: string[] = [];
        for (const it of items) {
          if (it.kind !== "Name") {
            diags.push(error(C.E0143, "concat takes names of the net's inputs", file, it.span));
            ok = false;
            continue;
          }
          const idx = net.params.findIndex((p) => p.name === it.name);
          if (idx < 0) {
            const s = suggest(it.name, net.params.slice(1).map((p) => p.name));
            diags.push(error(C.E0102, `'${it.name}' is not an input of net ${name}${s ? `; did you mean '${s}'?` : ` (its inputs: ${net.params.map((p) => p.name).join(", ")})`}`, file, it.span));
            ok = false;
            continue;
          }
          if (idx === 0) {
            diags.push(error(C.E0220, `concat of '${it.name}' with itself: it is the net's first input, which the layers already carry`, file, it.span));
            ok = false;
            continue;
          }
          const other = inputShapes[idx]!;
          if (shape.length === 1 && other.length === 1) out = [out[0]! + other[0]!];
          else if (out.length === 3 && other.length === 1) out = [out[0]!, out[1]!, out[2]! + other[0]!];
          else if (out.length === 3 && other.length === 3 && other[0] === out[0] && other[1] === out[1]) out = [out[0]!, out[1]!, out[2]! + other[2]!];
          else {
            diags.push(error(C.E0203, `cannot concatenate ${fmt(out)} with '${it.name}' of shape ${fmt(other)}: need two vectors, an image and a vector, or two images of the same size`, file, it.span));
            ok = false;
            continue;
          }
          names.push(it.name);
        }
        layer = { op: "concat", inputs: names };
        break;
      }
      case "upsample": {
        const factor = r.posInt("factor", 2)!;
        if (shape.length !== 3) {
          fail(`upsample needs an image input, got ${fmt(shape)}`);
          break;
        }
        layer = { op: "upsample", factor };
        out = [shape[0]! * factor, shape[1]! * factor, shape[2]!];
        break;
      }
      case "leakyrelu": {
        const alpha = r.number("alpha", 0.2, (x) => (x >= 0 && x < 1 ? null : "must be in [0, 1)"));
        layer = { op: "leakyrelu", alpha };
        break;
      }
      case "relu":
      case "sigmoid":
      case "tanh":
      case "softmax":
      case "linear":
        layer = { op };
        break;
    }
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
