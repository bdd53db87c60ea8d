import { C, type ErrorCode, type WarningCode } from "../codes.ts";
import type * as A from "../ast.ts";
import { error, hasErrors, suggest, warning, SourceText, type Diagnostic } from "../diagnostics.ts";
import * as nodePath from "node:path";
import { DATA_SOURCES, LAYERS, NOISE_DISTS, OPTIMIZERS, TRAIN_SETTINGS, canonicalLayer } from "../signatures.ts";
import { isSourceName, SOURCES } from "../../data/index.ts";
import { ArgReader, constNumber } from "./args.ts";
import { FUNCTIONS, isFnName, NEGATE, OPERATORS, type FnDef } from "../../functions/index.ts";
import { alignment, show, type Range } from "../../functions/rules.ts";
import { dataRange, netRange } from "./expr-types.ts";
import type { ActionIR, DataIR, ExprNode, LayerIR, NetIR, NodeOp, NoiseIR, OptimizerIR, ProgramIR, ScheduleItemIR, StepIR, TensorType, TrainIR } from "../../ir/types.ts";
import { checkGroups } from "./groups.ts";
import { checkStepsTrainSomething } from "./step-vars.ts";
import { lintOutputRange } from "./range-lint.ts";
import { outputFix } from "./net-output.ts";
import { lintSpec } from "./lint.ts";
import { recursiveBlocks } from "./blocks.ts";
import { fmt, instantiateNet, knownLayer, unknownLayer, type ShareRequest } from "./nets.ts";
import type { NetCache } from "./net-cache.ts";
import { applyAllows } from "./allow.ts";

export interface CheckResult {
  readonly program: ProgramIR | null;
  readonly diagnostics: Diagnostic[];
  /**
   * Every net whose layers checked without an error, with its shapes: the program's nets when there is a
   * program, and otherwise those the checker got to (an editor shows their shapes while the spec has
   * errors elsewhere).
   */
  readonly nets: readonly NetIR[];
}

const SCALAR: TensorType = { batched: false, shape: [] };
const RESERVED = new Set(["ones", "zeros", "batch", "true", "false", "epoch"]);

/**
 * Resolves names, infers shapes through every layer and expression, checks optimizer groups and numeric
 * ranges, and runs the GAN lint rules. Reports everything it finds; returns a program only without errors.
 */
export function checkSpec(spec: A.Spec, text: string, options: CheckOptions = {}): CheckResult {
  const c = new Checker(spec, new SourceText(spec.file, text), options.nets && !/\.(ya?ml)$/i.test(spec.file) ? options.nets : null);
  const program = c.run();
  options.nets?.sweep();
  // Warnings the spec allows knowingly (#[allow(W0403)] comments) are left out here.
  const diagnostics = applyAllows(spec, text, c.diags);
  const ok = hasErrors(diagnostics) ? null : program;
  return { program: ok, diagnostics, nets: ok ? ok.nets : c.checkedNets() };
}

export interface CheckOptions {
  /**
   * Nets' shape inference kept from the previous check of the same document (the language server's):
   * the result is the same with or without it. Used for .gan specs, whose declarations' text is contiguous.
   */
  readonly nets?: NetCache;
}

type Decl = A.Decl;

class Checker {
  readonly diags: Diagnostic[] = [];
  readonly file: string;
  private readonly declared = new Map<string, A.Ident>();
  private readonly nodes: ExprNode[] = [];
  private readonly memo = new Map<string, number>();
  private readonly netDecls = new Map<string, A.NetDecl>();
  private readonly blockDecls = new Map<string, A.BlockDecl>();
  /** Blocks on a cycle of instances (reported once; their instances are not expanded). */
  private cyclicBlocks: ReadonlySet<string> = new Set();
  private readonly nets = new Map<string, NetIR | null>();
  /** Embed layers that use another net's table (share=G), resolved once every net is checked. */
  private readonly shares: ShareRequest[] = [];
  private readonly valueDecls = new Map<string, A.ValueDecl | A.LossDecl>();
  private readonly values = new Map<string, number | null>();
  private readonly resolving: string[] = [];
  private readonly noiseNames = new Set<string>();
  private readonly stateNames = new Set<string>();
  private data: DataIR | null = null;
  private readonly noiseIR = new Map<string, NoiseIR>();

  constructor(
    private readonly spec: A.Spec,
    private readonly src: SourceText,
    private readonly netCache: NetCache | null = null,
  ) {
    this.file = spec.file;
  }

  private line(offset: number): number {
    return this.src.position(offset).line;
  }
  private err(code: ErrorCode, msg: string, span: A.Span, notes: Diagnostic["notes"] = []) {
    this.diags.push(error(code, msg, this.file, span, [...notes]));
  }
  private warn(code: WarningCode, msg: string, span: A.Span) {
    this.diags.push(warning(code, msg, this.file, span));
  }

  private byKind: Map<Decl["kind"], Decl[]> | null = null;
  /** The declarations of one kind, in the order of the spec (grouped in one pass, once). */
  private of<K extends Decl["kind"]>(kind: K): readonly Extract<Decl, { kind: K }>[] {
    if (!this.byKind) {
      this.byKind = new Map();
      for (const d of this.spec.decls) {
        const list = this.byKind.get(d.kind);
        if (list) list.push(d);
        else this.byKind.set(d.kind, [d]);
      }
    }
    return (this.byKind.get(kind) ?? []) as Extract<Decl, { kind: K }>[];
  }
  private firstByName: Map<string, Map<string, Decl>> = new Map();
  /** The first declaration of `kind` named `name` (what `of(kind).find(...)` gives, without the scan). */
  private named<K extends "Loss" | "Step" | "Noise">(kind: K, name: string): Extract<Decl, { kind: K }> | undefined {
    let m = this.firstByName.get(kind);
    if (!m) {
      m = new Map();
      for (const d of this.of(kind) as readonly (A.LossDecl | A.StepDecl | A.NoiseDecl)[]) if (!m.has(d.name.name)) m.set(d.name.name, d);
      this.firstByName.set(kind, m);
    }
    return m.get(name) as Extract<Decl, { kind: K }> | undefined;
  }

  /** The nets instantiated without an error so far. */
  checkedNets(): NetIR[] {
    return [...this.nets.values()].filter((n): n is NetIR => !!n);
  }

  run(): ProgramIR | null {
    this.declareNames();
    const data = this.checkData();
    const noise = this.of("Noise").map((n) => this.checkNoise(n)).filter((n): n is NoiseIR => !!n);
    const states = this.of("State").map((s) => {
      const v = constNumber(s.init);
      if (v === null || !Number.isFinite(v)) this.err(C.E0144, `state '${s.name.name}' needs a constant number as its start value`, s.init.span);
      return { name: s.name.name, init: v ?? 0, line: this.line(s.span.start) };
    });
    for (const n of this.of("Net")) {
      if (n.params.length === 0) this.err(C.E0105, `net ${n.name.name} needs at least one input`, n.name.span);
      const seen = new Map<string, A.Ident>();
      for (const p of n.params) {
        const prev = seen.get(p.name);
        if (prev) this.err(C.E0106, `input '${p.name}' appears twice in net ${n.name.name}`, p.span, [{ message: "first here", file: this.file, span: prev.span }]);
        seen.set(p.name, p);
      }
    }
    if (!data) return null;
    this.data = data;
    for (const n of noise) this.noiseIR.set(n.name, n);
    // Values and losses in dependency order, with cycle detection.
    if (!this.checkDepth()) return null;
    for (const [name, d] of this.valueDecls) this.resolveValue(name, d.name.span);
    const losses = this.of("Loss").filter((l) => this.valueDecls.get(l.name.name) === l).map((l) => {
      const id = this.values.get(l.name.name);
      if (id != null && !this.isScalar(id)) this.err(C.E0204, `loss '${l.name.name}' must be a scalar, but it is ${show(this.nodes[id]!.type)}; wrap it in mean(...)`, l.expr.span);
      return { name: l.name.name, node: id ?? -1, line: this.line(l.span.start) };
    });
    for (const n of this.of("Net")) {
      if (this.applied.has(n.name.name)) continue;
      this.warn(C.W0405, `net ${n.name.name} is never applied, so it is not trained and has no shapes`, n.name.span);
      // without input shapes its layers are not checked, but a misspelled layer is an error all the same
      for (const l of n.layers) if (!knownLayer(l, this.blockDecls)) this.diags.push(unknownLayer(l, n, this.blockDecls, this.file));
    }
    this.resolveShares();
    const steps = this.checkSteps();
    const train = this.checkTrain(steps);
    this.checkTruncation(losses, steps, train);
    if (hasErrors(this.diags)) return null;
    const nets = [...this.nets.values()].filter((n): n is NetIR => !!n);
    this.checkGroupsOfBatch(nets, data);
    if (hasErrors(this.diags)) return null;
    const program: ProgramIR = {
      file: this.file,
      name: this.spec.name ?? this.file.replace(/^.*[\\/]/, "").replace(/\.gan(\.ya?ml)?$|\.ya?ml$/, ""),
      data,
      noise,
      states,
      nets,
      nodes: this.nodes,
      values: Object.fromEntries([...this.values].filter(([, id]) => id != null)) as Record<string, number>,
      losses,
      steps,
      train: train!,
    };
    checkGroups(program, this.spec, this.diags);
    checkStepsTrainSomething(program, this.spec, this.diags);
    lintSpec(program, this.spec, this.diags);
    lintOutputRange(program, this.spec, this.diags);
    return program;
  }

  /** minibatch_stddev splits the batch into groups: the spec's batch must be a multiple of each group (E0183). */
  private checkGroupsOfBatch(nets: NetIR[], data: DataIR) {
    const decl = this.of("Data")[0];
    const arg = decl?.args.find((a) => a.name?.name === "batch") ?? decl?.args.find((a) => a.name === null);
    for (const net of nets) {
      for (const info of net.layers) {
        if (info.layer.op !== "minibatch_stddev") continue;
        const g = Math.min(info.layer.group, data.batch);
        if (data.batch % g === 0) continue;
        this.err(C.E0183, `the batch of ${data.batch} is not a multiple of group=${g} of minibatch_stddev in net ${net.name} (line ${info.line}); choose a batch that is, or another group`, arg?.value.span ?? decl?.span ?? { start: 0, end: 0 });
      }
    }
  }

  /**
   * Points each `embed(..., share=G)` at G's table: the net and its embed layer must exist (with a
   * did-you-mean), the table must have the layer's shape, and it must be G's own (not itself shared, not
   * spectrally normalized: the power iteration's vector is updated by every training pass that reads it).
   * The layer then reads G's kernel; the variable stays G's alone (in G's vars, trained by G's steps).
   */
  private resolveShares() {
    for (const q of this.shares) {
      const net = this.nets.get(q.net);
      if (!net) continue;
      const at = `${q.net}.${net.layers[q.index]!.name}`;
      if (q.owner === q.net) {
        this.err(C.E0177, `${at} shares an embedding of its own net ${q.net}; within a net, name the embedding's output (-> emb) and read it where it is needed`, q.span);
        continue;
      }
      if (!this.netDecls.has(q.owner)) {
        const s = suggest(q.owner, [...this.netDecls.keys()]);
        this.err(C.E0175, `share=${q.owner}: unknown net '${q.owner}'${s ? `; did you mean '${s}'?` : ` (nets: ${[...this.netDecls.keys()].join(", ")})`}`, q.span);
        continue;
      }
      const owner = this.nets.get(q.owner);
      if (!owner) {
        if (!this.nets.has(q.owner)) this.err(C.E0175, `share=${q.owner}: net ${q.owner} is never applied, so its embedding has no shape and is never trained`, q.span);
        continue;
      }
      const embeds = owner.layers.filter((l) => l.layer.op === "embed");
      const label = (l: (typeof embeds)[number]) => `${l.name}${l.tap ? ` (-> ${l.tap})` : ""}`;
      let target: (typeof embeds)[number] | undefined;
      if (q.layer === null) {
        if (embeds.length !== 1) {
          this.err(C.E0175, embeds.length === 0 ? `share=${q.owner}: net ${q.owner} has no embed layer` : `share=${q.owner}: net ${q.owner} has ${embeds.length} embed layers; name one: ${embeds.map((l) => `share=${q.owner}.${l.tap ?? l.name}`).join(", ")}`, q.span);
          continue;
        }
        target = embeds[0];
      } else {
        target = embeds.find((l) => l.name === q.layer || l.tap === q.layer);
        if (!target) {
          const s = suggest(q.layer, embeds.flatMap((l) => (l.tap ? [l.name, l.tap] : [l.name])));
          this.err(C.E0175, `share=${q.owner}.${q.layer}: net ${q.owner} has no embed layer '${q.layer}'${s ? `; did you mean '${s}'?` : ` (its embed layers: ${embeds.map(label).join(", ") || "none"})`}`, q.span);
          continue;
        }
      }
      const t = target.layer as Extract<LayerIR, { op: "embed" }>;
      if (t.shared) {
        this.err(C.E0177, `share=${q.owner}: ${q.owner}.${target.name} itself uses ${t.shared.net}'s table; share=${t.shared.net}${t.shared.layer ? "." + t.shared.layer : ""} names its owner`, q.span);
        continue;
      }
      if (t.sn !== null) {
        this.err(C.E0177, `share=${q.owner}: ${q.owner}.${target.name} is spectrally normalized (sn=true), and its power-iteration vector is updated by every training pass that reads it, so it cannot be shared`, q.span);
        continue;
      }
      const own = [t.classes, t.dim];
      if (fmt(own) !== fmt(q.shape)) {
        this.err(C.E0176, `${at} is a [classes, dim] table of shape ${fmt(q.shape)}, but the embedding it shares, ${q.owner}.${target.name}, is ${fmt(own)}${q.shape[0] !== own[0] ? ` (its label has ${own[0]} classes, this one ${q.shape[0]})` : ""}`, q.span);
        continue;
      }
      const layers = net.layers.map((l, i) => (i === q.index ? { ...l, layer: { ...(l.layer as typeof t), kernel: t.kernel, sn: null, shared: { net: q.owner, layer: target!.name } } } : l));
      this.nets.set(q.net, { ...net, layers });
    }
  }

  /** Every top-level name lives in one namespace (nets, data, noise, values, losses, states); steps have their own. */
  private declareNames() {
    const steps = new Map<string, A.Ident>();
    for (const d of this.spec.decls) {
      let id: A.Ident | null = null;
      if (d.kind === "Step") {
        const prev = steps.get(d.name.name);
        if (prev) this.err(C.E0120, `step '${d.name.name}' is declared twice`, d.name.span, [{ message: "first declared here", file: this.file, span: prev.span }]);
        steps.set(d.name.name, d.name);
        continue;
      }
      if (d.kind === "Data" || d.kind === "Noise" || d.kind === "Net" || d.kind === "Block" || d.kind === "Value" || d.kind === "Loss" || d.kind === "State") id = d.name;
      if (!id) continue;
      if (RESERVED.has(id.name) || id.name in FUNCTIONS) {
        this.err(C.E0121, `'${id.name}' is a built-in name and cannot be declared`, id.span);
        continue;
      }
      const prev = this.declared.get(id.name);
      if (prev) {
        this.err(C.E0120, `'${id.name}' is declared twice`, id.span, [{ message: "first declared here", file: this.file, span: prev.span }]);
        continue;
      }
      this.declared.set(id.name, id);
      if (d.kind === "Net") this.netDecls.set(id.name, d);
      if (d.kind === "Block") this.blockDecls.set(id.name, d);
      if (d.kind === "Value" || d.kind === "Loss") this.valueDecls.set(id.name, d);
      if (d.kind === "Noise") this.noiseNames.add(id.name);
      if (d.kind === "State") this.stateNames.add(id.name);
    }
    this.cyclicBlocks = recursiveBlocks(this.blockDecls, this.file, this.diags);
    const trains = this.of("Train");
    if (trains.length > 1) this.err(C.E0120, "'train' is declared twice", trains[1]!.span, [{ message: "first declared here", file: this.file, span: trains[0]!.span }]);
  }

  private checkData(): DataIR | null {
    const ds = this.of("Data");
    if (ds.length === 0) {
      this.err(C.E0140, "the spec has no data source; add one, like: data real: mnist(batch=64)", { start: 0, end: 0 });
      return null;
    }
    if (ds.length > 1) this.err(C.E0141, "only one data source is supported per spec", ds[1]!.span, [{ message: "the first one", file: this.file, span: ds[0]!.span }]);
    const d = ds[0]!;
    const src = d.source.name;
    if (!isSourceName(src)) {
      const s = suggest(src, Object.keys(SOURCES));
      this.err(C.E0132, `unknown data source '${src}'${s ? `; did you mean '${s}'?` : ` (known: ${Object.keys(SOURCES).join(", ")})`}`, d.source.span);
      return null;
    }
    const r = new ArgReader(this.file, this.diags, d.args, `data source '${src}'`, DATA_SOURCES[src]);
    const batch = r.posInt("batch", 64)!;
    const pathArg = r.arg("path");
    if (pathArg && pathArg.value.kind !== "String") this.err(C.E0118, "'path' must be a string", pathArg.value.span);
    const path = pathArg?.value.kind === "String" ? pathArg.value.value : null;
    const res = SOURCES[src].resolve({
      r,
      span: d.span,
      specDir: nodePath.dirname(nodePath.resolve(this.file)),
      path,
      error: (code, message, at) => this.err(code, message, at ?? d.span),
    });
    if (!res) return null;
    return {
      name: d.name.name,
      source: src,
      batch,
      shape: res.shape,
      numClasses: res.numClasses,
      labelled: res.labelled,
      classNames: res.classNames,
      path,
      args: res.args,
      range: res.range,
      line: this.line(d.span.start),
    };
  }

  private checkNoise(n: A.NoiseDecl): NoiseIR | null {
    const sig = NOISE_DISTS[n.dist.name];
    if (!sig) {
      const s = suggest(n.dist.name, Object.keys(NOISE_DISTS));
      this.err(C.E0133, `unknown noise distribution '${n.dist.name}'${s ? `; did you mean '${s}'?` : ` (known: ${Object.keys(NOISE_DISTS).join(", ")})`}`, n.dist.span);
      return null;
    }
    const r = new ArgReader(this.file, this.diags, n.args, `noise '${n.dist.name}'`, sig);
    const line = this.line(n.span.start);
    if (n.dist.name === "categorical") {
      const classes = r.posInt("classes", null);
      if (classes === null) r.required("classes", n.span);
      return { name: n.name.name, dist: "categorical", a: 0, b: 0, shape: [classes ?? 1], classes: classes ?? 1, line };
    }
    const uni = n.dist.name === "uniform";
    const a = r.number(uni ? "low" : "mean", uni ? -1 : 0);
    const b = r.number(uni ? "high" : "std", 1, (v) => (uni ? null : v > 0 ? null : "must be > 0"));
    if (uni && !(a < b)) this.err(C.E0503, `uniform needs low < high, got ${a} and ${b}`, n.span);
    const shape = r.intList("shape");
    if (!shape && !r.has("shape")) r.required("shape", n.span);
    return { name: n.name.name, dist: uni ? "uniform" : "normal", a, b, shape: shape ?? [1], classes: 0, line };
  }

  // ---- expressions ---------------------------------------------------------------------------

  private isScalar(id: number): boolean {
    const t = this.nodes[id]!.type;
    return !t.batched && t.shape.length === 0;
  }

  /**
   * Hash-consing: the same computation written twice is one node (one forward pass of D(fake), not two).
   * A node is stored with its type, its value range and, for a broadcasting operation, its operands'
   * alignment: computed here once, read by codegen and the lints.
   */
  private mk(op: NodeOp, type: TensorType, span: A.Span): number {
    const key = nodeKey(op);
    const hit = this.memo.get(key);
    if (hit !== undefined) return hit;
    const id = this.nodes.length;
    const operands = op.op === "binary" ? [op.a, op.b] : op.op === "call" && FUNCTIONS[op.fn].broadcasts ? op.args : null;
    const align = operands ? alignment(this.nodes[operands[0]!]!.type, this.nodes[operands[1]!]!.type) : [];
    this.nodes.push({ ...op, id, type, range: this.rangeOf(op), align, name: null, line: this.line(span.start), span });
    this.memo.set(key, id);
    return id;
  }

  /** The value range of a new node, from its operands' ranges and the rules of its operator or function. */
  private rangeOf(op: NodeOp): Range | null {
    const r = (id: number) => this.nodes[id]!.range;
    switch (op.op) {
      case "const":
        return { low: op.value, high: op.value };
      case "data":
        return this.data ? dataRange({ data: this.data }) : null;
      case "label":
        return { low: 0, high: 1 };
      case "noise": {
        const z = this.noiseIR.get(op.noise);
        return z?.dist === "uniform" ? { low: z.a, high: z.b } : z?.dist === "categorical" ? { low: 0, high: 1 } : null;
      }
      case "apply":
        return netRange(this.nets.get(op.net)!);
      case "tap": {
        const net = this.nets.get((this.nodes[op.of] as ExprNode & { op: "apply" }).net)!;
        return netRange(net, net.taps[op.tap]);
      }
      case "call":
        return FUNCTIONS[op.fn].range(op.args.map(r));
      case "binary":
        return OPERATORS[op.o].range(r(op.a), r(op.b));
      case "neg":
        return NEGATE.range(r(op.a));
      case "state":
      case "batch":
        return null;
    }
  }

  private resolveValue(name: string, at: A.Span): number | null {
    if (this.values.has(name)) return this.values.get(name)!;
    const decl = this.valueDecls.get(name)!;
    const i = this.resolving.indexOf(name);
    if (i >= 0) {
      const cycle = [...this.resolving.slice(i), name].join(" -> ");
      this.err(C.E0122, `'${name}' is defined in terms of itself: ${cycle}`, at, [{ message: `'${name}' is defined here`, file: this.file, span: decl.name.span }]);
      this.values.set(name, null);
      return null;
    }
    if (this.resolving.length > 300) {
      this.err(C.E0149, `values defined through more than 300 other values ('${name}' -> ...); shorten the chain`, at);
      this.values.set(name, null);
      return null;
    }
    this.resolving.push(name);
    const id = this.expr(decl.expr);
    this.resolving.pop();
    this.values.set(name, id);
    if (id !== null && this.nodes[id]!.name === null && this.nodes[id]!.op !== "data" && this.nodes[id]!.op !== "noise") this.nodes[id]!.name = name;
    return id;
  }

  private expr(e: A.Expr): number | null {
    switch (e.kind) {
      case "Number":
        if (!Number.isFinite(e.value)) {
          this.err(C.E0502, `number ${e.value} is out of range`, e.span);
          return null;
        }
        return this.mk({ op: "const", value: e.value }, SCALAR, e.span);
      case "String":
        this.err(C.E0205, "a string cannot be used in an expression", e.span);
        return null;
      case "List":
        this.err(C.E0205, "a list cannot be used in an expression", e.span);
        return null;
      case "Name":
        return this.name(e.name, e.span);
      case "Unary": {
        const a = this.expr(e.operand);
        return a === null ? null : this.mk({ op: "neg", a }, NEGATE.type(this.nodes[a]!.type), e.span);
      }
      case "Binary": {
        const a = this.expr(e.left);
        const b = this.expr(e.right);
        if (a === null || b === null) return null;
        const t = OPERATORS[e.op].type(this.nodes[a]!.type, this.nodes[b]!.type);
        if (typeof t === "string") {
          this.err(C.E0510, `cannot apply '${e.op}': ${t}`, e.span);
          return null;
        }
        return this.mk({ op: "binary", o: e.op, a, b }, t, e.span);
      }
      case "Member":
        return this.member(e);
      case "Call":
        return this.call(e);
    }
  }

  private name(name: string, span: A.Span): number | null {
    if (name === "ones") return this.mk({ op: "const", value: 1 }, SCALAR, span);
    if (name === "zeros") return this.mk({ op: "const", value: 0 }, SCALAR, span);
    if (name === "batch") return this.mk({ op: "batch" }, SCALAR, span);
    if (this.data && name === this.data.name) return this.mk({ op: "data" }, { batched: true, shape: this.data.shape }, span);
    if (this.noiseNames.has(name)) {
      const n = this.named("Noise", name)!;
      const ir = this.checkNoiseShapeOnly(n);
      return this.mk({ op: "noise", noise: name }, { batched: true, shape: ir }, span);
    }
    if (this.stateNames.has(name)) return this.mk({ op: "state", state: name }, SCALAR, span);
    if (this.valueDecls.has(name)) return this.resolveValue(name, span);
    if (this.netDecls.has(name)) {
      this.err(C.E0207, `net ${name} must be applied to inputs, like ${name}(x)`, span);
      return null;
    }
    const s = suggest(name, [...this.declared.keys(), "ones", "zeros", "batch"]);
    this.err(C.E0123, `unknown name '${name}'${s ? `; did you mean '${s}'?` : ""}`, span);
    return null;
  }

  private checkNoiseShapeOnly(n: A.NoiseDecl): number[] {
    const shape = n.args.find((a) => a.name?.name === "shape");
    const classes = n.args.find((a) => a.name?.name === "classes");
    if (n.dist.name === "categorical") return [(classes && constNumber(classes.value)) || 1];
    if (shape?.value.kind === "List") return shape.value.items.map((x) => constNumber(x) ?? 1);
    return [1];
  }

  private member(e: A.MemberExpr): number | null {
    // real.label: the one-hot labels of the data batch.
    if (e.object.kind === "Name" && this.data && e.object.name === this.data.name) {
      if ((e.member.name === "label" || e.member.name === "labels") && !this.data.labelled) {
        this.err(C.E0124, `data '${this.data.name}' has no labels; give it labels=true to take the classes from its subfolders`, e.member.span);
        return null;
      }
      if (e.member.name === "label" || e.member.name === "labels") return this.mk({ op: "label" }, { batched: true, shape: [this.data.numClasses] }, e.span);
      this.err(C.E0124, `data '${this.data.name}' has no field '${e.member.name}' (it has: label)`, e.member.span);
      return null;
    }
    const obj = this.expr(e.object);
    if (obj === null) return null;
    const node = this.nodes[obj]!;
    if (node.op !== "apply") {
      this.err(C.E0147, `'.${e.member.name}' needs a network application on its left, like D(x).${e.member.name}`, e.member.span);
      return null;
    }
    const net = this.nets.get(node.net)!;
    if (!(e.member.name in net.taps)) {
      const s = suggest(e.member.name, Object.keys(net.taps));
      this.err(C.E0125, `net ${net.name} has no tap '${e.member.name}'${s ? `; did you mean '${s}'?` : ` (its taps: ${Object.keys(net.taps).join(", ")})`}`, e.member.span);
      return null;
    }
    const shape = net.layers[net.taps[e.member.name]!]!.outShape;
    return this.mk({ op: "tap", of: obj, tap: e.member.name }, { batched: true, shape }, e.span);
  }

  private call(e: A.CallExpr): number | null {
    const fname = e.callee.name;
    const netDecl = this.netDecls.get(fname);
    for (const a of e.args) if (a.name) this.err(C.E0112, `${netDecl ? `net ${fname}` : `'${fname}'`} takes no named arguments`, a.name.span);
    const stringArg = !netDecl && isFnName(fname) ? FUNCTIONS[fname].stringArg : undefined;
    const args = e.args.map((a, i) => (stringArg?.index === i ? this.stringConstant(fname, stringArg.parse, a.value, FUNCTIONS[fname as keyof typeof FUNCTIONS].params[i]!.name) : this.expr(a.value)));
    if (args.some((a) => a === null)) {
      // an argument's error is reported; the net is still applied here (no "never applied" warning after it)
      if (netDecl) this.applied.add(fname);
      return null;
    }
    const ids = args as number[];
    if (netDecl) return this.apply(netDecl, ids, e);
    if (!isFnName(fname)) {
      const s = suggest(fname, [...Object.keys(FUNCTIONS), ...this.netDecls.keys()]);
      this.err(C.E0126, `unknown net or function '${fname}'${s ? `; did you mean '${s}'?` : ` (nets: ${[...this.netDecls.keys()].join(", ") || "none"}; functions: ${Object.keys(FUNCTIONS).join(", ")})`}`, e.callee.span);
      return null;
    }
    const fn = FUNCTIONS[fname];
    if (ids.length !== fn.params.length) {
      const n = fn.params.length;
      this.err(C.E0127, `${fname} takes ${n} argument${n === 1 ? "" : "s"} (${fn.params.map((p) => p.name).join(", ")}), got ${ids.length}`, e.span);
      return null;
    }
    if (fname === "grad") {
      const wrt = this.nodes[ids[1]!]!;
      if (!(wrt.op === "data" || wrt.op === "noise" || wrt.name !== null)) {
        this.err(C.E0208, "grad(y, x) needs x to be a named value or an input, like: xhat = real + a * (fake - real)", e.args[1]!.span);
        return null;
      }
      if (!this.dependsOn(ids[0]!, ids[1]!)) {
        this.err(C.E0209, "grad(y, x): y does not depend on x, so the gradient is zero", e.span);
        return null;
      }
    }
    const t = fn.type(
      ids.map((i) => this.nodes[i]!.type),
      ids.map((i) => {
        const n = this.nodes[i]!;
        return n.op === "const" ? n.value : null;
      }),
    );
    if (typeof t === "string") {
      if (t.startsWith("shapes ")) this.err(C.E0510, `cannot apply ${fname}: ${t}`, e.span);
      else this.err(C.E0206, t, e.span);
      return null;
    }
    if ("code" in t) {
      this.err(t.code, t.message, e.span);
      return null;
    }
    if (fname === "truncate" && !this.trackedAverage(ids[0]!, e)) return null;
    return this.mk({ op: "call", fn: fname, args: ids }, t, e.span);
  }

  /**
   * truncate(w) pulls w toward the running average of the `track_avg` layer that made it: w must be the
   * output (or a tap) of a net whose layer there is track_avg (E0195, with the fix).
   */
  private trackedAverage(id: number, e: A.CallExpr): boolean {
    const n = this.nodes[id]!;
    const app = n.op === "apply" ? n : n.op === "tap" ? this.nodes[n.of]! : null;
    const net = app?.op === "apply" ? this.nets.get(app.net) : undefined;
    const index = net ? (n.op === "tap" ? net.taps[n.tap] : net.layers.length - 1) : undefined;
    if (net && index !== undefined && net.layers[index]?.layer.op === "track_avg") return true;
    const what = net ? `${n.op === "tap" ? `${net.name}(...).${(n as { tap: string }).tap}` : `${net.name}'s output`}, which is not kept by a track_avg layer` : "not a net's output";
    const fix = net ? `; end net ${net.name} with 'track_avg' (StyleGAN: decay=0.995)` : "; give it a mapping network's output, like truncate(M(z)), where net M ends in 'track_avg'";
    this.err(C.E0195, `truncate(w) needs the running average of w, and this w is ${what}${fix}`, e.args[0]!.span);
    return false;
  }

  /**
   * psi is chosen when sampling, so truncate() belongs to the samples expression: a loss, a state update or a
   * logged value that reaches one would train or measure with psi = 1 regardless (E0199).
   */
  private checkTruncation(losses: readonly { name: string; node: number }[], steps: readonly StepIR[], train: TrainIR | null): void {
    const roots: [string, number][] = losses.filter((l) => l.node >= 0).map((l) => [`loss ${l.name}`, l.node]);
    for (const s of steps) for (const a of s.actions) if (a.kind === "assign") roots.push([`the update of state ${a.state} after step ${s.name}`, a.node]);
    for (const v of train?.log ?? []) {
      const id = this.values.get(v);
      if (id != null) roots.push([`logged value ${v}`, id]);
    }
    // One visited set for all roots: a node's subtree is searched once, by the first root that reaches it, which
    // is also the root its E0199 names (so the walk is linear in the spec, not quadratic in a chain of losses).
    const reported = new Set<number>();
    const seen = new Set<number>();
    for (const [what, root] of roots) {
      const stack = [root];
      while (stack.length) {
        const id = stack.pop()!;
        if (seen.has(id)) continue;
        seen.add(id);
        const n = this.nodes[id]!;
        if (n.op === "call" && n.fn === "truncate" && !reported.has(id)) {
          reported.add(id);
          this.err(C.E0199, `truncate() is for sampling (its psi comes from --truncation when sampling), but ${what} uses it; use it in train { samples = ... } only`, n.span);
        }
        stack.push(...children(n));
      }
    }
  }

  /** A function's string argument (diffaug's policy) as the constant its definition parses it to. */
  private stringConstant(fname: string, parse: NonNullable<FnDef["stringArg"]>["parse"], e: A.Expr, param: string): number | null {
    if (e.kind !== "String") {
      this.err(C.E0153, `${fname}'s ${param} must be a string, like "color,translation,cutout"`, e.span);
      return null;
    }
    const v = parse(e.value);
    if (typeof v !== "number") {
      // On the part of the string it names, where the source holds the string's text as it is (no escapes).
      const plain = e.span.end - e.span.start === e.value.length + 2 && v.end > v.start;
      this.err(C.E0153, v.message, plain ? { ...e.span, start: e.span.start + 1 + v.start, end: e.span.start + 1 + v.end } : e.span);
      return null;
    }
    return this.mk({ op: "const", value: v }, SCALAR, e.span);
  }

  /** Whether node `id` is a one-hot class label: the data's label, or a categorical noise. */
  private isLabel(id: number): boolean {
    const n = this.nodes[id]!;
    return n.op === "label" || (n.op === "noise" && this.named("Noise", n.noise)?.dist.name === "categorical");
  }

  private dependsOn(y: number, x: number): boolean {
    const seen = new Set<number>();
    const stack = [y];
    while (stack.length) {
      const n = stack.pop()!;
      if (n === x) return true;
      if (seen.has(n)) continue;
      seen.add(n);
      stack.push(...children(this.nodes[n]!));
    }
    return false;
  }

  private apply(decl: A.NetDecl, ids: number[], e: A.CallExpr): number | null {
    const name = decl.name.name;
    this.applied.add(name);
    if (ids.length !== decl.params.length) {
      this.err(C.E0127, `net ${name} takes ${decl.params.length} input${decl.params.length === 1 ? "" : "s"} (${decl.params.map((p) => p.name).join(", ")}), got ${ids.length}`, e.span, [
        { message: `net ${name} is declared here`, file: this.file, span: decl.name.span },
      ]);
      return null;
    }
    const types = ids.map((i) => this.nodes[i]!.type);
    for (let i = 0; i < ids.length; i++) {
      if (!types[i]!.batched) {
        this.err(C.E0211, `input '${decl.params[i]!.name}' of net ${name} must be a batch of samples, got ${show(types[i]!)}`, e.args[i]!.span);
        return null;
      }
    }
    if (!this.nets.has(name)) {
      // A net the spec also applies to the data takes the data's shape there, whichever use comes first:
      // a generator unlike the data is then reported once, at its last layer (E0512), not at D(real).
      const fed = this.dataFedParams().get(name);
      const shapes = types.map((t, i) => (fed?.has(i) && this.data ? this.data.shape : t.shape));
      // Inputs given class labels (the data's label, a categorical noise): what `embed` reads.
      const labels = new Set(decl.params.filter((_, i) => this.isLabel(ids[i]!)).map((q) => q.name));
      const ir = this.instantiate(decl, shapes, labels);
      this.nets.set(name, ir);
      if (ir) {
        this.firstUse.set(name, e.span);
        this.firstArgs.set(name, ids);
      }
    }
    const net = this.nets.get(name);
    if (!net) return null;
    // Inputs an embedding reads take class labels at every application (the first is checked at the layer).
    for (const info of net.layers) {
      if (info.layer.op !== "embed") continue;
      const i = net.params.findIndex((q) => q.name === (info.layer as { label: string }).label);
      if (i >= 0 && !this.isLabel(ids[i]!) && fmt(net.params[i]!.shape) === fmt(types[i]!.shape)) {
        this.err(C.E0171, `input '${net.params[i]!.name}' of net ${name} is embedded as a class label (${name}.${info.name}), but this is not one; pass the data's label (real.label) or a categorical noise`, e.args[i]!.span);
        return null;
      }
    }
    for (let i = 0; i < ids.length; i++) {
      const want = net.params[i]!.shape;
      if (fmt(want) !== fmt(types[i]!.shape)) {
        const src = this.nodes[ids[i]!]!;
        const producer = src.op === "apply" ? this.netDecls.get(src.net) : undefined;
        if (producer && src.op === "apply" && this.data && fmt(want) === fmt(this.data.shape) && producer.layers.length) {
          // a generator unlike the data: once, at its last layer, with the edit that fixes it
          if (!this.shapeReported.has(src.net)) {
            this.shapeReported.add(src.net);
            const last = producer.layers[producer.layers.length - 1]!;
            this.err(C.E0512, `net ${src.net} produces ${fmt(types[i]!.shape)}, but its output is used where data-shaped ${fmt(want)} is expected; ${outputFix(types[i]!.shape, want)}`, last.span, [
              { message: `${src.net}'s output is given to net ${name} here`, file: this.file, span: e.args[i]!.span },
              ...this.dataNote(),
            ]);
          }
          return null;
        }
        // The data given to a net whose shapes a generator fixed first: the generator is what is wrong.
        const first = this.nodes[this.firstArgs.get(name)?.[i] ?? -1];
        const gen = first?.op === "apply" ? this.netDecls.get(first.net) : undefined;
        if (src.op === "data" && first?.op === "apply" && gen?.layers.length) {
          if (!this.shapeReported.has(first.net)) {
            this.shapeReported.add(first.net);
            const last = gen.layers[gen.layers.length - 1]!;
            this.err(C.E0512, `net ${first.net} produces ${fmt(want)}, but data '${src.name ?? this.data!.name}' is ${fmt(types[i]!.shape)}; ${outputFix(want, types[i]!.shape)}`, last.span, [
              { message: `${first.net}'s output is given to net ${name} here`, file: this.file, span: this.firstUse.get(name)! },
              { message: `and the data is given to net ${name} here`, file: this.file, span: e.args[i]!.span },
              ...this.dataNote(),
            ]);
          }
          return null;
        }
        this.err(C.E0212, `net ${name} expects input '${net.params[i]!.name}' of shape ${fmt(want)}, got ${fmt(types[i]!.shape)}`, e.args[i]!.span, [
          { message: `shapes were fixed by this first use of ${name}`, file: this.file, span: this.firstUse.get(name)! },
        ]);
        return null;
      }
    }
    return this.mk({ op: "apply", net: name, args: ids }, { batched: true, shape: net.outShape }, e.span);
  }
  /** instantiateNet, through the cache of the previous check's nets when there is one. */
  private instantiate(decl: A.NetDecl, shapes: readonly (readonly number[])[], labels: ReadonlySet<string>): NetIR | null {
    const run = () => instantiateNet(decl, shapes, this.file, this.diags, (o) => this.line(o), this.blockDecls, this.cyclicBlocks, labels, this.shares);
    const cache = this.netCache;
    if (!cache) return run();
    const usesBlocks = this.blockDecls.size > 0 && decl.layers.some((l) => !LAYERS[canonicalLayer(l.op.name)] && this.blockDecls.has(l.op.name));
    const key = [this.file, this.src.text.slice(decl.span.start, decl.span.end), JSON.stringify(shapes), [...labels].sort().join(","), usesBlocks ? this.blocksKey() : ""].join("\u0000");
    const line = this.line(decl.span.start);
    const hit = cache.get(key, line);
    if (hit) return hit;
    const diags = this.diags.length;
    const shares = this.shares.length;
    const ir = run();
    if (ir && this.diags.length === diags && this.shares.length === shares) cache.set(key, ir, line);
    return ir;
  }
  private blocksText: string | null = null;
  /** The blocks as a net instantiating them sees them: their text and place, and which are cyclic. */
  private blocksKey(): string {
    if (this.blocksText === null) {
      const parts = [...this.blockDecls.values()].map((b) => `${b.span.start}:${this.src.text.slice(b.span.start, b.span.end)}`);
      this.blocksText = `${[...this.cyclicBlocks].join(",")}\u0000${parts.join("\u0000")}`;
    }
    return this.blocksText;
  }
  /** Where the data's shape comes from, for errors about shapes that should be the data's. */
  private dataNote(): { message: string; file: string; span: A.Span }[] {
    const decl = this.of("Data")[0];
    if (!decl || !this.data) return [];
    return [{ message: `data '${this.data.name}' is ${fmt(this.data.shape)} per sample, as declared here`, file: this.file, span: decl.span }];
  }
  private readonly firstUse = new Map<string, A.Span>();
  private dataFed: Map<string, Set<number>> | null = null;

  /** For each net, the inputs the spec gives the data itself to somewhere (`D(real)`): net -> input indices. */
  private dataFedParams(): Map<string, Set<number>> {
    if (this.dataFed) return this.dataFed;
    const fed = new Map<string, Set<number>>();
    const data = this.data?.name;
    for (const d of this.spec.decls) {
      const stack: A.Expr[] = d.kind === "Value" || d.kind === "Loss" ? [d.expr] : d.kind === "State" ? [d.init] : d.kind === "After" ? [d.expr] : [];
      while (stack.length) {
        const e = stack.pop()!;
        if (e.kind === "Call" && this.netDecls.has(e.callee.name)) {
          e.args.forEach((a, i) => {
            if (a.value.kind === "Name" && a.value.name === data) fed.set(e.callee.name, (fed.get(e.callee.name) ?? new Set()).add(i));
          });
        }
        stack.push(...exprChildren(e));
      }
    }
    return (this.dataFed = fed);
  }
  /** The argument nodes of each net's first use (the ones that fixed its input shapes). */
  private readonly firstArgs = new Map<string, number[]>();
  /** Nets whose output shape was reported (E0512) at their last layer: reported once. */
  private readonly shapeReported = new Set<string>();
  /** Nets applied anywhere, even where the application itself had an error. */
  private readonly applied = new Set<string>();

  /**
   * Expressions and value chains deeper than this are refused: checking them recursively would exhaust
   * the stack, and no GAN needs them. Depth is measured without recursion.
   */
  private checkDepth(): boolean {
    const LIMIT = 500;
    let ok = true;
    for (const d of this.spec.decls) {
      const roots: A.Expr[] = d.kind === "Value" || d.kind === "Loss" ? [d.expr] : d.kind === "State" ? [d.init] : d.kind === "After" ? [d.expr] : [];
      for (const root of roots) {
        const stack: [A.Expr, number][] = [[root, 1]];
        while (stack.length) {
          const [e, depth] = stack.pop()!;
          if (depth > LIMIT) {
            this.err(C.E0003, `expression nested more than ${LIMIT} levels deep; split it into named values`, e.span);
            ok = false;
            stack.length = 0;
            break;
          }
          for (const c of exprChildren(e)) stack.push([c, depth + 1]);
        }
      }
    }
    return ok;
  }

  // ---- steps, actions, training ----------------------------------------------------------------

  private checkSteps(): StepIR[] {
    const actions = new Map<string, ActionIR[]>();
    const stepNames = new Set(this.of("Step").map((s) => s.name.name));
    for (const a of this.of("After")) {
      if (!stepNames.has(a.step.name)) {
        const s = suggest(a.step.name, stepNames);
        this.err(C.E0128, `unknown step '${a.step.name}'${s ? `; did you mean '${s}'?` : ""}`, a.step.span);
        continue;
      }
      const act = this.action(a);
      if (act) actions.set(a.step.name, [...(actions.get(a.step.name) ?? []), act]);
    }
    const out: StepIR[] = [];
    const borrowers: [A.StepDecl, number, string[]][] = [];
    for (const s of this.of("Step")) {
      const loss = this.named("Loss", s.loss.name);
      if (!loss) {
        const s2 = suggest(s.loss.name, this.of("Loss").map((l) => l.name.name));
        const isValue = this.valueDecls.has(s.loss.name);
        this.err(C.E0129, `'${s.loss.name}' is not a loss${isValue ? "; declare it with 'loss'" : s2 ? `; did you mean '${s2}'?` : ""}`, s.loss.span);
        continue;
      }
      const nets: string[] = [];
      for (const n of s.over) {
        if (!this.netDecls.has(n.name)) {
          const s2 = suggest(n.name, this.netDecls.keys());
          this.err(C.E0130, `unknown net '${n.name}'${s2 ? `; did you mean '${s2}'?` : ` (nets: ${[...this.netDecls.keys()].join(", ") || "none"})`}`, n.span);
          continue;
        }
        if (nets.includes(n.name)) this.err(C.E0146, `net ${n.name} is listed twice`, n.span);
        nets.push(n.name);
      }
      // `step d_reg: d minimize r1 over D`: the optimizer of step d, its object and state (StyleGAN2's lazy
      // regularization steps on D's own optimizer); resolved below, once every step's own optimizer is known.
      const borrows = !OPTIMIZERS[s.optimizer.name.name] && stepNames.has(s.optimizer.name.name);
      const opt = borrows ? null : this.optimizer(s.optimizer);
      const lossNode = this.values.get(s.loss.name);
      if (borrows && lossNode != null) borrowers.push([s, lossNode, nets]);
      if (!opt || lossNode == null) continue;
      out.push({ name: s.name.name, optimizer: opt, loss: s.loss.name, lossNode, nets, shared: s.shared, actions: actions.get(s.name.name) ?? [], line: this.line(s.span.start) });
    }
    for (const [s, lossNode, nets] of borrowers) {
      const ref = s.optimizer.name;
      const owner = out.find((x) => x.name === ref.name);
      const ownerDecl = this.named("Step", ref.name)!;
      if (ref.name === s.name.name || (!owner && !OPTIMIZERS[ownerDecl.optimizer.name.name])) {
        this.err(C.E0181, ref.name === s.name.name ? `step '${s.name.name}' cannot use its own optimizer; name an optimizer (adam) or another step` : `step '${ref.name}' itself uses another step's optimizer; name the step that owns it`, ref.span);
        continue;
      }
      if (!owner) continue; // the owner's optimizer had an error of its own
      if (s.optimizer.args.length) {
        this.err(C.E0181, `step '${s.name.name}' uses step '${ref.name}'s optimizer and its settings, so it takes none of its own`, s.optimizer.args[0]!.span);
        continue;
      }
      if (nets.join() !== owner.nets.join()) {
        this.err(C.E0181, `step '${s.name.name}' uses step '${ref.name}'s optimizer, so it must train the nets that step trains (${owner.nets.join(", ")}), got ${nets.join(", ") || "none"}`, s.over[0]?.span ?? s.span, [
          { message: `step '${ref.name}' trains ${owner.nets.join(", ")}`, file: this.file, span: ownerDecl.span },
        ]);
        continue;
      }
      out.push({ name: s.name.name, optimizer: owner.optimizer, optimizerOf: owner.name, loss: s.loss.name, lossNode, nets, shared: s.shared, actions: actions.get(s.name.name) ?? [], line: this.line(s.span.start) });
    }
    if (this.of("Step").length === 0) this.err(C.E0142, "the spec has no optimizer step; add one, like: step d: adam(lr=2e-4) minimize d over D", this.spec.span.end > 0 ? { start: this.spec.span.end, end: this.spec.span.end } : { start: 0, end: 0 });
    return out;
  }

  private action(a: A.AfterDecl): ActionIR | null {
    const line = this.line(a.span.start);
    if (a.target) {
      if (!this.stateNames.has(a.target.name)) {
        this.err(C.E0134, `'${a.target.name}' is not a state variable; declare it with: state ${a.target.name} = 0`, a.target.span);
        return null;
      }
      const id = this.expr(a.expr);
      if (id === null) return null;
      if (!this.isScalar(id)) {
        this.err(C.E0204, `the new value of state '${a.target.name}' must be a scalar, got ${show(this.nodes[id]!.type)}`, a.expr.span);
        return null;
      }
      return { kind: "assign", state: a.target.name, node: id, line };
    }
    const e = a.expr;
    if (e.kind === "Call" && e.callee.name === "clip_weights") {
      const [netArg, ...bounds] = e.args;
      if (!netArg || netArg.value.kind !== "Name" || !this.netDecls.has(netArg.value.name) || bounds.length < 1 || bounds.length > 2) {
        this.err(C.E0148, "clip_weights takes a net and a bound c (clips to [-c, c]) or two bounds, like clip_weights(D, -0.01, 0.01)", e.span);
        return null;
      }
      const nums = bounds.map((b) => constNumber(b.value));
      if (nums.some((n) => n === null)) {
        this.err(C.E0148, "clip_weights bounds must be constant numbers", e.span);
        return null;
      }
      const [low, high] = nums.length === 1 ? [-Math.abs(nums[0]!), Math.abs(nums[0]!)] : [nums[0]!, nums[1]!];
      if (!(low < high)) {
        this.err(C.E0503, `clip_weights needs low < high, got [${low}, ${high}]`, e.span);
        return null;
      }
      return { kind: "clip_weights", net: netArg.value.name, low, high, line };
    }
    this.err(C.E0135, "an action is either an update of a state variable (k = expression) or clip_weights(net, c)", e.span);
    return null;
  }

  private optimizer(o: A.OptimizerRef): OptimizerIR | null {
    const kind = o.name.name;
    const sig = OPTIMIZERS[kind];
    if (!sig) {
      const s = suggest(kind, Object.keys(OPTIMIZERS));
      this.err(C.E0136, `unknown optimizer '${kind}'${s ? `; did you mean '${s}'?` : ` (known: ${Object.keys(OPTIMIZERS).join(", ")})`}`, o.name.span);
      return null;
    }
    const r = new ArgReader(this.file, this.diags, o.args, `optimizer '${kind}'`, sig);
    const pos = (v: number) => (v > 0 ? null : "must be > 0");
    const beta = (v: number) => (v >= 0 && v < 1 ? null : "must be in [0, 1)");
    const lrDefault = kind === "sgd" || kind === "momentum" ? 0.01 : kind === "rmsprop" ? 1e-3 : 2e-4;
    return {
      kind: kind as OptimizerIR["kind"],
      lr: r.number("lr", lrDefault, pos),
      beta1: r.number("beta1", 0.9, beta),
      beta2: r.number("beta2", 0.999, beta),
      epsilon: r.number("epsilon", kind === "rmsprop" ? 1e-10 : 1e-8, pos),
      rho: r.number("rho", 0.9, beta),
      momentum: r.number("momentum", kind === "momentum" ? 0.9 : 0, beta),
      nesterov: r.bool("nesterov", false),
      clipnorm: r.number("clipnorm", null, pos),
      clipvalue: r.number("clipvalue", null, pos),
      decay: r.word("decay", "none", ["none", "linear", "staircase"]) as OptimizerIR["decay"],
      decayEvery: r.posInt("decay_every", 1000)!,
      decayRate: r.number("decay_rate", 0.5, (v) => (v > 0 && v <= 1 ? null : "must be in (0, 1]")),
    };
  }

  /**
   * `every(16, d_reg)` or `every(16, d_reg, adjust=true)`: lazy regularization. The step runs on iterations
   * 16, 32, ... with its gradients scaled by 16; adjust sets its Adam's rate and betas to lr*c, beta^c with
   * c = 16/17 (StyleGAN2), for every step that uses that optimizer.
   */
  private everyEntry(e: A.CallExpr, steps: StepIR[]): ScheduleItemIR | null {
    const [kArg, stepArg, ...rest] = e.args;
    const adjustArg = rest.length === 1 && rest[0]!.name?.name === "adjust" ? rest[0]! : null;
    if (!kArg || kArg.name || !stepArg || stepArg.name || stepArg.value.kind !== "Name" || rest.length > 1 || (rest.length === 1 && !adjustArg)) {
      this.err(C.E0137, "a lazy schedule entry is every(k, step) or every(k, step, adjust=true): every(16, d_reg)", e.span);
      return null;
    }
    const k = constNumber(kArg.value);
    if (k === null || !Number.isInteger(k) || k < 1) {
      this.err(C.E0180, `every(k, ...) needs a whole number of iterations k >= 1, got ${k === null ? "an expression" : k}`, kArg.value.span);
      return null;
    }
    const name = stepArg.value;
    if (!this.named("Step", name.name)) {
      const s = suggest(name.name, this.of("Step").map((x) => x.name.name));
      this.err(C.E0128, `unknown step '${name.name}'${s ? `; did you mean '${s}'?` : ""}`, name.span);
      return null;
    }
    let adjust = false;
    if (adjustArg) {
      const v = adjustArg.value;
      if (v.kind !== "Name" || (v.name !== "true" && v.name !== "false")) {
        this.err(C.E0137, "adjust is true or false", v.span);
        return null;
      }
      adjust = v.name === "true";
      const step = steps.find((s) => s.name === name.name);
      if (adjust && step && step.optimizer.kind !== "adam") {
        this.err(C.E0182, `adjust=true adjusts Adam's rate and betas, but step '${name.name}' uses ${step.optimizer.kind}`, adjustArg.span);
        return null;
      }
    }
    return adjust ? { step: name.name, repeat: 1, every: k, adjust } : { step: name.name, repeat: 1, every: k };
  }

  private checkTrain(steps: StepIR[]): TrainIR | null {
    const t = this.of("Train")[0];
    const r = new ArgReader(this.file, this.diags, t?.settings ?? [], "train", Object.keys(TRAIN_SETTINGS));
    const stepNames = steps.map((s) => s.name);
    const schedule: ScheduleItemIR[] = [];
    const everySpans = new Map<number, A.Span>();
    const sched = r.arg("schedule");
    if (sched) {
      const items = sched.value.kind === "List" ? sched.value.items : [sched.value];
      for (const it of items) {
        if (it.kind === "Call" && it.callee.name === "every") {
          const item = this.everyEntry(it, steps);
          if (item) everySpans.set(schedule.push(item) - 1, it.span);
          continue;
        }
        let name: A.Expr = it;
        let repeat = 1;
        if (it.kind === "Binary" && it.op === "*") {
          const [n, k] = it.left.kind === "Name" ? [it.left, constNumber(it.right)] : [it.right, constNumber(it.left)];
          name = n;
          repeat = k ?? NaN;
        }
        if (name.kind !== "Name" || !Number.isInteger(repeat) || repeat < 1) {
          this.err(C.E0137, "a schedule entry is a step name, optionally repeated: [5*d, g]", it.span);
          continue;
        }
        if (!this.named("Step", name.name)) {
          const s = suggest(name.name, this.of("Step").map((x) => x.name.name));
          this.err(C.E0128, `unknown step '${name.name}'${s ? `; did you mean '${s}'?` : ""}`, name.span);
          continue;
        }
        schedule.push({ step: name.name, repeat });
      }
      // A lazy step's gradients are always scaled by its interval: it runs from its every(...) entry only.
      schedule.forEach((it, i) => {
        if (it.every !== undefined && schedule.some((x, j) => j !== i && x.step === it.step)) this.err(C.E0137, `step '${it.step}' runs every ${it.every} iterations, so it cannot also be listed elsewhere in the schedule`, everySpans.get(i)!);
      });
      // One adjustment per optimizer: two would disagree on its rate and betas.
      const adjusted = new Map<string, string>();
      schedule.forEach((it, i) => {
        if (!it.adjust) return;
        const owner = steps.find((x) => x.name === it.step)?.optimizerOf ?? it.step;
        const prev = adjusted.get(owner);
        if (prev !== undefined) this.err(C.E0182, `steps '${prev}' and '${it.step}' both adjust the optimizer of step '${owner}'; adjust it once`, everySpans.get(i)!);
        else adjusted.set(owner, it.step);
      });
      // (a step in an every(...) entry with an error of its own is reported there, not as unscheduled)
      const inEvery = new Set<string>();
      for (const x of items) if (x.kind === "Call" && x.callee.name === "every" && x.args[1]?.value.kind === "Name") inEvery.add(x.args[1].value.name);
      const scheduled = new Set(schedule.map((x) => x.step));
      for (const s of this.of("Step")) {
        if (!inEvery.has(s.name.name) && !scheduled.has(s.name.name)) this.warn(C.W0406, `step '${s.name.name}' is not in the schedule, so it never runs`, s.name.span);
      }
    } else schedule.push(...stepNames.map((step) => ({ step, repeat: 1 })));
    const epochs = r.posInt("epochs", null);
    const nsteps = r.posInt("steps", null);
    const conditional = this.nodes.some((n) => n.op === "label" || (n.op === "noise" && this.named("Noise", n.noise)?.dist.name === "categorical"));
    const ckpt = r.arg("checkpoint_every");
    let checkpointEvery: number | "epoch" = "epoch";
    if (ckpt && !(ckpt.value.kind === "Name" && ckpt.value.name === "epoch")) checkpointEvery = r.posInt("checkpoint_every", 1000)!;
    const log: string[] = [];
    const logArg = r.arg("log");
    if (logArg) {
      const items = logArg.value.kind === "List" ? logArg.value.items : [logArg.value];
      for (const it of items) {
        if (it.kind !== "Name" || !(this.valueDecls.has(it.name) || this.stateNames.has(it.name))) {
          this.err(C.E0138, "log lists names of values, losses or state variables", it.span);
          continue;
        }
        if (this.valueDecls.has(it.name)) {
          const id = this.values.get(it.name);
          if (id != null && !this.isScalar(id)) {
            this.err(C.E0204, `logged value '${it.name}' must be a scalar, got ${show(this.nodes[id]!.type)}`, it.span);
            continue;
          }
        }
        log.push(it.name);
      }
    }
    // The sampled images: `samples=` or the value produced by applying the first net that a step trains
    // and whose output is data-shaped (the generator).
    let samples = -1;
    const sArg = r.arg("samples");
    if (sArg) {
      const id = this.expr(sArg.value);
      if (id !== null && fmt(this.nodes[id]!.type.shape) !== fmt(this.data!.shape)) this.err(C.E0221, `samples must be shaped like the data ${fmt(this.data!.shape)}, got ${show(this.nodes[id]!.type)}`, sArg.value.span);
      else if (id !== null) samples = id;
    } else {
      const cand = this.nodes.find((n) => n.op === "apply" && fmt(n.type.shape) === fmt(this.data!.shape) && n.args.every((a) => !this.dependsOnData(a)));
      if (cand) samples = cand.id;
      else if (!hasErrors(this.diags)) this.err(C.E0139, "cannot tell which value is the generator's output; say it with train { samples = fake }", t?.span ?? { start: 0, end: 0 });
    }
    const ema = r.number("ema", null, (v) => (v > 0 && v < 1 ? null : "must be in (0, 1)"));
    const emaNetArg = r.arg("ema_net");
    const emaNet = ema === null ? null : emaNetArg?.value.kind === "Name" ? emaNetArg.value.name : samples >= 0 ? (this.nodes[samples] as { net?: string }).net ?? null : null;
    if (emaNet && !this.netDecls.has(emaNet)) this.err(C.E0130, `unknown net '${emaNet}'`, emaNetArg!.value.span);
    const sampleEvery = r.posInt("sample_every", 300)!;
    return {
      epochs: nsteps ? null : epochs ?? 25,
      steps: nsteps,
      schedule,
      seed: r.number("seed", 0, (v) => (Number.isInteger(v) && v >= 0 && v < 2 ** 32 ? null : "must be a whole number in [0, 2^32)")),
      sampleEvery,
      sampleCount: r.posInt("sample_count", conditional ? 100 : 64)!,
      samples,
      checkpointEvery,
      keepCheckpoints: r.posInt("keep_checkpoints", 3)!,
      log,
      logEvery: r.posInt("log_every", 10)!,
      evalEvery: r.number("eval_every", 0, (v) => (Number.isInteger(v) && v >= 0 ? null : "must be a whole number (0 turns evaluation off)")),
      evalCount: r.posInt("eval_count", 1000)!,
      histogramEvery: r.number("histogram_every", sampleEvery, (v) => (Number.isInteger(v) && v >= 0 ? null : "must be a whole number (0 turns histograms off)")),
      ema,
      emaNet,
    };
  }

  private dependsOnData(id: number): boolean {
    const n = this.nodes[id]!;
    if (n.op === "data") return true;
    return children(n).some((c) => this.dependsOnData(c));
  }
}

/** What makes two nodes one computation (hash-consing's key): the operation and its operands. */
function nodeKey(op: NodeOp): string {
  switch (op.op) {
    case "data":
    case "label":
    case "batch":
      return op.op;
    case "noise":
      return `noise ${op.noise}`;
    case "state":
      return `state ${op.state}`;
    case "const":
      return `const ${op.value}`;
    case "apply":
      return `apply ${op.net} ${op.args.join(",")}`;
    case "tap":
      return `tap ${op.of} ${op.tap}`;
    case "call":
      return `call ${op.fn} ${op.args.join(",")}`;
    case "binary":
      return `binary ${op.o} ${op.a} ${op.b}`;
    case "neg":
      return `neg ${op.a}`;
  }
}

export function children(n: ExprNode): number[] {
  switch (n.op) {
    case "apply":
      return [...n.args];
    case "call": {
      // A string argument (diffaug's policy) is a constant the function's code spells out: not an operand.
      const s = FUNCTIONS[n.fn].stringArg?.index;
      return s === undefined ? [...n.args] : n.args.filter((_, i) => i !== s);
    }
    case "tap":
      return [n.of];
    case "binary":
      return [n.a, n.b];
    case "neg":
      return [n.a];
    default:
      return [];
  }
}

function exprChildren(e: A.Expr): A.Expr[] {
  switch (e.kind) {
    case "Binary":
      return [e.left, e.right];
    case "Unary":
      return [e.operand];
    case "Member":
      return [e.object];
    case "Call":
      return e.args.map((a) => a.value);
    case "List":
      return [...e.items];
    default:
      return [];
  }
}
