import type * as tf from "@tensorflow/tfjs";
import { ident, num } from "../codegen/writer.ts";
import type { BatchNormVars } from "../runtime/ops.ts";
import type { Activation, BnStats } from "../runtime/fused/net.ts";
import type { Backward, FusedEnv, LayerModule } from "./layer.ts";

export interface BatchnormIR {
  readonly op: "batchnorm";
  readonly decay: number;
  readonly epsilon: number;
  readonly gamma: string | null;
  readonly beta: string | null;
  readonly mean: string;
  readonly variance: string;
}

export interface BatchnormFused {
  op: "batchnorm";
  bn: BatchNormVars;
  /** The activation layer after it, run in the same op (pass fused-activation); null or absent for none. */
  act?: Activation | null;
}

export const batchnorm: LayerModule<BatchnormIR, BatchnormFused> = {
  kind: "batchnorm",
  doc: "batch normalization (training: batch statistics; sampling: moving averages)",
  params: {
    decay: "moving-average decay of the batch statistics, in [0, 1) (default 0.9)",
    epsilon: "small constant added for numerical stability",
    scale: "learn a per-channel scale gamma (default true)",
    center: "learn a per-channel offset beta (default true)",
  },
  aliases: ["bn"],
  prefix: "bn",
  range: null,

  check({ r, shape, variable }) {
    const decay = r.number("decay", 0.9, (x) => (x >= 0 && x < 1 ? null : "must be in [0, 1)"));
    const epsilon = r.number("epsilon", 1e-5, (x) => (x > 0 ? null : "must be > 0"));
    const c = shape[shape.length - 1] ?? 1;
    const gamma = r.bool("scale", true) ? variable("gamma", [c], { kind: "ones" }) : null;
    const beta = r.bool("center", true) ? variable("beta", [c], { kind: "zeros" }) : null;
    const mean = variable("moving_mean", [c], { kind: "zeros" }, false);
    const variance = variable("moving_variance", [c], { kind: "ones" }, false);
    return { layer: { op: "batchnorm", decay, epsilon, gamma, beta, mean, variance }, out: shape };
  },

  resolved: (l, { num, bool }) => [["decay", num(l.decay)], ["epsilon", num(l.epsilon)], ["scale", bool(l.gamma !== null)], ["center", bool(l.beta !== null)]],

  // The variables of each batch-norm layer are gathered in one rt.BatchNormVars, declared with the net's
  // variables (see batchNormVars).
  code: (_l, { net, info }) => `h = rt.batchNorm(h, ${ident(`${net.name}/${info.name}`)}, mode);`,

  fused: {
    available: (_l, passes) => passes.has("fused-batchnorm"),
    // the activation after it in the same op: a relu inside the normalization's own pass where the backend has
    // ganc's kernel, else the activation's kernel on its output (the same kernels as the two layers)
    hostsActivation: () => true,
    code: (_l, { net, info }, act) => `{ op: "batchnorm", bn: ${ident(`${net.name}/${info.name}`)}, act: ${act} }`,
    runtime: {
      op: "batchnorm",
      accumulates: true,
      weights: (l) => [...(l.bn.gamma ? [l.bn.gamma] : []), ...(l.bn.beta ? [l.bn.beta] : [])],
      forward: (l, env) => withActivation(l.act ?? null, env, batchNormLayer(l.bn, env, l.act?.kind === "relu")),
    },
  },

  export: (l, { tf, apply, h, name, take }) =>
    apply(
      tf.layers.batchNormalization({ axis: -1, momentum: l.decay, epsilon: l.epsilon, center: !!l.beta, scale: !!l.gamma, name }),
      h,
      [...(l.gamma ? [take(l.gamma)] : []), ...(l.beta ? [take(l.beta)] : []), take(l.mean), take(l.variance)],
    ),
};

/** The trainer's declaration of a batch-norm layer's rt.BatchNormVars, named `<net>/<layer>`. */
export function batchNormVars(netName: string, layerName: string, b: BatchnormIR): string {
  return `const ${ident(`${netName}/${layerName}`)}: rt.BatchNormVars = { gamma: ${b.gamma ? ident(b.gamma) : "null"}, beta: ${b.beta ? ident(b.beta) : "null"}, movingMean: ${ident(b.mean)}, movingVariance: ${ident(b.variance)}, decay: ${num(b.decay)}, epsilon: ${num(b.epsilon)} };`;
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
 *   dx = (dx1 + dx2) + dx3      (the tape adds the three paths to x in this order; to the gradient
 *                               x already has from a shortcut that reads it too, when there is one)
 *
 * Rewritten only where IEEE arithmetic makes two forms equal bit for bit: (r*-1)*a = -(r*a), a sum of
 * negated terms is the negated sum, a + -b = a - b, and doubling is exact, so a*(b*2) = (a*2)*b.
 * The per-channel factors r and -0.5 r^3 are computed for all layers of a pass at once (bnFactors in
 * src/runtime/fused/net.ts), after the forward pass.
 */
function batchNormLayer(bn: BatchNormVars, env: FusedEnv, relu: boolean): { y: tf.Tensor; backward: Backward; relu?: true } {
  const trainKernel = env.gancKernel("bnTrain");
  const gradKernel = env.gancKernel("bnGrad");
  if (trainKernel !== null && gradKernel !== null) return batchNormKernels(bn, env, trainKernel, gradKernel, relu);
  const { x, needDx, train, keep, stats, kernel, view, constant, filledView } = env;
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
    backward: (dyIn, grads, into) => {
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
      // (with `into`, the gradient x has from later layers that read it: tfjs adds each path to it in turn)
      const first = into ? kernel("Add", { a: view(into, shape4), b: dx1 }) : dx1;
      return view(kernel("Add", { a: kernel("Add", { a: first, b: dxc }), b: dx3 }), x.shape);
    },
  };
}

/**
 * The same arithmetic as batchNormLayer's chain, where the backend has it as two kernels (wasm: ganc.wat's
 * bn_sumsq, bn_grad_sums, bn_grad_center_sum and bn_grad_dx, with column_sum and batch_norm): the forward
 * pass's five kernels and the backward pass's twenty or so become one each, bit for bit the chain
 * (test/runtime/wasm-kernels.test.ts, test/opt/fused-graph.test.ts).
 */
function batchNormKernels(
  bn: BatchNormVars,
  { x, needDx, train, keep, stats, kernels, view }: FusedEnv,
  trainKernel: string,
  gradKernel: string,
  relu: boolean,
): { y: tf.Tensor; backward: Backward; relu?: true } {
  const [y, mean, variance] = kernels(trainKernel, { x, scale: bn.gamma, offset: bn.beta }, { varianceEpsilon: bn.epsilon, ...(relu ? { activation: "relu" } : {}) }) as [tf.Tensor, tf.Tensor, tf.Tensor];
  const st: BnStats = { bn, mean: keep(mean), variance: keep(variance) };
  stats.push(st);
  // the backward pass computes x - mean again from these (the kernel pair keeps no centred copy); a view: x
  // may be a tensor this op does not own
  const xKept = keep(view(x, x.shape));
  return {
    y,
    ...(relu ? { relu: true as const } : {}),
    backward: (dy, grads, into) => {
      const wantSums = train && (bn.gamma !== null || bn.beta !== null);
      if (!wantSums && !needDx) return null;
      const [dgamma, dbeta, dx] = kernels(gradKernel, { dy, x: xKept, mean: st.mean, r: st.r!, mh: st.minusHalfRCube!, gamma: bn.gamma, into }, { needDx });
      if (train) {
        if (bn.gamma) grads.set(bn.gamma, dgamma!);
        if (bn.beta) grads.set(bn.beta, dbeta!);
      }
      return needDx ? dx! : null;
    },
  };
}

/**
 * A batch-norm layer with the activation layer after it as one op: the activation's forward kernel on the
 * normalized values (unless the normalization already applied it: `relu` from the kernel pair), and in the
 * backward pass the activation's gradient from its output, then batch norm's. The same kernels and values as
 * the two layers run one after the other (the act op's forward and backward, activation.ts).
 */
function withActivation(act: Activation | null, env: FusedEnv, bn: { y: tf.Tensor; backward: Backward; relu?: true }): { y: tf.Tensor; backward: Backward } {
  if (act === null) return bn;
  const y = bn.relu ? bn.y : env.activation(act, bn.y);
  env.keep(y);
  return {
    y,
    backward: (dy, grads, into) => bn.backward(env.activationGrad(act, dy, y), grads, into),
  };
}

function as4D(shape: readonly number[]): number[] {
  if (shape.length <= 1) return [1, 1, 1, shape[0] ?? 1];
  if (shape.length === 2) return [1, 1, shape[0]!, shape[1]!];
  if (shape.length === 3) return [1, shape[0]!, shape[1]!, shape[2]!];
  return [...shape];
}
