/**
 * The language features over one analysed document: hover, completion, outline, rename checks and quick
 * fixes. Offsets in, plain data out; the server (server.ts) turns offsets into LSP positions. Every table
 * here is the compiler's own (layers, functions, data sources, optimizers, train settings), the same the
 * README and the JSON Schema are generated from.
 */
import type * as A from "../parser/ast.ts";
import { FUNCTIONS } from "../functions/index.ts";
import { LAYER_MODULES, type LayerKind } from "../layers/index.ts";
import { DATA_SOURCES, LAYERS, LAYER_ALIASES, NOISE_DISTS, OPTIMIZERS, TRAIN_SETTINGS, canonicalLayer } from "../parser/signatures.ts";
import { SOURCES } from "../data/index.ts";
import { keywords as KEYWORD_TOKENS } from "../parser/dsl/tokens.ts";
import type { LayerInfo, NetIR, ProgramIR, TensorType } from "../ir/types.ts";
import { namespaceOf, occurrences, symbolAt, type Analysis, type SymbolKind } from "./analysis.ts";

export const KEYWORDS: readonly string[] = KEYWORD_TOKENS.map((t) => String(t.PATTERN).replace(/^\/|\\b\/$/g, ""));
/** Names the language gives a meaning: they cannot name a net, value, loss, noise, data or state. */
export const BUILTIN_NAMES: readonly string[] = ["ones", "zeros", "batch", "true", "false", "epoch"];
const DECL_KEYWORDS = ["gan", "data", "noise", "net", "block", "loss", "state", "step", "after", "train"];

const shape = (s: readonly number[]) => `[${s.join(", ")}]`;
const typeText = (t: TensorType) => (t.batched ? `[batch, ${t.shape.join(", ")}]`.replace(", ]", "]") : t.shape.length ? shape(t.shape) : "scalar");
const within = (s: A.Span, o: number) => s.start <= o && o <= s.end;
const count = (n: number) => n.toLocaleString("en-US");

// ---------------------------------------------------------------- hover

export interface HoverResult {
  readonly markdown: string;
  readonly span: A.Span;
}

function layerDoc(op: string): string {
  const kind = canonicalLayer(op);
  const mod = (LAYER_MODULES as Record<string, { doc: string; params: Readonly<Record<string, string>> }>)[kind];
  if (!mod) return "";
  const params = Object.entries(mod.params).map(([p, d]) => `- \`${p.replace(/\.\.\.$/, "...")}\`: ${d}`);
  return [`**${kind}** (layer)${kind !== op ? ` — \`${op}\` is another name for it` : ""}`, "", mod.doc, ...(params.length ? ["", ...params] : [])].join("\n");
}

function functionDoc(name: string): string | null {
  const f = (FUNCTIONS as Record<string, { params: readonly { name: string; doc: string }[]; doc: string }>)[name];
  if (!f) return null;
  return [`**${name}**(${f.params.map((p) => p.name).join(", ")}) (function)`, "", f.doc, "", ...f.params.map((p) => `- \`${p.name}\`: ${p.doc}`)].join("\n");
}

function netSignature(net: NetIR): string {
  const taps = Object.entries(net.taps).filter(([t]) => t !== "out");
  const params = net.vars.reduce((n, v) => n + v.shape.reduce((a, b) => a * b, 1), 0);
  return [
    ["```gan", `net ${net.name}(${net.params.map((p) => `${p.name}: ${shape(p.shape)}`).join(", ")}) -> ${shape(net.outShape)}`, "```"].join("\n"),
    ...(taps.length ? [`taps: ${taps.map(([t, i]) => `\`${t}\` ${shape(net.layers[i]!.outShape)}`).join(", ")}`] : []),
    `${net.layers.length} layers, ${net.vars.length} variables (${count(params)} numbers)`,
  ].join("\n\n");
}

/** The LayerInfos of each of a net's layers as written (a block instance has several; a `when=false` layer none). */
function layerInfos(net: A.NetDecl | A.BlockDecl, ir: NetIR): Map<A.Layer, LayerInfo[]> {
  const out = new Map<A.Layer, LayerInfo[]>();
  let i = 0;
  for (const l of net.layers) {
    const isLayer = !!LAYERS[canonicalLayer(l.op.name)];
    const mine: LayerInfo[] = [];
    if (isLayer) {
      if (i < ir.layers.length && ir.layers[i]!.instance === undefined) mine.push(ir.layers[i++]!);
    } else {
      const top = ir.layers[i]?.instance?.split("/")[0];
      while (top !== undefined && i < ir.layers.length && ir.layers[i]!.instance?.split("/")[0] === top) mine.push(ir.layers[i++]!);
    }
    out.set(l, mine);
  }
  return out;
}

function varsOf(ir: NetIR, info: LayerInfo): string[] {
  const prefix = `${ir.name}/${info.name}/`;
  return ir.vars.filter((v) => v.name.startsWith(prefix)).map((v) => `\`${v.name}\` ${shape(v.shape)}${v.trainable ? "" : " (not trained)"}`);
}

function stepsMinimizing(spec: A.Spec, loss: string): string[] {
  return spec.decls.filter((d): d is A.StepDecl => d.kind === "Step" && d.loss.name === loss).map((s) => `step \`${s.name.name}\` (${s.optimizer.name.name}) minimizes it over ${s.over.map((o) => o.name).join(", ") || "nothing"}`);
}

const NO_SHAPES = "_shapes appear once this net checks without errors_";

function valueType(p: ProgramIR | null, name: string): string | null {
  if (!p) return null;
  const id = p.values[name];
  if (id !== undefined && p.nodes[id]) return typeText(p.nodes[id]!.type);
  const n = p.noise.find((x) => x.name === name);
  if (n) return `[batch, ${n.shape.join(", ")}]`;
  if (p.data.name === name) return `[batch, ${p.data.shape.join(", ")}] (batch ${p.data.batch})`;
  if (p.states.some((s) => s.name === name)) return "scalar";
  return null;
}

function symbolHover(a: Analysis, name: string, kind: SymbolKind): string {
  const p = a.program;
  const spec = a.spec!;
  const decl = a.defs.find((d) => d.name === name && namespaceOf(d.kind) === namespaceOf(kind))?.decl;
  switch (kind) {
    case "net": {
      const ir = a.nets.find((n) => n.name === name);
      if (ir) return netSignature(ir);
      const d = decl as A.NetDecl | undefined;
      return ["```gan", `net ${name}(${d?.params.map((x) => x.name).join(", ") ?? ""})`, "```", NO_SHAPES].join("\n");
    }
    case "block": {
      const d = decl as A.BlockDecl | undefined;
      return ["```gan", `block ${name}(${d?.params.map((x) => x.name.name).join(", ") ?? ""})`, "```", `${d?.layers.length ?? 0} layers; instantiated by name inside nets`].join("\n");
    }
    case "loss": {
      const t = valueType(p, name);
      const steps = stepsMinimizing(spec, name);
      return [`**loss** \`${name}\`${t ? `: ${t}` : ""}`, "", ...(steps.length ? steps.map((s) => `- ${s}`) : ["no step minimizes it"])].join("\n");
    }
    case "step": {
      const d = decl as A.StepDecl | undefined;
      const ir = p?.steps.find((s) => s.name === name);
      if (!d) return `**step** \`${name}\``;
      const opt = ir ? `${ir.optimizer.kind}(lr=${ir.optimizer.lr}, beta1=${ir.optimizer.beta1})` : d.optimizer.name.name;
      return [`**step** \`${name}\``, "", `${opt} minimizes \`${d.loss.name}\` over ${d.over.map((o) => `\`${o.name}\``).join(", ")}${d.shared ? " (shared)" : ""}`].join("\n");
    }
    case "data": {
      const d = decl as A.DataDecl | undefined;
      const src = d ? DATA_SOURCES[d.source.name] : undefined;
      const t = valueType(p, name);
      return [`**data** \`${name}\`${t ? `: ${t}` : ""}`, ...(src ? ["", `${d!.source.name}: ${src.doc}`] : []), ...(p?.data.labelled ? ["", `\`${name}.label\`: [batch, ${p.data.numClasses}]`] : [])].join("\n");
    }
    case "noise": {
      const d = decl as A.NoiseDecl | undefined;
      const dist = d ? NOISE_DISTS[d.dist.name] : undefined;
      const t = valueType(p, name);
      return [`**noise** \`${name}\`${t ? `: ${t}` : ""}`, ...(dist ? ["", `${d!.dist.name}: ${dist.doc}`] : [])].join("\n");
    }
    case "state":
      return `**state** \`${name}\`: scalar, kept across iterations`;
    case "value": {
      const t = valueType(p, name);
      return `**value** \`${name}\`${t ? `: ${t}` : `\n\n${NO_SHAPES}`}`;
    }
  }
}

/** Every expression of the spec, for finding the one under the cursor. */
function* expressions(spec: A.Spec): Generator<A.Expr> {
  const walk = function* (e: A.Expr): Generator<A.Expr> {
    yield e;
    switch (e.kind) {
      case "List":
        for (const x of e.items) yield* walk(x);
        break;
      case "Call":
        for (const a of e.args) yield* walk(a.value);
        break;
      case "Member":
        yield* walk(e.object);
        break;
      case "Unary":
        yield* walk(e.operand);
        break;
      case "Binary":
        yield* walk(e.left);
        yield* walk(e.right);
        break;
      default:
        break;
    }
  };
  for (const d of spec.decls) {
    if (d.kind === "Value" || d.kind === "Loss" || d.kind === "After") yield* walk(d.expr);
    else if (d.kind === "State") yield* walk(d.init);
    else if (d.kind === "Train") for (const a of d.settings) yield* walk(a.value);
  }
}

export function hover(a: Analysis, offset: number): HoverResult | null {
  const spec = a.spec;
  if (!spec) return null;
  const p = a.program;
  // A tap of a net application, or a data set's label.
  for (const e of expressions(spec)) {
    if (e.kind === "Member" && within(e.member.span, offset)) {
      const obj = e.object;
      const netName = obj.kind === "Call" ? obj.callee.name : null;
      const ir = netName ? a.nets.find((n) => n.name === netName) : undefined;
      const idx = ir?.taps[e.member.name];
      if (ir && idx !== undefined) return { span: e.member.span, markdown: [`**tap** \`${e.member.name}\` of net \`${ir.name}\`: [batch, ${ir.layers[idx]!.outShape.join(", ")}]`, "", netSignature(ir)].join("\n") };
      if (obj.kind === "Name" && e.member.name === "label" && p?.data.name === obj.name) return { span: e.member.span, markdown: `**label** of \`${obj.name}\`: [batch, ${p.data.numClasses}], one-hot` };
      return { span: e.member.span, markdown: `**tap** \`${e.member.name}\`${netName ? ` of net \`${netName}\`` : ""}\n\n${NO_SHAPES}` };
    }
    if (e.kind === "Call" && within(e.callee.span, offset)) {
      const doc = functionDoc(e.callee.name);
      if (doc) return { span: e.callee.span, markdown: doc };
    }
  }
  const sym = symbolAt(a, offset);
  // A block instance inside a net is a layer: its hover gives its shapes (below), with the block's signature.
  const instance = sym?.kind === "block" && sym.def !== null && sym.def.span !== sym.span;
  if (sym && !instance) return { span: sym.span, markdown: symbolHover(a, sym.name, sym.kind) };
  // Layers of nets and blocks: their doc, and in a net their shapes and variables.
  for (const d of spec.decls) {
    if ((d.kind !== "Net" && d.kind !== "Block") || !within(d.span, offset)) continue;
    const ir = d.kind === "Net" ? a.nets.find((n) => n.name === d.name.name) : undefined;
    const infos = ir ? layerInfos(d, ir) : null;
    for (const l of d.layers) {
      const onOp = within(l.op.span, offset);
      const onTap = l.tap !== null && within(l.tap.span, offset);
      if (!onOp && !onTap) continue;
      const mine = infos?.get(l) ?? [];
      const lines: string[] = [];
      if (mine.length) {
        const first = mine[0]!;
        const last = mine[mine.length - 1]!;
        lines.push(`\`${d.name.name}/${mine.length === 1 ? first.name : first.instance}\`: ${shape(first.inShape)} → **${shape(last.outShape)}**`);
        const vars = mine.flatMap((m) => varsOf(ir!, m));
        lines.push(vars.length ? `variables: ${vars.join(", ")}` : "no variables");
      } else if (d.kind === "Net") lines.push(NO_SHAPES);
      if (onTap) return { span: l.tap!.span, markdown: [`**tap** \`${l.tap!.name}\``, "", ...lines].join("\n") };
      const doc = LAYERS[canonicalLayer(l.op.name)] ? layerDoc(l.op.name) : `block instance \`${l.op.name}\`\n\n${symbolHover(a, l.op.name, "block")}`;
      return { span: l.op.span, markdown: [doc, "", "---", "", ...lines].join("\n") };
    }
  }
  return null;
}

// ---------------------------------------------------------------- completion

export type CompletionKind = "keyword" | "layer" | "block" | "function" | "argument" | "net" | "value" | "loss" | "step" | "noise" | "data" | "state" | "optimizer" | "setting" | "source" | "dist" | "tap" | "constant";

export interface CompletionEntry {
  readonly label: string;
  readonly kind: CompletionKind;
  readonly detail?: string;
  readonly doc?: string;
  /** Text inserted instead of the label (an argument name with its `=`). */
  readonly insert?: string;
}

const entries = (table: Readonly<Record<string, { doc: string }>>, kind: CompletionKind): CompletionEntry[] => Object.entries(table).map(([label, s]) => ({ label, kind, doc: s.doc }));

function layerEntries(a: Analysis): CompletionEntry[] {
  const blocks = a.defs.filter((d) => d.kind === "block").map((d) => ({ label: d.name, kind: "block" as const, detail: "block" }));
  const aliases = Object.entries(LAYER_ALIASES).map(([alias, kind]) => ({ label: alias, kind: "layer" as const, detail: `another name for ${kind}`, doc: LAYERS[kind]?.doc }));
  return [...entries(LAYERS, "layer").map((e) => ({ ...e, detail: "layer" })), ...aliases, ...blocks];
}

function argEntries(params: readonly string[], docs: Readonly<Record<string, string>> = {}, sep = "="): CompletionEntry[] {
  return params.map((p) => p.replace(/\.\.\.$/, "")).map((p) => ({ label: p, kind: "argument" as const, insert: `${p}${sep}`, ...(docs[p] ? { doc: docs[p] } : {}) }));
}

function layerArgEntries(op: string, sep = "="): CompletionEntry[] {
  const kind = canonicalLayer(op);
  const mod = (LAYER_MODULES as Record<string, { params: Readonly<Record<string, string>> }>)[kind as LayerKind];
  if (!mod) return [];
  return argEntries(Object.keys(mod.params), Object.fromEntries(Object.entries(mod.params).map(([k, v]) => [k.replace(/\.\.\.$/, ""), v])), sep);
}

function nameEntries(a: Analysis, kinds?: readonly SymbolKind[]): CompletionEntry[] {
  return a.defs.filter((d) => d.kind !== "step" && d.kind !== "block" && (!kinds || kinds.includes(d.kind))).map((d) => ({ label: d.name, kind: d.kind, detail: d.kind }));
}

function expressionEntries(a: Analysis): CompletionEntry[] {
  const fns = Object.entries(FUNCTIONS as Record<string, { doc: string; params: readonly { name: string }[] }>).map(([label, f]) => ({ label, kind: "function" as const, detail: `${label}(${f.params.map((p) => p.name).join(", ")})`, doc: f.doc }));
  const consts = ["ones", "zeros", "batch"].map((label) => ({ label, kind: "constant" as const }));
  return [...nameEntries(a), ...fns, ...consts];
}

function stepEntries(a: Analysis): CompletionEntry[] {
  return a.defs.filter((d) => d.kind === "step").map((d) => ({ label: d.name, kind: "step" as const, detail: "step" }));
}

function tapEntries(a: Analysis, net: string): CompletionEntry[] {
  const ir = a.nets.find((n) => n.name === net);
  if (ir) return Object.entries(ir.taps).map(([t, i]) => ({ label: t, kind: "tap" as const, detail: `[batch, ${ir.layers[i]!.outShape.join(", ")}]` }));
  const decl = a.spec?.decls.find((d): d is A.NetDecl => d.kind === "Net" && d.name.name === net);
  return [...(decl?.layers.flatMap((l) => (l.tap ? [{ label: l.tap.name, kind: "tap" as const }] : [])) ?? []), { label: "out", kind: "tap" as const, detail: "the net's output" }];
}

/** The innermost `{` before `offset` that is not closed, with the text of its line up to it. */
function enclosingBrace(text: string, offset: number): string | null {
  let depth = 0;
  for (let i = offset - 1; i >= 0; i--) {
    const c = text[i];
    if (c === "}") depth++;
    else if (c === "{") {
      if (depth === 0) {
        const lineStart = Math.max(text.lastIndexOf("\n", i - 1), text.lastIndexOf("\r", i - 1)) + 1;
        return text.slice(lineStart, i);
      }
      depth--;
    }
  }
  return null;
}

function stripComment(line: string): string {
  return line.replace(/(#|\/\/).*$/, "");
}

/**
 * What may be typed at `offset` of `text`: the word being typed is replaced by the chosen entry. The context
 * is read from `text`; names, taps and shapes come from `a`, which may be a check of an earlier version
 * (while typing, completion does not wait for a check of every keystroke).
 */
export function complete(a: Analysis, offset: number, yaml: boolean, text: string = a.text): { entries: CompletionEntry[]; word: A.Span } {
  const lineStart = Math.max(text.lastIndexOf("\n", offset - 1), text.lastIndexOf("\r", offset - 1)) + 1;
  const prefixFull = text.slice(lineStart, offset);
  const word = /[A-Za-z_][A-Za-z0-9_]*$/.exec(prefixFull)?.[0] ?? "";
  const before = prefixFull.slice(0, prefixFull.length - word.length);
  const span = { start: offset - word.length, end: offset };
  const list = yaml ? completeYaml(a, text, lineStart, before) : completeDsl(a, text, offset - word.length, before);
  return { entries: list, word: span };
}

function memberEntries(a: Analysis, before: string): CompletionEntry[] | null {
  if (!/\.\s*$/.test(before)) return null;
  const call = /([A-Za-z_]\w*)\s*\([^()]*\)\s*\.\s*$/.exec(before);
  if (call) return tapEntries(a, call[1]!);
  const name = /([A-Za-z_]\w*)\s*\.\s*$/.exec(before)?.[1];
  if (name && a.defs.some((d) => d.kind === "data" && d.name === name)) return [{ label: "label", kind: "tap", detail: "the data's one-hot labels" }];
  return [];
}

function completeDsl(a: Analysis, text: string, at: number, before: string): CompletionEntry[] {
  const member = memberEntries(a, before);
  if (member) return member;
  const header = enclosingBrace(text, at);
  if (header !== null && /^\s*(net|block)\b/.test(header)) {
    // Inside a net: a layer starts after `{`, a comma or a line break; after its kind come its arguments.
    const body = text.slice(0, at);
    const cut = Math.max(body.lastIndexOf(","), body.lastIndexOf("{"), body.lastIndexOf("\n"), body.lastIndexOf("\r"));
    const segment = stripComment(body.slice(cut + 1));
    if (/->\s*$/.test(segment)) return [];
    const op = /^\s*([A-Za-z_]\w*)\b/.exec(segment)?.[1];
    if (!op || segment.trim() === op) return segment.trim() === "" ? layerEntries(a) : [];
    // Inside parentheses (concat(x), a block's flag): the net's inputs and values.
    if (/\([^)]*$/.test(segment)) return [];
    return layerArgEntries(op);
  }
  if (header !== null && /^\s*train\b/.test(header)) {
    const body = text.slice(0, at);
    const cut = Math.max(body.lastIndexOf(","), body.lastIndexOf("{"), body.lastIndexOf("\n"));
    const segment = stripComment(body.slice(cut + 1));
    const key = /^\s*([A-Za-z_]\w*)\s*=/.exec(segment)?.[1];
    if (!key) {
      // A list continues after a comma: `schedule=[d, g]`.
      const open = body.lastIndexOf("[") > body.lastIndexOf("]") ? /([A-Za-z_]\w*)\s*=\s*\[[^\]]*$/.exec(body)?.[1] : undefined;
      if (open) return open === "schedule" ? stepEntries(a) : nameEntries(a);
      return Object.entries(TRAIN_SETTINGS).map(([label, doc]) => ({ label, kind: "setting" as const, doc, insert: `${label}=` }));
    }
    if (key === "schedule") return stepEntries(a);
    if (key === "ema_net") return nameEntries(a, ["net"]);
    if (key === "checkpoint_every") return [{ label: "epoch", kind: "constant" }];
    return nameEntries(a);
  }
  const line = stripComment(before);
  if (/^\s*$/.test(line)) return DECL_KEYWORDS.map((label) => ({ label, kind: "keyword" as const }));
  if (/^\s*data\s+\w+\s*:\s*$/.test(line)) return entries(DATA_SOURCES, "source");
  if (/^\s*noise\s+\w+\s*:\s*$/.test(line)) return entries(NOISE_DISTS, "dist");
  if (/^\s*step\s+\w+\s*:\s*$/.test(line)) return entries(OPTIMIZERS, "optimizer");
  if (/^\s*after\s+$/.test(line)) return stepEntries(a);
  const callArgs = /^\s*(data|noise|step)\s+\w+\s*:\s*(\w+)\s*\(([^)]*)$/.exec(line);
  if (callArgs) {
    const [, kw, fn, inner] = callArgs;
    if (/=\s*[^,]*$/.test(inner!)) return [];
    if (kw === "data") return argEntries(DATA_SOURCES[fn!]?.params ?? [], SOURCES[fn! as keyof typeof SOURCES]?.params);
    if (kw === "noise") return argEntries(NOISE_DISTS[fn!]?.params ?? []);
    return argEntries(OPTIMIZERS[fn!]?.params ?? []);
  }
  if (/^\s*step\b/.test(line)) {
    if (/\bminimize\s+$/.test(line)) return nameEntries(a, ["loss", "value"]);
    if (/\bover\b[\w\s,]*$/.test(line)) return nameEntries(a, ["net"]);
    if (/\)\s*$/.test(line)) return [{ label: "minimize", kind: "keyword" }];
    if (/\bminimize\s+\w+\s+$/.test(line)) return [{ label: "over", kind: "keyword" }];
    return [];
  }
  if (/^\s*(loss\s+\w+\s*=|state\s+\w+\s*=|\w+\s*=|after\s+\w+\s*:)/.test(line)) return expressionEntries(a);
  return [];
}

/** The keys enclosing a YAML line, outermost first, from its indentation. */
function yamlParents(text: string, lineStart: number, indent: number): string[] {
  const lines = text.slice(0, lineStart).split(/\r?\n|\r/);
  const out: string[] = [];
  let limit = indent;
  for (let i = lines.length - 1; i >= 0 && limit > 0; i--) {
    const l = lines[i]!;
    if (!l.trim() || /^\s*#/.test(l)) continue;
    const ind = /^\s*/.exec(l)![0].length;
    const key = /^\s*(?:-\s+)?([A-Za-z_][\w-]*)\s*:/.exec(l)?.[1];
    if (ind < limit && key) {
      out.unshift(key);
      limit = ind;
    } else if (ind < limit) limit = ind;
  }
  return out;
}

function completeYaml(a: Analysis, text: string, lineStart: number, before: string): CompletionEntry[] {
  const indent = /^\s*/.exec(before)![0].length;
  const parents = yamlParents(text, lineStart, indent + (/^\s*-\s/.test(before) ? 1 : 0));
  const parent = parents.at(-1);
  const flow = /([A-Za-z_]\w*)\s*:\s*$/.exec(before)?.[1];
  if (flow === "source") return entries(DATA_SOURCES, "source");
  if (flow === "dist") return entries(NOISE_DISTS, "dist");
  if (flow === "optimizer") return entries(OPTIMIZERS, "optimizer");
  if (flow === "minimize") return nameEntries(a, ["loss", "value"]);
  if (flow === "ema_net") return nameEntries(a, ["net"]);
  if (/^\s*-\s*$/.test(before) || /:\s*\[[^\]]*$/.test(before)) {
    if (parent === "layers") return layerEntries(a);
    if (parent === "schedule" || /schedule\s*:\s*\[[^\]]*$/.test(before)) return stepEntries(a);
    if (parent === "over" || /over\s*:\s*\[[^\]]*$/.test(before)) return nameEntries(a, ["net"]);
    if (parent === "inputs" || /inputs\s*:\s*\[[^\]]*$/.test(before)) return nameEntries(a, ["noise", "data", "value"]);
    return [];
  }
  // A layer written as text: `- dense 1024 ` takes the layer's argument names.
  const layerText = /^\s*-\s+([A-Za-z_]\w*)\s+.*$/.exec(before);
  if (layerText && parent === "layers") return layerArgEntries(layerText[1]!);
  const atKey = /^\s*$/.test(before) || /[{,]\s*$/.test(before);
  if (atKey) {
    // Inside flow mappings on this line (`d: { optimizer: { adam: { `), their keys continue the path.
    const flow: string[] = [];
    for (const m of before.matchAll(/([A-Za-z_][\w-]*)\s*:\s*\{|\}/g)) {
      if (m[0] === "}") flow.pop();
      else flow.push(m[1]!);
    }
    parents.push(...flow);
    const parent = parents.at(-1);
    if (parents.length === 0) return ["gan", "data", "noise", "nets", "blocks", "values", "losses", "state", "steps", "after", "train"].map((label) => ({ label, kind: "keyword" as const, insert: `${label}: ` }));
    if (parent === "train") return Object.entries(TRAIN_SETTINGS).map(([label, doc]) => ({ label, kind: "setting" as const, doc, insert: `${label}: ` }));
    if (parents.length >= 2 && parents.at(-2) === "optimizer") return argEntries(OPTIMIZERS[parent!]?.params ?? [], {}, ": ");
    if (parent === "optimizer") return entries(OPTIMIZERS, "optimizer");
    if (parents[0] === "steps" && parents.length === 2) return ["optimizer", "minimize", "over", "shared"].map((label) => ({ label, kind: "keyword" as const, insert: `${label}: ` }));
    const dataDecl = parents[0] === "data" && parents.length === 2 ? a.spec?.decls.find((d): d is A.DataDecl => d.kind === "Data" && d.name.name === parent) : undefined;
    if (dataDecl) return [{ label: "source", kind: "keyword", insert: "source: " }, ...argEntries(DATA_SOURCES[dataDecl.source.name]?.params ?? [], {}, ": ")];
    if (parents[0] === "nets" && parents.length === 2) return ["inputs", "layers"].map((label) => ({ label, kind: "keyword" as const, insert: `${label}: ` }));
    if (parents[0] === "noise" && parents.length === 2) return [{ label: "dist", kind: "keyword" as const, insert: "dist: " }, ...argEntries(["low", "high", "mean", "std", "shape", "classes"], {}, ": ")];
    return [];
  }
  if (parent === "losses" || parent === "values" || parents[0] === "losses" || parents[0] === "values" || flow !== undefined) return expressionEntries(a);
  return [];
}

// ---------------------------------------------------------------- outline

export type OutlineKind = "net" | "block" | "layer" | "data" | "noise" | "value" | "loss" | "state" | "step" | "train";

export interface OutlineItem {
  readonly name: string;
  readonly kind: OutlineKind;
  readonly detail: string;
  readonly span: A.Span;
  readonly nameSpan: A.Span;
  readonly children: readonly OutlineItem[];
}

/** Nets with their layers, then every other declaration, in the order of the file. */
export function outline(a: Analysis): OutlineItem[] {
  const spec = a.spec;
  if (!spec) return [];
  const out: OutlineItem[] = [];
  const fix = (name: A.Span, whole: A.Span) => ({ span: { start: Math.min(whole.start, name.start), end: Math.max(whole.end, name.end) }, nameSpan: name });
  for (const d of spec.decls) {
    switch (d.kind) {
      case "Net":
      case "Block": {
        const ir = d.kind === "Net" ? a.nets.find((n) => n.name === d.name.name) : undefined;
        const infos = ir ? layerInfos(d, ir) : null;
        const children = d.layers.map((l): OutlineItem => {
          const mine = infos?.get(l) ?? [];
          const shapeText = mine.length ? shape(mine[mine.length - 1]!.outShape) : "";
          return { name: l.tap ? `${l.op.name} -> ${l.tap.name}` : l.op.name, kind: "layer", detail: shapeText, ...fix(l.op.span, l.span), children: [] };
        });
        const detail = d.kind === "Net" ? `(${d.params.map((p) => p.name).join(", ")})${ir ? ` -> ${shape(ir.outShape)}` : ""}` : `(${d.params.map((p) => p.name.name).join(", ")})`;
        out.push({ name: d.name.name, kind: d.kind === "Net" ? "net" : "block", detail, ...fix(d.name.span, d.span), children });
        break;
      }
      case "Data":
        out.push({ name: d.name.name, kind: "data", detail: d.source.name, ...fix(d.name.span, d.span), children: [] });
        break;
      case "Noise":
        out.push({ name: d.name.name, kind: "noise", detail: d.dist.name, ...fix(d.name.span, d.span), children: [] });
        break;
      case "Value":
      case "Loss":
      case "State":
        out.push({ name: d.name.name, kind: d.kind === "Value" ? "value" : d.kind === "Loss" ? "loss" : "state", detail: valueType(a.program, d.name.name) ?? "", ...fix(d.name.span, d.span), children: [] });
        break;
      case "Step":
        out.push({ name: d.name.name, kind: "step", detail: `${d.optimizer.name.name}: ${d.loss.name} over ${d.over.map((o) => o.name).join(", ")}`, ...fix(d.name.span, d.span), children: [] });
        break;
      case "Train":
        out.push({ name: "train", kind: "train", detail: "", span: d.span, nameSpan: { start: d.span.start, end: Math.min(d.span.end, d.span.start + 5) }, children: [] });
        break;
      default:
        break;
    }
  }
  return out;
}

// ---------------------------------------------------------------- rename

export type RenameResult = { ok: true; spans: A.Span[] } | { ok: false; message: string };

const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** The edits that rename the symbol at `offset` to `newName`, or why they cannot. */
export function rename(a: Analysis, offset: number, newName: string): RenameResult {
  const sym = symbolAt(a, offset);
  if (!sym) return { ok: false, message: "there is no net, block, value, loss, step, noise, data or state name here to rename" };
  if (!IDENT.test(newName)) return { ok: false, message: `'${newName}' is not a name: a name is letters, digits and _, not starting with a digit` };
  if (KEYWORDS.includes(newName)) return { ok: false, message: `'${newName}' is a keyword` };
  if (sym.kind !== "step" && (BUILTIN_NAMES.includes(newName) || newName in FUNCTIONS)) return { ok: false, message: `'${newName}' is a built-in name and cannot be declared` };
  if (sym.kind === "block" && LAYERS[canonicalLayer(newName)]) return { ok: false, message: `'${newName}' is a layer kind` };
  if (newName === sym.name) return { ok: true, spans: [] };
  const clash = a.defs.find((d) => d.name === newName && namespaceOf(d.kind) === namespaceOf(sym.kind));
  if (clash) return { ok: false, message: `'${newName}' is already declared (${clash.kind} ${newName})` };
  // Only spans that spell the old name are edited: a YAML span that covers more is left alone.
  const spans = occurrences(a, sym.name, sym.kind).filter((s) => a.text.slice(s.start, s.end) === sym.name);
  return { ok: true, spans };
}

/** The range and text a rename starts from, or null where nothing can be renamed. */
export function prepareRename(a: Analysis, offset: number): A.Span | null {
  const sym = symbolAt(a, offset);
  if (!sym || a.text.slice(sym.span.start, sym.span.end) !== sym.name) return null;
  return sym.span;
}

// ---------------------------------------------------------------- quick fixes

/** The replacement a "did you mean 'x'?" diagnostic proposes, when its range is the misspelled name. */
export function didYouMean(message: string, rangeText: string): string | null {
  const m = /did you mean '([^']+)'\??/.exec(message);
  if (!m || !IDENT.test(rangeText.trim()) || m[1] === rangeText) return null;
  return m[1]!;
}
