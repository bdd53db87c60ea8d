import type { ExprNode, NetIR, ProgramIR, StepIR } from "../ir/types.ts";
import { children } from "../parser/check/index.ts";
import { layerModule } from "../layers/index.ts";
import { FUNCTIONS } from "../functions/index.ts";

/*
 * The optimization passes between the checked program and the emitted trainer. Each is a pure analysis
 * of the program that the code generator consults; each can be switched off (`ganc compile --no-opt`,
 * or `--no-opt=<pass>,...`), and with all of them off the generator writes the layer-by-layer reference
 * trainer. A pass that builds on another is off when that one is.
 */

export { ALL_PASSES, NO_PASSES, OPT_PASSES, resolvePasses, type OptPass, type OptSet } from "./opt-passes.ts";
import type { OptSet } from "./opt-passes.ts";

// ---- the plan ------------------------------------------------------------------------------------

/** A network as one fused op: its layers after fusion, and where its taps are. */
export interface FusedNetPlan {
  readonly net: string;
  readonly layers: readonly FusedLayerPlan[];
  /** tap name -> index in `layers` of the layer whose output it is. */
  readonly taps: Readonly<Record<string, number>>;
  /**
   * The named values that layers read (from, add), by net-wide name: an input of the net, or the output of
   * the layer at that index of `layers`.
   */
  readonly values: Readonly<Record<string, { readonly input: number } | { readonly layer: number }>>;
}

export interface FusedLayerPlan {
  /** Index of the spec layer, and of a following activation fused into it. */
  readonly layer: number;
  readonly fusedAct: number | null;
}

export interface ApplyPlan {
  readonly taps: readonly string[];
  readonly gradInputs: readonly boolean[];
  readonly gradParams: boolean;
}

export interface StepPlan {
  /** Nodes computed before the gradient tape, in id order. */
  readonly hoisted: ReadonlySet<number>;
  /** Applications run as fused ops, and what each computes. */
  readonly fused: ReadonlyMap<number, ApplyPlan>;
  /** Applications this step records for a later step (value: that step). */
  readonly record: ReadonlyMap<number, string>;
  /**
   * Recordings that apply the later step's batch-norm moving-average update too: safe when no other
   * application of the net runs in either step or between them, so no one sees the values in between.
   */
  readonly recordTwice: ReadonlySet<number>;
  /** Applications this step takes from an earlier step's recording (value: that step). */
  readonly replay: ReadonlyMap<number, string>;
  /** Loss calls against a constant target run as one op. */
  readonly lossForms: ReadonlySet<number>;
}

export interface OptPlan {
  readonly passes: OptSet;
  readonly nets: ReadonlyMap<string, FusedNetPlan>;
  readonly steps: ReadonlyMap<string, StepPlan>;
  readonly fusedAdam: ReadonlySet<string>;
  readonly hoistConstants: boolean;
}

/** Nodes a step's pass evaluates outside any grad() region (the generator's closure, repeated here). */
export function stepPass(p: ProgramIR, s: StepIR): number[] {
  const seen = new Set<number>();
  const visit = (id: number) => {
    if (seen.has(id)) return;
    seen.add(id);
    const n = p.nodes[id]!;
    if (n.op === "call" && n.fn === "grad") {
      const [y, x] = n.args as [number, number];
      const inner = between(p, x, y);
      visit(x);
      for (const c of inner) for (const dep of children(p.nodes[c]!)) if (!inner.has(dep) && dep !== x) visit(dep);
      return;
    }
    for (const c of children(n)) visit(c);
  };
  visit(s.lossNode);
  return [...seen].sort((a, b) => a - b);
}

/** Nodes on a path from `x` to `y` (inclusive of y, exclusive of x): a grad() region. */
export function between(p: ProgramIR, x: number, y: number): Set<number> {
  const memo = new Map<number, boolean>();
  const out = new Set<number>();
  const dep = (id: number): boolean => {
    if (id === x) return true;
    if (memo.has(id)) return memo.get(id)!;
    memo.set(id, false);
    let r = false;
    for (const c of children(p.nodes[id]!)) if (dep(c)) r = true;
    memo.set(id, r);
    if (r) out.add(id);
    return r;
  };
  dep(y);
  return out;
}

/** The nets whose variables an application of `net` reads: itself, and the owners of tables it shares (embed share=). */
export function readsNets(p: ProgramIR, net: string): string[] {
  const ir = p.nets.find((n) => n.name === net);
  const owners = (ir?.layers ?? []).flatMap((l) => (l.layer.op === "embed" && l.layer.shared ? [l.layer.shared.net] : []));
  return [net, ...owners];
}

/** Whether node `id` depends on an application of one of `nets` (through values, taps and gradients). */
export function dependsOn(p: ProgramIR, id: number, nets: ReadonlySet<string>, memo = new Map<number, boolean>()): boolean {
  const hit = memo.get(id);
  if (hit !== undefined) return hit;
  memo.set(id, false);
  const n = p.nodes[id]!;
  const r = (n.op === "apply" && readsNets(p, n.net).some((x) => nets.has(x))) || children(n).some((c) => dependsOn(p, c, nets, memo));
  memo.set(id, r);
  return r;
}

/**
 * Pass fused-nets (with fused-batchnorm and fused-activation): the network as one op, or null where a
 * layer has no fused form (each layer kind's module says: layer norm, multiply; batch norm when
 * fused-batchnorm is off).
 */
export function planFusedNet(net: NetIR, passes: OptSet): FusedNetPlan | null {
  if (!passes.has("fused-nets")) return null;
  for (const l of net.layers) {
    const fused = layerModule(l.layer).fused;
    if (fused === null || (fused !== "identity" && fused.available && !fused.available(l.layer, passes))) return null;
  }
  const layers: FusedLayerPlan[] = [];
  const taps: Record<string, number> = {};
  const tapAt = (i: number) => net.layers[i]!.tap;
  // named values that layers read (from, add), and where each is in the fused net
  const read = new Set<string>();
  for (const l of net.layers) {
    const fused = layerModule(l.layer).fused;
    if (fused !== null && fused !== "identity") for (const x of fused.reads?.(l.layer) ?? []) read.add(x);
  }
  const values: Record<string, { input: number } | { layer: number }> = {};
  net.params.forEach((q, k) => {
    if (read.has(q.name)) values[q.name] = { input: k };
  });
  const named = (i: number) => [tapAt(i), ...(net.layers[i]!.values ?? [])].filter((x): x is string => x !== null && read.has(x));
  const setValues = (i: number, at: { input: number } | { layer: number }) => {
    for (const x of named(i)) values[x] = at;
  };
  for (let i = 0; i < net.layers.length; i++) {
    const l = net.layers[i]!.layer;
    const fused = layerModule(l).fused;
    const next = net.layers[i + 1]?.layer;
    let fusedAct: number | null = null;
    if (
      passes.has("fused-activation") &&
      fused !== null &&
      fused !== "identity" &&
      fused.hostsActivation?.(l) === true &&
      tapAt(i) === null &&
      named(i).length === 0 &&
      next !== undefined &&
      layerModule(next).activation?.fusable(next) === true
    ) {
      fusedAct = i + 1;
    }
    if (fused === "identity") {
      // the identity: its tap is the previous layer's output
      if (tapAt(i) !== null) {
        if (layers.length === 0) return null;
        taps[tapAt(i)!] = layers.length - 1;
      }
      setValues(i, layers.length === 0 ? { input: 0 } : { layer: layers.length - 1 });
      continue;
    }
    layers.push({ layer: i, fusedAct });
    if (fusedAct !== null) i++;
    const t = tapAt(fusedAct ?? i);
    if (t !== null) taps[t] = layers.length - 1;
    setValues(i, { layer: layers.length - 1 });
  }
  if (layers.length === 0) return null;
  return { net: net.name, layers, taps, values };
}

/** Taps of application `id` that nodes of `pass` read ("out" for the application itself). */
function tapsRead(p: ProgramIR, id: number, pass: readonly number[], direct: boolean): string[] {
  const out = new Set<string>();
  if (direct) out.add("out");
  for (const k of pass) {
    const n = p.nodes[k]!;
    if (n.op === "tap" && n.of === id) out.add(n.tap);
    else if (n.op !== "tap" && children(n).includes(id)) out.add("out");
  }
  return [...out].sort();
}

/** The whole plan for a program and a set of passes. */
export function planOptimizations(p: ProgramIR, passes: OptSet, direct: ReadonlySet<number>): OptPlan {
  const nets = new Map<string, FusedNetPlan>();
  for (const net of p.nets) {
    const plan = planFusedNet(net, passes);
    if (plan) nets.set(net.name, plan);
  }
  const netIR = (name: string) => p.nets.find((n) => n.name === name)!;
  const passes_ = new Map(p.steps.map((s) => [s.name, stepPass(p, s)]));
  const hoisted = new Map(p.steps.map((s) => [s.name, passes.has("hoist") ? hoist(p, s, passes_.get(s.name)!) : new Set<number>()]));

  // reuse-forward: pairs (earlier step A, later step B) of one iteration on one batch.
  const record = new Map<string, Map<number, string>>();
  const replay = new Map<string, Map<number, string>>();
  for (const s of p.steps) {
    record.set(s.name, new Map());
    replay.set(s.name, new Map());
  }
  const sched = p.train.schedule;
  // (a lazy step, every(k, step), runs on some iterations only: nothing is recorded for it or replayed from it)
  const once = sched.every((it) => it.repeat === 1 && it.every === undefined) && new Set(sched.map((it) => it.step)).size === sched.length;
  if (passes.has("reuse-forward") && once) {
    const step = (name: string) => p.steps.find((s) => s.name === name)!;
    for (let j = 1; j < sched.length; j++) {
      const b = step(sched[j]!.step);
      const passB = passes_.get(b.name)!;
      const bNets = new Set(b.nets);
      for (const id of passB) {
        const n = p.nodes[id]!;
        if (n.op !== "apply" || !nets.has(n.net) || netIR(n.net).hasDropout) continue;
        // spectral norm: each pass updates the power-iteration vectors, and the later step's pass normalizes
        // the kernels with the vectors the earlier one left, so it is not the recorded pass
        if (netIR(n.net).layers.some((l) => "sn" in l.layer && l.layer.sn)) continue;
        // a pass on augmented images: each step draws its own augmentation
        if (readsPerStep(p, id)) continue;
        if (n.args.some((a) => dependsOn(p, a, bNets))) continue;
        if (replay.get(b.name)!.has(id)) continue;
        // the latest earlier step that computes it outside its tape, with nothing it reads changed since
        for (let i = j - 1; i >= 0; i--) {
          const a = step(sched[i]!.step);
          const changed = changedBy(sched.slice(i, j).map((it) => step(it.step)));
          if (readsAny(p, id, changed.nets, changed.states)) break;
          if (hoisted.get(a.name)!.has(id) && [...record.values()].every((m) => !m.has(id))) {
            record.get(a.name)!.set(id, b.name);
            replay.get(b.name)!.set(id, a.name);
            break;
          }
        }
      }
    }
  }

  const steps = new Map<string, StepPlan>();
  for (const s of p.steps) {
    const pass = passes_.get(s.name)!;
    const sNets = new Set(s.nets);
    const memo = new Map<number, boolean>();
    const fused = new Map<number, ApplyPlan>();
    for (const id of pass) {
      const n = p.nodes[id]!;
      if (n.op !== "apply" || !nets.has(n.net)) continue;
      const taps = new Set(tapsRead(p, id, pass, direct.has(id)));
      // a recording serves the later step too: it holds the taps both read
      const later = record.get(s.name)!.get(id);
      if (later) for (const t of tapsRead(p, id, passes_.get(later)!, direct.has(id))) taps.add(t);
      const earlier = replay.get(s.name)!.get(id);
      if (earlier) for (const t of tapsRead(p, id, passes_.get(earlier)!, direct.has(id))) taps.add(t);
      fused.set(id, {
        taps: [...taps].sort(),
        gradInputs: n.args.map((a) => dependsOn(p, a, sNets, memo)),
        gradParams: sNets.has(n.net) || (later !== undefined && p.steps.find((x) => x.name === later)!.nets.includes(n.net)),
      });
    }
    const lossForms = new Set<number>();
    if (passes.has("loss-forms")) {
      for (const id of pass) {
        const n = p.nodes[id]!;
        if (n.op === "call" && FUNCTIONS[n.fn].fused && p.nodes[n.args[1]!]!.op === "const") lossForms.add(id);
      }
    }
    const recordTwice = new Set<number>();
    for (const [id, later] of record.get(s.name)!) {
      const net = (p.nodes[id] as ExprNode & { op: "apply" }).net;
      const only = (step: StepIR, ids: number[]) => applicationsOf(p, step.lossNode, net).join() === ids.join();
      const between = sched.slice(sched.findIndex((it) => it.step === s.name) + 1, sched.findIndex((it) => it.step === later)).map((it) => p.steps.find((x) => x.name === it.step)!);
      if (only(s, [id]) && only(p.steps.find((x) => x.name === later)!, [id]) && between.every((x) => only(x, []))) recordTwice.add(id);
    }
    steps.set(s.name, { hoisted: hoisted.get(s.name)!, fused, record: record.get(s.name)!, recordTwice, replay: replay.get(s.name)!, lossForms });
  }
  const fusedAdam = new Set(passes.has("fused-adam") ? p.steps.filter((s) => s.optimizer.kind === "adam").map((s) => s.name) : []);
  return { passes, nets, steps, fusedAdam, hoistConstants: passes.has("hoist") };
}

/**
 * Pass hoist: the nodes of a step's pass that do not depend on the step's networks, computed before the
 * gradient tape (the tape would record them and copy what their gradients need, for nothing). Values
 * are unchanged; only the order of side effects could change, so an application is hoisted only if every
 * earlier application of its net in the pass is (batch-norm moving averages and spectral-norm vectors
 * are updated in the same order), and none is when a net with dropout runs (its seeds are drawn in order).
 */
export function hoist(p: ProgramIR, s: StepIR, pass: readonly number[]): Set<number> {
  const sNets = new Set(s.nets);
  const memo = new Map<number, boolean>();
  const applies = pass.filter((id) => p.nodes[id]!.op === "apply");
  const dropout = applies.some((id) => p.nets.find((n) => n.name === (p.nodes[id] as ExprNode & { op: "apply" }).net)!.hasDropout);
  const out = new Set<number>();
  const blocked = new Set<string>();
  for (const id of pass) {
    const n = p.nodes[id]!;
    const free = !dependsOn(p, id, sNets, memo) && children(n).every((c) => out.has(c) || !pass.includes(c));
    if (n.op === "apply") {
      if (free && !dropout && !blocked.has(n.net)) out.add(id);
      else blocked.add(n.net);
      continue;
    }
    if (free && children(n).every((c) => out.has(c))) out.add(id);
  }
  return out;
}

/** Applications of `net` that evaluating `root` runs, inside grad() regions too, in id order. */
function applicationsOf(p: ProgramIR, root: number, net: string): number[] {
  const seen = new Set<number>();
  const out: number[] = [];
  const stack = [root];
  while (stack.length) {
    const n = p.nodes[stack.pop()!]!;
    if (seen.has(n.id)) continue;
    seen.add(n.id);
    if (n.op === "apply" && n.net === net) out.push(n.id);
    stack.push(...children(n));
  }
  return out.sort((a, b) => a - b);
}

/** What a run of steps changes: the nets they train or clip, the states they assign. */
function changedBy(steps: readonly StepIR[]): { nets: Set<string>; states: Set<string> } {
  const nets = new Set<string>();
  const states = new Set<string>();
  for (const s of steps) {
    for (const n of s.nets) nets.add(n);
    for (const a of s.actions) {
      if (a.kind === "clip_weights") nets.add(a.net);
      else states.add(a.state);
    }
  }
  return { nets, states };
}

/** Whether node `id` reads a value that belongs to the step computing it (FnDef.perStep: diffaug). */
function readsPerStep(p: ProgramIR, id: number): boolean {
  const seen = new Set<number>();
  const stack = [id];
  while (stack.length) {
    const n = p.nodes[stack.pop()!]!;
    if (seen.has(n.id)) continue;
    seen.add(n.id);
    if (n.op === "call" && FUNCTIONS[n.fn].perStep) return true;
    stack.push(...children(n));
  }
  return false;
}

function readsAny(p: ProgramIR, id: number, nets: ReadonlySet<string>, states: ReadonlySet<string>): boolean {
  const seen = new Set<number>();
  const stack = [id];
  while (stack.length) {
    const n = p.nodes[stack.pop()!]!;
    if (seen.has(n.id)) continue;
    seen.add(n.id);
    if (n.op === "apply" && readsNets(p, n.net).some((x) => nets.has(x))) return true;
    if (n.op === "state" && states.has(n.state)) return true;
    stack.push(...children(n));
  }
  return false;
}
