import * as tf from "@tensorflow/tfjs";
import type { BatchNormVars } from "../ops.ts";
import { activationModule, FUSED_OPS, type Activation, type FusedLayer } from "../../layers/index.ts";
import type { Backward, FusedOp, FusedRef } from "../../layers/layer.ts";
import { spectralNormOp } from "./spectral.ts";
import { Arena, constant, customOp, filledView, kernel, kernels, gancKernel, view, vjp } from "./engine.ts";
import { denseChainForward, isDenseChain, type ChainLayer } from "./dense-chain.ts";
import { GANC_BN_FACTORS, GANC_MOVING_AVERAGES, type BnFactorsAttrs, type MovingAveragesAttrs } from "../kernels/index.ts";

/*
 * A network applied as one op on the gradient tape, with its backward pass written out layer by layer.
 *
 * Run layer by layer, tfjs records every kernel of a training forward pass on its tape and copies every
 * tensor a gradient will need (an Identity kernel each), reshapes around fused kernels, and its gradients
 * of batch norm and of moments take a few dozen kernels per layer. Here the forward pass runs the same
 * kernels with the same inputs as the layer-by-layer trainer (so activations are bit for bit the same),
 * keeps what the backward pass needs, and the backward pass computes only the gradients the step asks
 * for: a network the step does not train gets its input gradient and no weight gradients.
 *
 * The backward pass is the same derivative with fewer kernels, so gradients agree with tfjs's to float32
 * rounding, not bit for bit (test/opt/equivalence.test.ts holds the trainers to 1e-5 after 10 steps).
 */

/** An activation inside a fused kernel or as an `act` op, and the layers of a fused net: each layer kind's module (src/layers/) defines its own. */
export type { Activation, FusedLayer } from "../../layers/index.ts";

export interface ApplyOptions {
  /** Outputs wanted, by tap name ("out" is the last layer). */
  taps: readonly string[];
  /** For each net input: does the step need its gradient? */
  gradInputs: readonly boolean[];
  /** Does the step train this net's weights? */
  gradParams: boolean;
  /** Keeps the forward pass's tensors for the backward pass; freed by whoever owns it. */
  arena: Arena;
  /** Seed for each dropout layer, drawn in layer order (as the layer-by-layer trainer does). */
  seed?: () => number;
}

export interface BnStats {
  bn: BatchNormVars;
  mean: tf.Tensor;
  variance: tf.Tensor;
  /** 1/sqrt(var + eps) and -0.5 (1/sqrt(var + eps))^3, set after the forward pass (see bnFactors). */
  r?: tf.Tensor;
  minusHalfRCube?: tf.Tensor;
}

interface Forward {
  outputs: tf.Tensor[];
  /** Runs the backward pass from the outputs' gradients; gradients of the inputs (null where not needed). */
  backward: (dys: tf.Tensor[], grads: Map<tf.Variable, tf.Tensor>) => (tf.Tensor | null)[];
  /** Batch statistics of each batch-norm layer, for the moving averages, and the per-channel factors its backward pass uses. */
  stats: BnStats[];
}

/** A forward pass run in one step and differentiated in a later one (see FusedNet.record). */
export interface Recorded {
  readonly net: FusedNet;
  readonly outputs: Readonly<Record<string, tf.Tensor>>;
  readonly forward: Forward;
  readonly taps: readonly string[];
  readonly gradParams: boolean;
  /** Whether replay() updates the moving averages (false: record() already applied the replay's update). */
  readonly replayUpdates: boolean;
}

export class FusedNet {
  private readonly tapIndex: Map<string, number>;

  constructor(
    readonly name: string,
    readonly layers: readonly FusedLayer[],
    /** tap name -> index of the layer whose output it is. */
    taps: Readonly<Record<string, number>>,
    /** The trainable variables, in the order the trainer lists them for the optimizer. */
    readonly params: readonly tf.Variable[],
  ) {
    this.tapIndex = new Map(Object.entries(taps));
    this.tapIndex.set("out", layers.length - 1);
  }

  /** Whether every layer is dense (checked per call: the backend decides too). */
  private get denseChain(): boolean {
    return isDenseChain(this.layers);
  }

  /** The net in training mode (batch statistics, moving averages updated) as one op on the tape. */
  apply(xs: readonly tf.Tensor[], o: ApplyOptions): Record<string, tf.Tensor> {
    const wantsGrad = o.gradParams || o.gradInputs.some(Boolean);
    // spectrally normalized kernels: ordinary ops on the tape, which differentiates the normalization; the
    // op takes them as inputs and gives their gradients
    const weights = this.normalizedKernels(o.arena);
    const inputs = [...xs.filter((_, i) => o.gradInputs[i]), ...(o.gradParams ? this.paramsBelow(o.taps).map((p) => weights.get(p) ?? p) : [])];
    let fwd: Forward | null = null;
    const outs = customOp(
      `net ${this.name}`,
      inputs,
      () => {
        fwd = this.forward(xs, o, wantsGrad, weights);
        updateMovingAverages(fwd.stats);
        return fwd.outputs;
      },
      (dys) => this.gradients(fwd!, dys, xs, o),
    );
    return Object.fromEntries(o.taps.map((t, i) => [t, outs[i]!]));
  }

  /**
   * The forward pass of `apply`, run now outside any gradient tape, kept (in `o.arena`) for a later step
   * that trains this net on the same values: `replay` stands for a second forward pass there.
   */
  record(xs: readonly tf.Tensor[], o: ApplyOptions, movingAverages: "now" | "now and for the replay" = "now"): Recorded {
    // (a replay would differentiate the kernels normalized with the power-iteration vector of the recording)
    if (this.layers.some((l) => (fusedOp(l).spectral?.(l).length ?? 0) > 0)) throw new Error(`net ${this.name}: a net with spectral norm cannot be recorded for a later step`);
    const held: { f?: Forward } = {};
    const twice = movingAverages !== "now";
    tf.tidy(() => {
      const f = (held.f = this.forward(xs, o, o.gradParams));
      updateMovingAverages(f.stats, twice ? 2 : 1);
      f.outputs.forEach((t) => {
        if (!t.kept) o.arena.keep(t);
      });
    });
    const fwd = held.f!;
    return { net: this, outputs: Object.fromEntries(o.taps.map((t, i) => [t, fwd.outputs[i]!])), forward: fwd, taps: o.taps, gradParams: o.gradParams, replayUpdates: !twice };
  }

  /**
   * A recorded forward pass as an op of this step: the same outputs (the weights and inputs are unchanged
   * since it ran), the moving averages updated again as a second forward pass would, and the recorded
   * backward pass for the weights.
   */
  static replay(r: Recorded): Record<string, tf.Tensor> {
    const net = r.net;
    const outs = customOp(
      `net ${net.name} (recorded)`,
      r.gradParams ? net.paramsBelow(r.taps) : [],
      () => {
        if (r.replayUpdates) updateMovingAverages(r.forward.stats);
        return r.forward.outputs.map((t) => view(t, t.shape));
      },
      (dys) => {
        const grads = new Map<tf.Variable, tf.Tensor>();
        r.forward.backward(dys, grads);
        return net.paramsBelow(r.taps).map((p) => grads.get(p) ?? filledView(0, p.shape));
      },
    );
    return Object.fromEntries(r.taps.map((t, i) => [t, outs[i]!]));
  }

  /**
   * The trainable variables the outputs `taps` depend on: those of the layers up to the last of them.
   * Only these are the op's inputs, as tfjs's tape would find a path from only these to a loss that reads
   * those taps; the others get no gradient (and so no optimizer update) from this application.
   */
  paramsBelow(taps: readonly string[]): tf.Variable[] {
    // the layers the taps depend on: down the path, and to the layers whose outputs a layer reads (from, add)
    const below = new Array<boolean>(this.layers.length).fill(false);
    for (const t of taps) {
      const i = this.tapIndex.get(t);
      if (i !== undefined && i >= 0) below[i] = true;
    }
    const used = new Set<tf.Variable>();
    for (let i = this.layers.length - 1; i >= 0; i--) {
      if (!below[i]) continue;
      const l = this.layers[i]!;
      const op = fusedOp(l);
      for (const w of op.weights?.(l) ?? []) used.add(w);
      if (i > 0 && !op.startsPath) below[i - 1] = true;
      for (const r of op.refs?.(l) ?? []) if ("layer" in r) below[r.layer] = true;
    }
    return this.params.filter((p) => used.has(p));
  }

  /**
   * The spectrally normalized kernels of this application: rt.spectralNorm in training mode for each layer
   * with sn, in layer order, as the layer-by-layer trainer's net function computes them (the same ops, so
   * the same values; each power-iteration vector is updated once per application, in the same order), each
   * as one op on the tape with its gradient written out (spectral.ts).
   */
  private normalizedKernels(arena: Arena): Map<tf.Variable, tf.Tensor> {
    const out = new Map<tf.Variable, tf.Tensor>();
    for (const l of this.layers) for (const [kernel, u] of fusedOp(l).spectral?.(l) ?? []) out.set(kernel, spectralNormOp(kernel, u, arena));
    return out;
  }

  private gradients(fwd: Forward, dys: tf.Tensor[], xs: readonly tf.Tensor[], o: ApplyOptions): tf.Tensor[] {
    const grads = new Map<tf.Variable, tf.Tensor>();
    const dxs = fwd.backward(dys, grads);
    const out: tf.Tensor[] = [];
    xs.forEach((x, i) => {
      if (o.gradInputs[i]) out.push(dxs[i] ?? filledView(0, x.shape));
    });
    if (o.gradParams) for (const p of this.paramsBelow(o.taps)) out.push(grads.get(p) ?? filledView(0, p.shape));
    return out;
  }

  private forward(xs: readonly tf.Tensor[], o: ApplyOptions, save: boolean, weights: ReadonlyMap<tf.Variable, tf.Tensor> = new Map()): Forward {
    const keep = <T extends tf.Tensor>(t: T): T => (save ? o.arena.keep(t) : t);
    const wanted = o.taps.map((t) => {
      const i = this.tapIndex.get(t);
      if (i === undefined) throw new Error(`net ${this.name} has no tap '${t}'`);
      return i;
    });
    // an MLP: the same kernels below the engine (dense-chain.ts)
    if (this.denseChain && xs.length === 1 && weights.size === 0) return denseChainForward(this.layers as readonly ChainLayer[], wanted, xs[0]!, !!o.gradInputs[0], o.gradParams, save, o.arena);
    // Which values the step differentiates: a layer's output depends on weights the step trains, or on an
    // input whose gradient it needs, through the path (the previous layer's output, unless the layer starts
    // a new path), another input it reads (concat) or an earlier layer's output it reads (from, add).
    // A layer's backward runs where its output does; it gives its path input a gradient where that does.
    const dep: boolean[] = [];
    const needIn: boolean[] = [];
    const accumulates = this.layers.map((l) => !!fusedOp(l).accumulates);
    const depOf = (r: FusedRef) => ("input" in r ? !!o.gradInputs[r.input] : dep[r.layer]!);
    this.layers.forEach((l, i) => {
      const op = fusedOp(l);
      needIn[i] = op.startsPath ? false : i === 0 ? !!o.gradInputs[0] : dep[i - 1]!;
      dep[i] = needIn[i]! || (o.gradParams && hasWeights(l)) || readsInputWithGrad(l, o) || (op.refs?.(l) ?? []).some(depOf);
    });
    const steps: Backward[] = [];
    const stats: BnStats[] = [];
    const outputs: tf.Tensor[] = new Array(wanted.length);
    const inputGrads: (tf.Tensor | null)[] = xs.map(() => null);
    // the layers' outputs (those that later layers read stay alive through the views they keep), and the
    // gradients of each that layers above it gave in the backward pass
    const outs: tf.Tensor[] = [];
    // the normalized kernels, kept for the backward pass (they belong to the step, which may free them first)
    const kernels = new Map([...weights].map(([v, t]) => [v, save ? keep(view(t, t.shape)) : t]));
    const pending: (tf.Tensor | null)[] = this.layers.map(() => null);
    const accumulate = (i: number, g: tf.Tensor) => (pending[i] = pending[i] ? tf.add(pending[i]!, g) : g);
    const refEnv = {
      value: (r: FusedRef) => ("input" in r ? xs[r.input]! : outs[r.layer]!),
      needsGrad: depOf,
      addGrad: (r: FusedRef, g: tf.Tensor) => {
        if ("layer" in r) accumulate(r.layer, g);
        else inputGrads[r.input] = inputGrads[r.input] ? tf.add(inputGrads[r.input]!, g) : g;
      },
      weight: (v: tf.Variable) => kernels.get(v) ?? v,
    };
    let h = xs[0]!;
    this.layers.forEach((l, i) => {
      const r = fusedOp(l).forward(l, { ...ENGINE, ...refEnv, x: h, xs, needDx: needIn[i]!, train: o.gradParams, o, keep, stats, inputGrads });
      steps.push(r.backward);
      h = r.y;
      outs.push(h);
      wanted.forEach((w, k) => {
        if (w === i) outputs[k] = h;
      });
    });
    if (save) bnFactors(stats, keep);
    return {
      outputs,
      stats,
      backward: (dys, grads) => {
        // A value read by several layers gets the sum of their gradients, added in the order tfjs's tape
        // adds them: the loss's (through taps) first, then the readers from the last to the first.
        wanted.forEach((w, k) => accumulate(w, dys[k]!));
        let dy: tf.Tensor | null = null; // from the layer above, through the path
        for (let i = Math.max(...wanted); i >= 0; i--) {
          let g = pending[i]!;
          pending[i] = null;
          if (dy !== null) g = g === null ? dy : tf.add(g, dy);
          dy = null;
          if (g === null || !dep[i]) continue;
          if (needIn[i] && accumulates[i]) {
            // the layer adds its input's gradient to what the input has from later readers
            const into = i > 0 ? pending[i - 1]! : inputGrads[0]!;
            if (i > 0) pending[i - 1] = null;
            else inputGrads[0] = null;
            dy = steps[i]!(g, grads, into);
          } else dy = steps[i]!(g, grads);
          if (!needIn[i]) dy = null;
        }
        if (o.gradInputs[0] && dy !== null) inputGrads[0] = inputGrads[0] ? tf.add(inputGrads[0], dy) : dy;
        return inputGrads;
      },
    };
  }
}

/** What layer modules get of tfjs and the engine (they import neither: see src/layers/layer.ts). */
const ENGINE = {
  tf,
  kernel,
  kernels,
  gancKernel,
  view,
  constant,
  filledView,
  vjp,
  activation: (a: { readonly kind: string }, x: tf.Tensor) => activationModule(a.kind).forward(a as Activation, x, { tf, kernel }),
  activationGrad: (a: { readonly kind: string }, dy: tf.Tensor, y: tf.Tensor) => activationModule(a.kind).grad(a as Activation, dy, y, { tf, kernel, constant, gancKernel }),
  activationAttrs: (a: { readonly kind: string } | null) => (a === null ? { activation: "linear", leakyreluAlpha: 0.2 } : activationModule(a.kind).attrs(a as Activation)),
};

function fusedOp(l: FusedLayer): FusedOp<FusedLayer> {
  const op = FUSED_OPS.get(l.op);
  if (!op) throw new Error(`no fused op '${l.op}'`);
  return op;
}

function hasWeights(l: FusedLayer): boolean {
  return (fusedOp(l).weights?.(l).length ?? 0) > 0;
}

/** Whether the layer reads another input of the net whose gradient the step needs (concat). */
function readsInputWithGrad(l: FusedLayer, o: ApplyOptions): boolean {
  return (fusedOp(l).inputsRead?.(l) ?? []).some((k) => o.gradInputs[k]);
}

/**
 * The per-channel factors of every batch-norm layer's backward pass, for all layers of a forward pass at
 * once: r = rsqrt(var + eps) and (((r * r) * r) * -0.5), as tfjs's FusedBatchNorm gradient computes them
 * (elementwise, so one chain over the layers' variances laid end to end gives the same numbers).
 */
function bnFactors(stats: BnStats[], keep: <T extends tf.Tensor>(t: T) => T): void {
  if (stats.length === 0) return;
  if (tf.getKernel(GANC_BN_FACTORS, tf.getBackend()) !== undefined) {
    // the same arithmetic as one kernel (wasm)
    const inputs: tf.NamedTensorMap = {};
    stats.forEach((s, i) => (inputs[`v${i}`] = s.variance));
    const attrs: BnFactorsAttrs = { epsilons: stats.map((s) => s.bn.epsilon) };
    const outs = tf.engine().runKernel(GANC_BN_FACTORS, inputs, attrs as unknown as tf.NamedAttrMap) as tf.Tensor[];
    stats.forEach((s, i) => {
      s.r = keep(outs[i]!);
      s.minusHalfRCube = keep(outs[stats.length + i]!);
    });
    return;
  }
  const sizes = stats.map((s) => s.variance.size);
  const eps = stats.every((s) => s.bn.epsilon === stats[0]!.bn.epsilon)
    ? constant(stats[0]!.bn.epsilon)
    : tf.concat(stats.map((s) => tf.fill([s.variance.size], s.bn.epsilon, "float32")), 0);
  const v = stats.length === 1 ? stats[0]!.variance : tf.concat(stats.map((s) => s.variance), 0);
  const r = kernel("Rsqrt", { x: kernel("Add", { a: v, b: eps }) });
  const mul = (a: tf.Tensor, b: tf.Tensor) => kernel("Multiply", { a, b });
  const mh = mul(mul(mul(r, r), r), constant(-0.5));
  const rs = stats.length === 1 ? [r] : tf.split(r, sizes, 0);
  const mhs = stats.length === 1 ? [mh] : tf.split(mh, sizes, 0);
  stats.forEach((s, i) => {
    s.r = keep(rs[i]!);
    s.minusHalfRCube = keep(mhs[i]!);
  });
}

/**
 * Moving averages of every batch-norm layer of one forward pass, as rt.batchNorm computes them
 * (moving * decay + batch * (1 - decay), per element), over all layers at once: one concat of the batch
 * statistics, one of the moving ones, the arithmetic and one split, per decay value. `times` = 2 applies
 * the update of a second forward pass with the same statistics (a replayed one) right away:
 * (moving * decay + b) * decay + b with b = batch * (1 - decay), the same operations.
 */
function updateMovingAverages(stats: BnStats[], times = 1): void {
  if (stats.length === 0) return;
  tf.tidy(() => {
    const byDecay = new Map<number, BnStats[]>();
    for (const s of stats) byDecay.set(s.bn.decay, [...(byDecay.get(s.bn.decay) ?? []), s]);
    for (const [decay, group] of byDecay) {
      const batch = group.flatMap((s) => [s.mean, s.variance]);
      const moving = group.flatMap((s) => [s.bn.movingMean, s.bn.movingVariance]);
      if (tf.getKernel(GANC_MOVING_AVERAGES, tf.getBackend()) !== undefined) {
        // the same arithmetic as one kernel (wasm)
        const inputs: tf.NamedTensorMap = {};
        moving.forEach((m, i) => {
          inputs[`moving${i}`] = m;
          inputs[`batch${i}`] = batch[i]!;
        });
        const attrs: MovingAveragesAttrs = { count: moving.length, decay, times };
        const outs = tf.engine().runKernel(GANC_MOVING_AVERAGES, inputs, attrs as unknown as tf.NamedAttrMap) as tf.Tensor[];
        outs.forEach((o, i) => moving[i]!.assign(o));
        continue;
      }
      const cat = (ts: tf.Tensor[]) => (ts.length === 1 ? ts[0]! : tf.concat(ts, 0));
      const b = kernel("Multiply", { a: cat(batch), b: constant(1 - decay) });
      let next = cat(moving);
      for (let t = 0; t < times; t++) next = kernel("Add", { a: kernel("Multiply", { a: next, b: constant(decay) }), b });
      const parts = tf.split(next, moving.map((m) => m.size), 0);
      parts.forEach((p, i) => moving[i]!.assign(p));
    }
  });
}
