import { ident, num } from "../codegen/writer.ts";
import { fmt, type LayerModule } from "./layer.ts";
import { INIT_DOC, snKernel } from "./weights.ts";

export interface CbnIR {
  readonly op: "cbn";
  /** The conditioning vector (a named value of the net). */
  readonly cond: string;
  readonly decay: number;
  readonly epsilon: number;
  /** [condition, channels] maps: gain = 1 + c W_gain, bias = c W_bias. */
  readonly gain: string;
  readonly bias: string;
  readonly gainSn: string | null;
  readonly biasSn: string | null;
  readonly mean: string;
  readonly variance: string;
}

/**
 * Conditional batch norm (de Vries et al. 2017; BigGAN's ccbn): batch norm without its own scale and
 * offset, whose per-sample gain `1 + c W_gain` and bias `c W_bias` are linear maps (no bias, as BigGAN's
 * shared-embedding form) of a conditioning vector c: a class embedding, or one concatenated with a chunk
 * of z. Training normalizes with the batch's statistics and updates the moving averages; sampling uses
 * the moving averages, as `batchnorm` does.
 */
export const cbn: LayerModule<CbnIR> = {
  kind: "cbn",
  doc: "conditional batch norm: batch norm whose gain 1 + c W_gain and bias c W_bias come from a conditioning vector c: cbn(c)",
  params: {
    cond: "the conditioning vector: a named value of the net, like an embedding of the label (embed(y, 128) -> c)",
    decay: "moving-average decay of the batch statistics, in [0, 1) (default 0.9)",
    epsilon: "small constant added for numerical stability",
    init: INIT_DOC,
    sn: "spectral normalization of the gain and bias maps (default false)",
  },
  aliases: ["cond_batchnorm"],
  range: null,

  check({ r, layer, shape, value, variable, init, fail, error }) {
    const a = r.arg("cond");
    if (!a)
      return fail(`${layer.op.name} needs a conditioning vector: cbn(c), with c a named value of the net (an embedding of the label: embed(y, 128) -> c); without one, use batchnorm`, "E0170");
    if (a.value.kind !== "Name") {
      error("E0170", `${layer.op.name} takes the name of a conditioning vector of the net, like cbn(c)`, a.value.span);
      return null;
    }
    const decay = r.number("decay", 0.9, (x) => (x >= 0 && x < 1 ? null : "must be in [0, 1)"));
    const epsilon = r.number("epsilon", 1e-5, (x) => (x > 0 ? null : "must be > 0"));
    const v = value(a.value.name, a.value.span);
    if (!v) return null;
    if (v.shape.length !== 1) {
      error("E0172", `the condition of ${layer.op.name} must be a vector per sample, and '${a.value.name}' is ${fmt(v.shape)}`, a.value.span);
      return null;
    }
    const k = v.shape[0]!;
    const c = shape[shape.length - 1] ?? 1;
    const w = init({ kind: "normal", mean: 0, std: 0.02 });
    const gain = variable("gain", [k, c], w);
    const bias = variable("bias", [k, c], w);
    const sn = r.bool("sn", false);
    const gainSn = sn ? variable("gain_sn_u", [1, c], { kind: "normal", mean: 0, std: 1 }, false) : null;
    const biasSn = sn ? variable("bias_sn_u", [1, c], { kind: "normal", mean: 0, std: 1 }, false) : null;
    const mean = variable("moving_mean", [c], { kind: "zeros" }, false);
    const variance = variable("moving_variance", [c], { kind: "ones" }, false);
    return { layer: { op: "cbn", cond: v.ref, decay: decay!, epsilon: epsilon!, gain, bias, gainSn, biasSn, mean, variance }, out: shape };
  },

  resolved: (l, { num, bool, initOf }) => [["decay", num(l.decay)], ["epsilon", num(l.epsilon)], ["init", initOf(l.gain)], ["sn", bool(l.gainSn !== null)]],

  code: (l, { local }) =>
    `h = rt.condBatchNorm(h, ${local(l.cond)}, ${snKernel(l.gain, l.gainSn)}, ${snKernel(l.bias, l.biasSn)}, { gamma: null, beta: null, movingMean: ${ident(l.mean)}, movingVariance: ${ident(l.variance)}, decay: ${num(l.decay)}, epsilon: ${num(l.epsilon)} }, mode);`,

  // No fused form: it reads a second value of the net (the condition), which the fused network's ops do
  // not; a net with cbn runs layer by layer in the optimized trainer too.
  fused: null,

  // Keras has no conditional batch norm: the custom layer GancCondBatchNorm of the export's ganc-layers.mjs.
  export: (l, { apply, h, name, net, input, kernelOf, take, fail, custom }) =>
    apply(
      custom("GancCondBatchNorm", { epsilon: l.epsilon, name }),
      [h, input(l.cond) ?? fail(`export: ${net.name}.${name} reads ${l.cond}, which ${net.name} does not define`)],
      [kernelOf(l.gain, l.gainSn), kernelOf(l.bias, l.biasSn), take(l.mean), take(l.variance)],
    ),
};
