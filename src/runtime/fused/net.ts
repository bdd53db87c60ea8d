import * as tf from "@tensorflow/tfjs";
import type { BatchNormVars } from "../ops.ts";
import { Arena, constant, customOp, filledView, kernel, view } from "./engine.ts";
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

export type Activation = { kind: "relu" } | { kind: "leakyrelu"; alpha: number } | { kind: "sigmoid" } | { kind: "tanh" } | { kind: "softmax" };

export type FusedLayer =
  /** `act`: an activation the compiler fused into the kernel (only after a bias: the layer-by-layer trainer used the same fused kernel). */
  | { op: "dense"; kernel: tf.Variable; bias: tf.Variable | null; act: Activation | null }
  | { op: "conv2d"; kernel: tf.Variable; bias: tf.Variable | null; stride: number; pad: "same" | "valid"; act: Activation | null }
  | { op: "deconv"; kernel: tf.Variable; bias: tf.Variable | null; stride: number; pad: "same" | "valid"; out: [number, number, number] }
  | { op: "batchnorm"; bn: BatchNormVars }
  | { op: "act"; act: Activation }
  | { op: "reshape"; shape: number[] }
  | { op: "flatten" }
  | { op: "dropout"; rate: number }
  | { op: "upsample"; factor: number }
  /** Concatenates the net's inputs `inputs` on the last axis (each broadcast over positions when it is a vector). */
  | { op: "concat"; inputs: number[] };

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

type Backward = (dy: tf.Tensor, grads: Map<tf.Variable, tf.Tensor>) => tf.Tensor | null;

interface BnStats {
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

  /** The net in training mode (batch statistics, moving averages updated) as one op on the tape. */
  apply(xs: readonly tf.Tensor[], o: ApplyOptions): Record<string, tf.Tensor> {
    const wantsGrad = o.gradParams || o.gradInputs.some(Boolean);
    const inputs = [...xs.filter((_, i) => o.gradInputs[i]), ...(o.gradParams ? this.paramsBelow(o.taps) : [])];
    let fwd: Forward | null = null;
    const outs = customOp(
      `net ${this.name}`,
      inputs,
      () => {
        fwd = this.forward(xs, o, wantsGrad);
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
    const top = Math.max(...taps.map((t) => this.tapIndex.get(t) ?? -1));
    const used = new Set<tf.Variable>();
    this.layers.slice(0, top + 1).forEach((l) => {
      if (l.op === "dense" || l.op === "conv2d" || l.op === "deconv") {
        used.add(l.kernel);
        if (l.bias) used.add(l.bias);
      } else if (l.op === "batchnorm") {
        if (l.bn.gamma) used.add(l.bn.gamma);
        if (l.bn.beta) used.add(l.bn.beta);
      }
    });
    return this.params.filter((p) => used.has(p));
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

  private forward(xs: readonly tf.Tensor[], o: ApplyOptions, save: boolean): Forward {
    const keep = <T extends tf.Tensor>(t: T): T => (save ? o.arena.keep(t) : t);
    const wanted = o.taps.map((t) => {
      const i = this.tapIndex.get(t);
      if (i === undefined) throw new Error(`net ${this.name} has no tap '${t}'`);
      return i;
    });
    // Which layers' input gradients the step needs: those above a layer with weights the step trains, or
    // above an input (the first, or one a concat layer reads) whose gradient it needs.
    const needIn: boolean[] = this.layers.map(() => false);
    let below = !!o.gradInputs[0];
    this.layers.forEach((l, i) => {
      needIn[i] = below;
      if (o.gradParams && hasWeights(l)) below = true;
      if (l.op === "concat" && l.inputs.some((k) => o.gradInputs[k])) below = true;
    });
    const steps: Backward[] = [];
    const stats: Forward["stats"] = [];
    const outputs: tf.Tensor[] = new Array(wanted.length);
    const inputGrads: (tf.Tensor | null)[] = xs.map(() => null);
    let h = xs[0]!;
    this.layers.forEach((l, i) => {
      const r = this.layer(l, h, xs, needIn[i]!, o, keep, stats, inputGrads);
      steps.push(r.backward);
      h = r.y;
      wanted.forEach((w, k) => {
        if (w === i) outputs[k] = h;
      });
    });
    if (save) bnFactors(stats, keep);
    return {
      outputs,
      stats,
      backward: (dys, grads) => {
        let dy: tf.Tensor | null = null;
        for (let i = Math.max(...wanted); i >= 0; i--) {
          for (let k = 0; k < wanted.length; k++) if (wanted[k] === i) dy = dy === null ? dys[k]! : tf.add(dy, dys[k]!);
          if (dy === null) continue;
          const l = this.layers[i]!;
          const needed = needIn[i] || (o.gradParams && hasWeights(l)) || (l.op === "concat" && l.inputs.some((k) => o.gradInputs[k]));
          if (!needed) break;
          dy = steps[i]!(dy, grads);
          if (dy === null) break;
        }
        if (o.gradInputs[0] && dy !== null) inputGrads[0] = dy;
        return inputGrads;
      },
    };
  }

  private layer(
    l: FusedLayer,
    x: tf.Tensor,
    xs: readonly tf.Tensor[],
    needDx: boolean,
    o: ApplyOptions,
    keep: <T extends tf.Tensor>(t: T) => T,
    stats: Forward["stats"],
    inputGrads: (tf.Tensor | null)[],
  ): { y: tf.Tensor; backward: Backward } {
    const train = o.gradParams;
    switch (l.op) {
      case "dense": {
        const [n, k] = x.shape as [number, number];
        const units = l.kernel.shape[1]!;
        const a3 = view(x, [1, n, k]);
        const y = l.bias
          ? view(kernel("_FusedMatMul", { a: a3, b: view(l.kernel, [1, k, units]), bias: l.bias }, { transposeA: false, transposeB: false, ...activationAttrs(l.act) }), [n, units])
          : kernel("BatchMatMul", { a: x, b: l.kernel }, { transposeA: false, transposeB: false });
        keep(a3);
        if (l.act) keep(y);
        return {
          y,
          backward: (dy, grads) => {
            const dz3 = view(l.act ? activationGrad(l.act, dy, y) : dy, [1, n, units]);
            if (train) {
              grads.set(l.kernel, view(kernel("BatchMatMul", { a: a3, b: dz3 }, { transposeA: true, transposeB: false }), [k, units]));
              if (l.bias) grads.set(l.bias, kernel("Sum", { x: dz3 }, { axis: [0, 1], keepDims: false }));
            }
            return needDx ? view(kernel("BatchMatMul", { a: dz3, b: view(l.kernel, [1, k, units]) }, { transposeA: false, transposeB: true }), [n, k]) : null;
          },
        };
      }
      case "conv2d": {
        const conv = { strides: l.stride, pad: l.pad, dataFormat: "NHWC", dimRoundingMode: undefined };
        const y = l.bias
          ? kernel("FusedConv2D", { x, filter: l.kernel, bias: l.bias }, { ...conv, dilations: [1, 1], ...activationAttrs(l.act) })
          : kernel("Conv2D", { x, filter: l.kernel }, { ...conv, dilations: [1, 1] });
        const xs4 = keep(view(x, x.shape)); // a view: x may be a tensor this op does not own
        if (l.act) keep(y);
        return {
          y,
          backward: (dy, grads) => {
            const dz = l.act ? activationGrad(l.act, dy, y) : dy;
            if (train) {
              grads.set(l.kernel, kernel("Conv2DBackpropFilter", { x: xs4, dy: dz }, { ...conv, filterShape: l.kernel.shape }));
              if (l.bias) grads.set(l.bias, kernel("Sum", { x: dz }, { axis: [0, 1, 2], keepDims: false }));
            }
            return needDx ? kernel("Conv2DBackpropInput", { dy: dz, filter: l.kernel }, { ...conv, inputShape: x.shape }) : null;
          },
        };
      }
      case "deconv": {
        const conv = { strides: l.stride, pad: l.pad, dataFormat: "NHWC", dimRoundingMode: undefined };
        const z = kernel("Conv2DBackpropInput", { dy: x, filter: l.kernel }, { ...conv, inputShape: [x.shape[0]!, ...l.out] });
        const y = l.bias ? kernel("Add", { a: z, b: l.bias }) : z;
        const xs4 = keep(view(x, x.shape));
        return {
          y,
          backward: (dy, grads) => {
            if (train) {
              grads.set(l.kernel, kernel("Conv2DBackpropFilter", { x: dy, dy: xs4 }, { ...conv, filterShape: l.kernel.shape }));
              if (l.bias) grads.set(l.bias, kernel("Sum", { x: dy }, { axis: [0, 1, 2], keepDims: false }));
            }
            return needDx ? kernel("Conv2D", { x: dy, filter: l.kernel }, { ...conv, dilations: 1 }) : null;
          },
        };
      }
      case "batchnorm":
        return batchNormLayer(l.bn, x, needDx, train, keep, stats);
      case "act": {
        const y = activation(l.act, x);
        keep(y);
        return { y, backward: (dy) => (needDx ? activationGrad(l.act, dy, y) : null) };
      }
      case "reshape":
      case "flatten": {
        const shape = l.op === "flatten" ? [x.shape[0]!, -1] : [-1, ...l.shape];
        const inShape = x.shape;
        return { y: view(x, shape), backward: (dy) => (needDx ? view(dy, inShape) : null) };
      }
      case "dropout": {
        const seed = o.seed ? o.seed() : undefined;
        if (l.rate <= 0) return { y: x, backward: (dy) => (needDx ? dy : null) };
        const keepProb = 1 - l.rate;
        // tf.dropout's own formula and random stream, so the mask is the layer-by-layer trainer's.
        const multiplier = keep(tf.div(tf.floor(tf.add(tf.randomUniform(x.shape, 0, 1, "float32", seed), keepProb)), keepProb));
        return { y: tf.mul(x, multiplier), backward: (dy) => (needDx ? tf.mul(dy, multiplier) : null) };
      }
      case "upsample": {
        const [b, h, w, c] = x.shape as [number, number, number, number];
        const f = l.factor;
        return {
          y: tf.image.resizeNearestNeighbor(x as tf.Tensor4D, [h * f, w * f]),
          backward: (dy) => (needDx ? tf.sum(view(dy, [b, h, f, w, f, c]), [2, 4]) : null),
        };
      }
      case "concat": {
        // rt.concatInput applied once per input: a vector input is broadcast over an image's positions
        const [b, h, w] = x.shape as number[];
        const parts = l.inputs.map((k) => {
          const other = xs[k]!;
          return x.rank === 4 && other.rank === 2 ? tf.tile(view(other, [b!, 1, 1, other.shape[1]!]), [1, h!, w!, 1]) : other;
        });
        const y = parts.reduce((acc, part) => tf.concat([acc, part], -1), x);
        const widths = [x, ...parts].map((t) => t.shape[t.rank - 1]!);
        const tiled = l.inputs.map((k) => x.rank === 4 && xs[k]!.rank === 2);
        return {
          y,
          backward: (dy) => {
            const [dx, ...dOthers] = tf.split(dy, widths, -1);
            l.inputs.forEach((k, j) => {
              if (!o.gradInputs[k]) return;
              const g = tiled[j] ? tf.sum(dOthers[j]!, [1, 2]) : dOthers[j]!;
              inputGrads[k] = inputGrads[k] ? tf.add(inputGrads[k]!, g) : g;
            });
            return needDx ? dx! : null;
          },
        };
      }
    }
  }
}

function hasWeights(l: FusedLayer): boolean {
  return l.op === "dense" || l.op === "conv2d" || l.op === "deconv" || (l.op === "batchnorm" && (l.bn.gamma !== null || l.bn.beta !== null));
}

function activationAttrs(a: Activation | null): { activation: string; leakyreluAlpha: number } {
  if (a === null) return { activation: "linear", leakyreluAlpha: 0.2 };
  if (a.kind === "leakyrelu") return { activation: "leakyrelu", leakyreluAlpha: a.alpha };
  return { activation: a.kind, leakyreluAlpha: 0.2 };
}

function activation(a: Activation, x: tf.Tensor): tf.Tensor {
  switch (a.kind) {
    case "relu":
      return kernel("Relu", { x });
    case "leakyrelu":
      return kernel("LeakyRelu", { x }, { alpha: a.alpha });
    case "sigmoid":
      return kernel("Sigmoid", { x });
    case "tanh":
      return kernel("Tanh", { x });
    case "softmax":
      return tf.softmax(x);
  }
}

/**
 * An activation's gradient from its output: relu and leaky relu (alpha >= 0) pass dy where the output is
 * positive, which is where the input is, and scale it by alpha elsewhere (tfjs's formulas, bit for bit).
 */
function activationGrad(a: Activation, dy: tf.Tensor, y: tf.Tensor): tf.Tensor {
  switch (a.kind) {
    case "relu":
      return kernel("Multiply", { a: dy, b: kernel("Step", { x: y }, { alpha: 0 }) });
    case "leakyrelu":
      return kernel("Multiply", { a: dy, b: kernel("Step", { x: y }, { alpha: a.alpha }) });
    case "sigmoid":
      return kernel("Multiply", { a: dy, b: kernel("Multiply", { a: y, b: kernel("Sub", { a: constant(1), b: y }) }) });
    case "tanh":
      return kernel("Multiply", { a: kernel("Sub", { a: constant(1), b: kernel("Square", { x: y }) }), b: dy });
    case "softmax": {
      const dyTimesY = kernel("Multiply", { a: dy, b: y });
      return kernel("Sub", { a: dyTimesY, b: kernel("Multiply", { a: tf.sum(dyTimesY, -1, true), b: y }) });
    }
  }
}

/**
 * Batch norm with batch statistics. Forward: the kernels of rt.batchNorm (Mean, Sub, Square, Mean,
 * FusedBatchNorm). Backward: exactly what tfjs's tape computes through tf.moments and tf.batchNorm, in
 * the same float32 operations per element and the same order of accumulation, without the copies,
 * reshapes, tiles and same-type casts around them (25 kernels, 21 for a net the step does not train,
 * instead of about 50). With r = 1/sqrt(var + eps), xc = x - mean and n values per channel:
 *
 *   FusedBatchNorm's gradient:  dx1 = (dy*r)*gamma,  dmean1 = sum((r*-1) * dy*gamma),
 *                               dvar = sum((r*r*r*-0.5) * xc * dy*gamma),
 *                               dgamma = sum(dy * (xc*r)),  dbeta = sum(dy)
 *   var = mean(square(xc)):     dxc = (dvar/n) * (xc*2)
 *   xc = x - mean:              dx2 = dxc,  dmean2 = -sum(dxc)
 *   mean = mean(x):             dx3 = (dmean1 + dmean2) / n
 *   dx = (dx1 + dx2) + dx3      (the tape adds the three paths to x in this order)
 *
 * Rewritten only where IEEE arithmetic makes two forms equal bit for bit: (r*-1)*a = -(r*a), a sum of
 * negated terms is the negated sum, a + -b = a - b, and doubling is exact, so a*(b*2) = (a*2)*b.
 */
function batchNormLayer(
  bn: BatchNormVars,
  x: tf.Tensor,
  needDx: boolean,
  train: boolean,
  keep: <T extends tf.Tensor>(t: T) => T,
  stats: Forward["stats"],
): { y: tf.Tensor; backward: Backward } {
  const rank = x.rank;
  const axes = x.shape.slice(0, -1).map((_, i) => i);
  const channels = x.shape[rank - 1]!;
  const n = x.size / channels;
  const mean = kernel("Mean", { x }, { axis: axes, keepDims: false });
  const xc = kernel("Sub", { a: x, b: view(mean, x.shape.map((d, i) => (i === rank - 1 ? d : 1))) });
  const variance = kernel("Mean", { x: kernel("Square", { x: xc }) }, { axis: axes, keepDims: false });
  const scale = bn.gamma ?? filledView(1, [channels]);
  const offset = bn.beta ?? filledView(0, [channels]);
  const shape4 = as4D(x.shape);
  const y4 = kernel("FusedBatchNorm", { x: view(x, shape4), scale, offset, mean, variance }, { varianceEpsilon: bn.epsilon });
  const st: BnStats = { bn, mean: keep(mean), variance: keep(variance) };
  stats.push(st);
  const xc4 = keep(view(xc, shape4));
  return {
    y: view(y4, x.shape),
    backward: (dyIn, grads) => {
      // tfjs differentiates FusedBatchNorm on its 4-D input, summing over axes 0-2: so do we.
      const dy = view(dyIn, shape4);
      const sum = (t: tf.Tensor) => kernel("Sum", { x: t }, { axis: [0, 1, 2], keepDims: false });
      const mul = (a: tf.Tensor, b: tf.Tensor) => kernel("Multiply", { a, b });
      const r = st.r!;
      // with no gamma tfjs multiplies by a scale of ones, which changes nothing
      const dyGamma = bn.gamma ? mul(dy, bn.gamma) : dy;
      if (train) {
        if (bn.gamma) grads.set(bn.gamma, sum(mul(dy, mul(xc4, r))));
        if (bn.beta) grads.set(bn.beta, sum(dy));
      }
      if (!needDx) return null;
      const dx1 = bn.gamma ? mul(mul(dy, r), bn.gamma) : mul(dy, r);
      const minusHalfRCube = st.minusHalfRCube!;
      const dvar = sum(mul(mul(minusHalfRCube, xc4), dyGamma));
      const dxc = mul(xc4, mul(kernel("RealDiv", { a: dvar, b: constant(n) }), constant(2)));
      // dmean1 + dmean2 = -sum(r * dy*gamma) - sum(dxc) = -(sum(r * dy*gamma) + sum(dxc))
      const sumDxc = view(kernel("Sum", { x: view(dxc, x.shape) }, { axis: axes, keepDims: false }), [channels]); // tf.moments' Sub, on x's own shape
      const dmeanNeg = kernel("Add", { a: sum(mul(r, dyGamma)), b: sumDxc });
      const dx3 = kernel("RealDiv", { a: dmeanNeg, b: constant(-n) });
      return view(kernel("Add", { a: kernel("Add", { a: dx1, b: dxc }), b: dx3 }), x.shape);
    },
  };
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

function as4D(shape: readonly number[]): number[] {
  if (shape.length <= 1) return [1, 1, 1, shape[0] ?? 1];
  if (shape.length === 2) return [1, 1, shape[0]!, shape[1]!];
  if (shape.length === 3) return [1, shape[0]!, shape[1]!, shape[2]!];
  return [...shape];
}

/**
 * Moving averages of every batch-norm layer of one forward pass, as rt.batchNorm computes them
 * (moving * decay + batch * (1 - decay), per element), over all layers at once: one concat of the batch
 * statistics, one of the moving ones, the arithmetic and one split, per decay value. `times` = 2 applies
 * the update of a second forward pass with the same statistics (a replayed one) right away:
 * (moving * decay + b) * decay + b with b = batch * (1 - decay), the same operations.
 */
function updateMovingAverages(stats: Forward["stats"], times = 1): void {
  if (stats.length === 0) return;
  tf.tidy(() => {
    const byDecay = new Map<number, Forward["stats"]>();
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
