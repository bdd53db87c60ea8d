import type * as A from "../parser/ast.ts";
import type { ExprNode, Init, LayerInfo, NetIR, ProgramIR } from "../ir/types.ts";
import type { ArgValue } from "../data/source.ts";
import { printDsl, printYaml, type PrintLayout } from "../parser/print.ts";
import { layerModule } from "../layers/index.ts";
import { directiveStarts } from "../parser/check/allow.ts";

/**
 * The resolved spec (`ganc check --resolved`, reports, TensorBoard): the spec itself with every default
 * the compiler filled in written out as an argument, shapes as comments. It is a spec in the form of its
 * input (.gan or YAML) that checks clean and compiles to the same trainer; each declaration and layer
 * stays on its line, so the trainer's `spec:line` references agree too. Values, losses and `after`
 * expressions are printed as written; comments of the input are replaced by the shape comments.
 */
export function printResolved(spec: A.Spec, p: ProgramIR, text: string, form: "dsl" | "yaml"): string {
  const resolved = resolveSpec(spec, p);
  const starts = [0];
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) === 10) starts.push(i + 1);
  const line = (offset: number) => {
    let lo = 0;
    let hi = starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (starts[mid]! <= offset) lo = mid;
      else hi = mid - 1;
    }
    return lo + 1;
  };
  const layerInfo = new Map<A.Layer, LayerInfo>();
  for (const d of resolved.decls) {
    if (d.kind !== "Net") continue;
    const net = p.nets.find((n) => n.name === d.name.name);
    const infos = net ? asWritten(net) : [];
    d.layers.forEach((l, i) => infos[i] && layerInfo.set(l, infos[i]!));
  }
  const comment = (node: A.Decl | readonly A.Layer[]): string | null => {
    if ("length" in node) return node.map((l) => layerInfo.get(l)).filter((x) => x).map((x) => `${x!.name}: ${shape(x!.outShape)}`).join(", ") || null;
    if (node.kind === "Data") {
      const d = p.data;
      if (!d.labelled) return `${shape([d.batch, ...d.shape])}, no labels`;
      return `${shape([d.batch, ...d.shape])}, ${d.numClasses} classes${d.classNames ? `: ${d.classNames.join(", ")}` : ""}`;
    }
    if (node.kind === "Net") {
      const net = p.nets.find((n) => n.name === node.name.name);
      return net ? `${net.params.map((q) => `${q.name}: ${shape(q.shape)}`).join(", ")} -> ${shape(net.outShape)}` : null;
    }
    if (node.kind === "Value" || node.kind === "Loss") {
      const id = node.kind === "Value" ? p.values[node.name.name] : p.losses.find((l) => l.name === node.name.name)?.node;
      const t = id === undefined ? null : p.nodes[id]?.type;
      return t ? (t.batched ? shape(["batch", ...t.shape]) : t.shape.length ? shape(t.shape) : "scalar") : null;
    }
    return null;
  };
  const layout: PrintLayout = { line, comment };
  const printed = form === "yaml" ? printYaml(resolved, undefined, layout) : printDsl(resolved, layout);
  return withAllows(printed, text, form === "yaml");
}

/**
 * The input's allow directives (`#[allow(W0403)] why`) carried to the same lines of the resolved text, so
 * that it allows what the input allows (every declaration and layer keeps its line): a directive on a line
 * of its own takes that line, one after code goes first in that line's comment.
 */
function withAllows(printed: string, text: string, yaml: boolean): string {
  const starts = [...directiveStarts(text, yaml)];
  if (!starts.length) return printed;
  const out = printed.split("\n");
  for (const at of starts) {
    const lineStart = text.lastIndexOf("\n", at - 1) + 1;
    const lineNo = text.slice(0, lineStart).split("\n").length - 1;
    let end = text.indexOf("\n", at);
    if (end < 0) end = text.length;
    const directive = text.slice(at, end).replace(/\r$/, "").trimEnd();
    const before = text.slice(lineStart, at);
    while (out.length <= lineNo) out.push("");
    const now = out[lineNo]!;
    if (!before.trim()) {
      // A directive of its own line: the resolved text has no code there (a blank or comment line).
      out[lineNo] = !now.trim() || now.trimStart().startsWith("#") ? before + directive : `${now}   ${directive}`;
    } else {
      const hash = now.search(/\s#\s/);
      out[lineNo] = hash < 0 ? `${now}   ${directive}` : `${now.slice(0, hash)}   ${directive}; ${now.slice(hash).trim().replace(/^#\s*/, "")}`;
    }
  }
  return out.join("\n");
}

const shape = (s: readonly (number | string)[]) => `[${s.join(", ")}]`;

// ---- AST with every default ------------------------------------------------------------------------

const NOSPAN: A.Span = { start: -1, end: -1 };
const ident = (name: string): A.Ident => ({ kind: "Ident", name, span: NOSPAN });
const num = (value: number): A.Expr => ({ kind: "Number", value, span: NOSPAN });
const name = (n: string): A.Expr => ({ kind: "Name", name: n, span: NOSPAN });
const bool = (b: boolean) => name(b ? "true" : "false");
const list = (items: A.Expr[]): A.Expr => ({ kind: "List", items, span: NOSPAN });
const call = (fn: string, args: A.Expr[]): A.Expr => ({ kind: "Call", callee: ident(fn), args: args.map((value) => ({ kind: "Arg", name: null, value, span: NOSPAN })), span: NOSPAN });

function argExpr(v: ArgValue): A.Expr {
  if (typeof v === "number") return num(v);
  if (typeof v === "boolean") return bool(v);
  if (typeof v === "string") return name(v);
  return list(v.map(num));
}

/** `args` with each of `fill` that is not given appended (a given argument is kept as written). */
function withDefaults(args: readonly A.Arg[], fill: readonly (readonly [string, A.Expr | null])[]): A.Arg[] {
  const out = [...args];
  for (const [k, v] of fill) if (v && !args.some((a) => a.name?.name === k)) out.push({ kind: "Arg", name: ident(k), value: v, span: NOSPAN });
  return out;
}

function initExpr(i: Init): A.Expr {
  switch (i.kind) {
    case "normal":
    case "truncated_normal":
      return call(i.kind, [num(i.mean), num(i.std)]);
    case "uniform":
      return call("uniform", [num(i.low), num(i.high)]);
    default:
      return name(i.kind);
  }
}

/** The spec's AST with every default the checker applied written out as an argument. */
export function resolveSpec(spec: A.Spec, p: ProgramIR): A.Spec {
  const decls = spec.decls.map((d): A.Decl => {
    switch (d.kind) {
      case "Data": {
        const x = p.data;
        return { ...d, args: withDefaults(d.args, [["batch", num(x.batch)], ...Object.entries(x.args).map(([k, v]) => [k, argExpr(v)] as const)]) };
      }
      case "Noise": {
        const n = p.noise.find((x) => x.name === d.name.name);
        if (!n || n.dist === "categorical") return d;
        const [a, b] = n.dist === "uniform" ? ["low", "high"] : ["mean", "std"];
        return { ...d, args: withDefaults(d.args, [[a, num(n.a)], [b, num(n.b)]]) };
      }
      case "Net": {
        const net = p.nets.find((n) => n.name === d.name.name);
        if (!net) return d;
        const inits = new Map(net.vars.map((x) => [x.name, x.init]));
        const initOf = (v: string) => initExpr(inits.get(v)!);
        const infos = asWritten(net);
        const layers = d.layers.map((l, i): A.Layer => {
          const L = infos[i]?.layer;
          if (!L) return l;
          const fill = layerModule(L).resolved(L, { num, bool, name, initOf });
          return { ...l, args: withDefaults(l.args, fill) };
        });
        return { ...d, layers };
      }
      case "Step": {
        const s = p.steps.find((x) => x.name === d.name.name);
        if (!s || s.optimizerOf !== undefined) return d; // on another step's optimizer: that step's settings
        const o = s.optimizer;
        const fill: [string, A.Expr | null][] = [["lr", num(o.lr)]];
        if (o.kind === "adam") fill.push(["beta1", num(o.beta1)], ["beta2", num(o.beta2)], ["epsilon", num(o.epsilon)]);
        if (o.kind === "rmsprop") fill.push(["rho", num(o.rho)], ["momentum", num(o.momentum)], ["epsilon", num(o.epsilon)]);
        if (o.kind === "momentum") fill.push(["momentum", num(o.momentum)], ["nesterov", bool(o.nesterov)]);
        fill.push(["clipnorm", o.clipnorm === null ? null : num(o.clipnorm)], ["clipvalue", o.clipvalue === null ? null : num(o.clipvalue)], ["decay", name(o.decay)]);
        if (o.decay !== "none") fill.push(["decay_every", num(o.decayEvery)], ["decay_rate", num(o.decayRate)]);
        return { ...d, optimizer: { ...d.optimizer, args: withDefaults(d.optimizer.args, fill) } };
      }
      case "Train":
        return { ...d, settings: withDefaults(d.settings, trainFill(p)) };
      default:
        return d;
    }
  });
  if (!decls.some((d) => d.kind === "Train")) decls.push({ kind: "Train", settings: withDefaults([], trainFill(p)), span: NOSPAN });
  // A spec without `gan "..."` is named after its file; the resolved spec leaves it so (a name written out
  // would stay when the file is renamed, and could push the first declaration off its line).
  return { ...spec, decls };
}

/** `every(16, d_reg, adjust=false)`: a lazy schedule entry with its default written out. */
function everyEntry(k: number, step: string, adjust: boolean): A.Expr {
  const arg = (value: A.Expr, key: string | null = null): A.Arg => ({ kind: "Arg", name: key === null ? null : { kind: "Ident", name: key, span: NOSPAN }, value, span: NOSPAN });
  return { kind: "Call", callee: { kind: "Ident", name: "every", span: NOSPAN }, args: [arg(num(k)), arg(name(step)), arg(bool(adjust), "adjust")], span: NOSPAN };
}

function trainFill(p: ProgramIR): [string, A.Expr | null][] {
  const t = p.train;
  return [
    t.steps !== null ? ["steps", num(t.steps)] : ["epochs", num(t.epochs ?? 25)],
    ["schedule", list(t.schedule.map((x) => (x.every !== undefined ? everyEntry(x.every, x.step, x.adjust ?? false) : x.repeat > 1 ? { kind: "Binary", op: "*", left: num(x.repeat), right: name(x.step), span: NOSPAN } : name(x.step))))],
    ["seed", num(t.seed)],
    ["samples", t.samples >= 0 ? exprOf(p, t.samples) : null],
    ["sample_every", num(t.sampleEvery)],
    ["sample_count", num(t.sampleCount)],
    ["checkpoint_every", t.checkpointEvery === "epoch" ? name("epoch") : num(t.checkpointEvery)],
    ["keep_checkpoints", num(t.keepCheckpoints)],
    ["log_every", num(t.logEvery)],
    ["eval_every", num(t.evalEvery)],
    ["eval_count", num(t.evalCount)],
    ["histogram_every", num(t.histogramEvery)],
    ["ema", t.ema === null ? null : num(t.ema)],
    ["ema_net", t.ema === null || t.emaNet === null ? null : name(t.emaNet)],
  ];
}

/** An IR node as an expression (a named value by its name), for the default `samples`. */
function exprOf(p: ProgramIR, id: number): A.Expr {
  const n: ExprNode = p.nodes[id]!;
  if (n.name) return name(n.name);
  const sub = (i: number) => exprOf(p, i);
  switch (n.op) {
    case "data":
      return name(p.data.name);
    case "label":
      return { kind: "Member", object: name(p.data.name), member: ident("label"), span: NOSPAN };
    case "noise":
      return name(n.noise);
    case "batch":
      return name("batch");
    case "state":
      return name(n.state);
    case "const":
      return num(n.value);
    case "apply":
      return call(n.net, n.args.map(sub));
    case "tap":
      return { kind: "Member", object: sub(n.of), member: ident(n.tap), span: NOSPAN };
    case "neg":
      return { kind: "Unary", op: "-", operand: sub(n.a), span: NOSPAN };
    case "binary":
      return { kind: "Binary", op: n.o, left: sub(n.a), right: sub(n.b), span: NOSPAN };
    case "call":
      return call(n.fn, n.args.map(sub));
  }
}

/**
 * The net's layers as its declaration lists them: one entry per layer written, null for a block instance
 * (written as its name and arguments, whose layers the block declares).
 */
function asWritten(net: NetIR): (LayerInfo | null)[] {
  const out: (LayerInfo | null)[] = [];
  let last: string | null = null;
  for (const l of net.layers) {
    const top = l.instance?.split("/")[0] ?? null;
    if (top === null) out.push(l);
    else if (top !== last) out.push(null);
    last = top;
  }
  return out;
}
