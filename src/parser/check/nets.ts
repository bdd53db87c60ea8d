import { C } from "../codes.ts";
import type * as A from "../ast.ts";
import { error, suggest, type Diagnostic } from "../diagnostics.ts";
import { layerModule, type LayerKind } from "../../layers/index.ts";
import { LAYERS, canonicalLayer } from "../signatures.ts";
import { ArgReader } from "./args.ts";
import { INIT_ALIASES, INIT_DOC, INIT_KINDS, parseInit } from "../../layers/weights.ts";
import { bindInstance, substituteArgs } from "./blocks.ts";
import type { Init, LayerInfo, NetIR, VarIR } from "../../ir/types.ts";

export { fmt } from "../../layers/layer.ts";

/** An embed layer's request for another net's table (`share=G`), resolved once every net is checked. */
export interface ShareRequest {
  /** The net of the layer, and the layer's index in its layers. */
  readonly net: string;
  readonly index: number;
  /** The net named by share=, and its layer (by name or tap) if one was named. */
  readonly owner: string;
  readonly layer: string | null;
  readonly shape: readonly number[];
  readonly span: A.Span;
}

/** Named values in scope while a net's (or a block instance's) layers are checked. */
interface Frame {
  /** `<instance>/` for the layers of a block instance ("" for the net's own). */
  readonly prefix: string;
  /** The net as the layers see it: inside a block, its layers and no inputs (a block reads only `input`). */
  readonly decl: A.NetDecl;
  readonly block: A.BlockDecl | null;
  /** name -> shape and the net-wide name of the value (what the trainer's locals are made from). */
  readonly scope: Map<string, { shape: readonly number[]; ref: string }>;
  readonly values: Set<string>;
  readonly subst: ReadonlyMap<string, A.Expr>;
  readonly counters: Record<string, number>;
  /** The frame of the net (or instance) around a block instance: a value given as an argument is read there. */
  readonly parent?: Frame;
  /** Inside a block instance: the line of the net's layer that instantiates it (the outermost). */
  readonly instanceLine?: number;
}

/**
 * The error for a layer of `net` that names neither a layer kind nor a block: E0162 for a capitalized
 * name (a block), else E0101, with the nearest known name, or a hint where it is one of the net's inputs.
 */
export function unknownLayer(l: A.Layer, net: A.NetDecl, blocks: ReadonlyMap<string, A.BlockDecl>, file: string): Diagnostic {
  const s = suggest(l.op.name, [...Object.keys(LAYERS), ...blocks.keys()]);
  const isInput = net.params.some((p) => p.name === l.op.name);
  const hint = isInput ? `; '${l.op.name}' is an input of net ${net.name.name}: to concatenate it, write concat(${l.op.name})` : s ? `; did you mean '${s}'?` : "";
  if (/^[A-Z]/.test(l.op.name) && !isInput) {
    return error(C.E0162, `unknown block '${l.op.name}'${hint || ` (blocks: ${[...blocks.keys()].join(", ") || "none; declare one with block " + l.op.name + "(...) { ... }"})`}`, file, l.op.span);
  }
  return error(C.E0101, `unknown layer '${l.op.name}'${hint}`, file, l.op.span);
}

/** True when a layer names a layer kind or a block (anything else is unknownLayer's error). */
export function knownLayer(l: A.Layer, blocks: ReadonlyMap<string, A.BlockDecl>): boolean {
  return !!LAYERS[canonicalLayer(l.op.name)] || blocks.has(l.op.name);
}

/**
 * Infers the shape after every layer of `net`, given the shapes of its inputs, and names its variables.
 * Each error points at the layer where the shapes stop fitting and names both shapes. Block instances are
 * expanded in place, each with its own variables (`G/up2/conv1/kernel`) and shapes.
 */
export function instantiateNet(
  net: A.NetDecl,
  inputShapes: readonly (readonly number[])[],
  file: string,
  diags: Diagnostic[],
  lineOf: (offset: number) => number,
  blocks: ReadonlyMap<string, A.BlockDecl> = new Map(),
  cyclic: ReadonlySet<string> = new Set(),
  labels: ReadonlySet<string> = new Set(),
  shares: ShareRequest[] = [],
): NetIR | null {
  const name = net.name.name;
  const params = net.params.map((p, i) => ({ name: p.name, shape: inputShapes[i]! }));
  const layers: LayerInfo[] = [];
  const vars: VarIR[] = [];
  const taps: Record<string, number> = {};
  const instances: Record<string, number> = {};
  let shape: readonly number[] = inputShapes[0] ?? [];
  const before = diags.length;
  /** The values some layer reads: only those are kept as locals by the trainer. */
  const read = new Set<string>();

  /**
   * A value in scope: the frame's own, or, inside a block instance, a value of the net around it that the
   * instance was given as an argument (`Up(256, c=c1)` lets the block's `cbn(c)` read the net's c1).
   */
  const lookup = (f: Frame, v: string): { shape: readonly number[]; ref: string } | undefined => {
    const own = f.scope.get(v);
    if (own || !f.parent) return own;
    const given = [...f.subst.values()].some((e) => e.kind === "Name" && e.name === v);
    return given ? lookup(f.parent, v) : undefined;
  };

  const run = (list: readonly A.Layer[], f: Frame): boolean => {
    // Named values in scope: the inputs, then each `-> name` once its layer has run.
    const value = (v: string, span: A.Span): { shape: readonly number[]; ref: string } | null => {
      const s = lookup(f, v);
      if (s) {
        read.add(s.ref);
        return s;
      }
      const later = list.find((x) => x.tap?.name === v);
      const where = f.block ? `block ${f.block.name.name}` : `net ${name}`;
      if (later) {
        diags.push(error(C.E0161, `'${v}' is used before it is defined: the layer that names it comes later in ${where}`, file, span, [{ message: `'${v}' is defined here`, file, span: later.tap!.span }]));
        return null;
      }
      const s2 = suggest(v, [...f.scope.keys()]);
      // a value of the net around the block, which the block can read only when it is given as an argument
      const outer = f.block && f.parent && lookup(f.parent, v) ? `; '${v}' is a value of the net: give it to the block as an argument, with a parameter of block ${f.block.name.name} standing for it` : "";
      diags.push(error(C.E0160, `${where} has no value named '${v}'${outer || (s2 ? `; did you mean '${s2}'?` : ` (its values here: ${[...f.scope.keys()].join(", ")})`)}`, file, span));
      return null;
    };
    for (let l of list) {
      const op = canonicalLayer(l.op.name);
      const sig = LAYERS[op];
      if (!sig) {
        const block = blocks.get(l.op.name);
        if (block) {
          if (cyclic.has(block.name.name) || !instance(l, block, f)) return false;
          continue;
        }
        diags.push(unknownLayer(l, net, blocks, file));
        return false;
      }
      // `when=flag` (inside blocks): the layer is there only when the instance's flag is on.
      const when = l.args.find((a) => a.name?.name === "when");
      if (when) {
        const on = flagValue(substituteArgs([when], f.subst)[0]!.value);
        if (!f.block || on === null) {
          diags.push(error(C.E0165, !f.block ? "when= makes a layer of a block depend on a flag of the instance; a net's own layers are always there" : "when= takes a flag: true, false, or a parameter of the block given true or false", file, when.span));
          return false;
        }
        if (!on) continue;
        l = { ...l, args: l.args.filter((a) => a !== when) };
      }
      const mod = layerModule(op as LayerKind);
      const short = mod.prefix ?? op;
      f.counters[short] = (f.counters[short] ?? 0) + 1;
      const lname = `${f.prefix}${short}${f.counters[short]}`;
      const r = new ArgReader(file, diags, substituteArgs(l.args, f.subst), `layer '${l.op.name}'`, sig);
      const inShape = shape;
      const checked = mod.check({
        r,
        layer: l,
        net: f.decl,
        inputShapes,
        shape,
        value,
        labels,
        values: f.values,
        variable: (suffix, vshape, init, trainable = true) => {
          const full = `${name}/${lname}/${suffix}`;
          vars.push({ name: full, shape: vshape, init, trainable });
          return full;
        },
        share: (owner, layer, vshape, span) => {
          shares.push({ net: name, index: layers.length, owner, layer, shape: vshape, span });
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
      // Later layers would see a wrong input shape and report errors that are not theirs.
      if (!layer) return false;
      shape = out;
      let tap: string | null = null;
      const kept: string[] = [];
      if (l.tap) {
        const t = l.tap.name;
        if (f.scope.has(t) && f.values.has(t)) {
          const first = list.find((x) => x.tap?.name === t && x !== l);
          const notes = first ? [{ message: "first defined here", file, span: first.tap!.span }] : [];
          diags.push(error(C.E0103, `tap '${t}' is defined twice in ${f.block ? `block ${f.block.name.name}` : `net ${name}`}`, file, l.tap.span, notes));
          return false;
        }
        if (f.block) {
          // A value of a block instance is its own: `up2/main`, not a tap of the net.
          kept.push(f.prefix + t);
          f.scope.set(t, { shape: out, ref: f.prefix + t });
        } else {
          if (t in taps || t === "out") {
            const first = net.layers.find((x) => x.tap?.name === t && x !== l);
            const notes = first && first !== l ? [{ message: "first defined here", file, span: first.tap!.span }] : [];
            diags.push(error(C.E0103, t === "out" ? "'out' is the name of every net's final output and cannot be a tap" : `tap '${t}' is defined twice in net ${name}`, file, l.tap.span, notes));
            return false;
          }
          tap = t;
          taps[t] = layers.length;
          f.scope.set(t, { shape: out, ref: t });
        }
        f.values.add(t);
      }
      layers.push({
        layer,
        name: lname,
        inShape,
        outShape: out,
        line: lineOf(l.span.start),
        tap,
        ...(kept.length ? { values: kept } : {}),
        ...(f.prefix ? { instance: f.prefix.slice(0, -1) } : {}),
        ...(f.instanceLine !== undefined ? { instanceLine: f.instanceLine } : {}),
      });
    }
    return true;
  };

  /** Expands instance `l` of block `b`; its errors point at the instance, with a note at the block's line. */
  const instance = (l: A.Layer, b: A.BlockDecl, f: Frame): boolean => {
    const key = b.name.name.toLowerCase();
    const ikey = f.prefix + key;
    instances[ikey] = (instances[ikey] ?? 0) + 1;
    const iname = `${f.prefix}${key}${instances[ikey]}`;
    const start = diags.length;
    const subst = bindInstance(l, b, f.subst, file, diags);
    if (!subst) return false;
    // The block's `input` is the path's value where the instance starts.
    let inputRef: string;
    const last = layers[layers.length - 1];
    if (!last) inputRef = net.params[0]!.name;
    else if (last.tap !== null) inputRef = last.tap;
    else {
      inputRef = `${iname}/input`;
      (last as { values?: string[] }).values = [...(last.values ?? []), inputRef];
    }
    const frame: Frame = {
      prefix: `${iname}/`,
      decl: { ...net, params: [], layers: b.layers },
      block: b,
      scope: new Map([["input", { shape, ref: inputRef }]]),
      values: new Set(["input"]),
      subst,
      counters: {},
      parent: f,
      instanceLine: f.instanceLine ?? lineOf(l.span.start),
    };
    if (b.layers.length === 0) {
      diags.push(error(C.E0104, `block ${b.name.name} has no layers`, file, b.name.span));
      return false;
    }
    const ok = run(b.layers, frame);
    const call = `${b.name.name}(${l.args.map((a) => (a.name ? `${a.name.name}=` : "") + show(a.value)).join(", ")})`;
    for (let i = start; i < diags.length; i++) {
      const d = diags[i]!;
      if (d.span.start >= l.span.start && d.span.end <= l.span.end) continue; // already at the instance
      diags[i] = { ...d, message: `${d.message} (in ${call}, instance ${iname})`, span: l.span, notes: [{ message: `inside block ${b.name.name}, here`, file, span: d.span }, ...d.notes] };
    }
    return ok;
  };

  const top: Frame = {
    prefix: "",
    decl: net,
    block: null,
    scope: new Map(params.map((p) => [p.name, { shape: p.shape, ref: p.name }])),
    values: new Set(),
    subst: new Map(),
    counters: {},
  };
  const ok = run(net.layers, top);
  if (net.layers.length === 0) {
    diags.push(error(C.E0104, `net ${name} has no layers`, file, net.name.span));
    return null;
  }
  if (!ok || diags.length > before) return null;
  taps.out = layers.length - 1;
  return {
    name,
    params,
    layers: layers.map((l) => {
      if (!l.values) return l;
      const { values: all, ...rest } = l;
      const kept = all.filter((v) => read.has(v));
      return kept.length ? { ...rest, values: kept } : rest;
    }),
    taps,
    vars,
    outShape: shape,
    line: lineOf(net.span.start),
    hasBatchnorm: layers.some((l) => l.layer.op === "batchnorm" || l.layer.op === "cbn"),
    // noise inputs draw like dropout: the optimizer must keep the order of their draws
    hasDropout: layers.some((l) => l.layer.op === "dropout" || l.layer.op === "noise"),
  };
}

/** A flag's value: true or false (or 1 and 0), null for anything else. */
function flagValue(e: A.Expr): boolean | null {
  if (e.kind === "Name" && (e.name === "true" || e.name === "false")) return e.name === "true";
  if (e.kind === "Number" && (e.value === 0 || e.value === 1)) return e.value === 1;
  return null;
}

/** An argument as written (numbers and names), for naming an instance in messages. */
function show(e: A.Expr): string {
  switch (e.kind) {
    case "Number":
      return String(e.value);
    case "Name":
      return e.name;
    case "String":
      return JSON.stringify(e.value);
    case "List":
      return `[${e.items.map(show).join(", ")}]`;
    case "Binary":
      return `${show(e.left)} ${e.op} ${show(e.right)}`;
    default:
      return "...";
  }
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
  const init = name ? parseInit(name, nums) : null;
  if (typeof init === "string") return bad(init);
  if (init) return init;
  const s = name ? suggest(name, [...INIT_KINDS, ...Object.keys(INIT_ALIASES)]) : null;
  return bad(`unknown initializer${name ? ` '${name}'` : ""}; use ${INIT_DOC.replace(/^weight initializer: /, "")}${s ? ` (did you mean '${s}'?)` : ""}`);
}
