import type * as tf from "@tensorflow/tfjs";
import { ident } from "../codegen/writer.ts";
import type { Activation } from "../runtime/fused/net.ts";
import { fmt, type LayerModule } from "./layer.ts";
import { INIT_DOC, SCALE_PARAMS, foldScale, readScale, resolvedScale, scaled, scaledLayer, snFusedField, snFusedKernels, snKernel, type WeightScale } from "./weights.ts";

export interface DenseIR {
  readonly op: "dense";
  readonly units: number;
  readonly kernel: string;
  readonly bias: string | null;
  readonly sn: string | null;
  /** lr_mul / equalized: the kernel and bias are used times these (absent: as stored). */
  readonly scale?: WeightScale;
}

/** `act`: an activation the compiler fused into the kernel (only after a bias: the layer-by-layer trainer used the same fused kernel). */
export interface DenseFused {
  op: "dense";
  kernel: tf.Variable;
  bias: tf.Variable | null;
  act: Activation | null;
  /** Spectral norm's power-iteration vector: the layer reads its kernel normalized (FusedOp.spectral). */
  sn?: tf.Variable;
}

export const dense: LayerModule<DenseIR, DenseFused> = {
  kind: "dense",
  doc: "fully connected layer: x W + b",
  params: {
    units: "number of output features",
    init: INIT_DOC,
    bias: "add a learned bias (default true)",
    sn: "spectral normalization of the weights (default false)",
    ...SCALE_PARAMS,
  },
  aliases: ["fc"],
  range: null,

  check(c) {
    const { r, layer, shape, variable, fail } = c;
    const units = r.posInt("units", null);
    if (units === null) {
      r.required("units", layer.span);
      return null;
    }
    if (shape.length !== 1) return fail(`dense needs a flat input per sample, got ${fmt(shape)}; add 'flatten' before it`);
    const useBias = r.bool("bias", true);
    const useSn = r.bool("sn", false);
    const mods = readScale(c, shape[0]!, { kind: "normal", mean: 0, std: 0.02 }, useSn);
    if (!mods) return null;
    const kernel = variable("kernel", [shape[0]!, units], mods.init);
    const bias = useBias ? variable("bias", [units], { kind: "zeros" }) : null;
    const sn = useSn ? variable("sn_u", [1, units], { kind: "normal", mean: 0, std: 1 }, false) : null;
    return { layer: { op: "dense", units, kernel, bias, sn, ...(mods.scale ? { scale: mods.scale } : {}) }, out: [units] };
  },

  resolved: (l, c) => [["init", c.initOf(l.kernel)], ["bias", c.bool(l.bias !== null)], ["sn", c.bool(l.sn !== null)], ...resolvedScale(l.scale, c)],

  code: (l) =>
    l.bias
      ? // tf.fused.matMul's kernel, with only the gradients a backward pass needs (src/runtime/lazy-bias.ts)
        `h = rt.matMulBias(h as tf.Tensor2D, ${scaled(snKernel(l.kernel, l.sn), l.scale?.w)} as tf.Tensor2D, ${scaled(ident(l.bias), l.scale?.b)});`
      : `h = tf.matMul(h as tf.Tensor2D, ${scaled(snKernel(l.kernel, l.sn), l.scale?.w)} as tf.Tensor2D);`,

  // (a scaled layer has no fused form yet: its net runs layer by layer)
  fused: {
    available: (l) => !scaledLayer(l),
    hostsActivation: (l) => l.bias !== null,
    code: (l, _c, act) => `{ op: "dense", kernel: ${ident(l.kernel)}, bias: ${l.bias ? ident(l.bias) : "null"}, act: ${act}${snFusedField(l.sn)} }`,
    runtime: {
      op: "dense",
      weights: (l) => (l.bias ? [l.kernel, l.bias] : [l.kernel]),
      spectral: snFusedKernels,
      forward(l, { x, keep, kernel, view, needDx, train, activationAttrs, activationGrad, weight }) {
        const [n, k] = x.shape as [number, number];
        const units = l.kernel.shape[1]!;
        const w = weight(l.kernel);
        const a3 = view(x, [1, n, k]);
        const y = l.bias
          ? view(kernel("_FusedMatMul", { a: a3, b: view(w, [1, k, units]), bias: l.bias }, { transposeA: false, transposeB: false, ...activationAttrs(l.act) }), [n, units])
          : kernel("BatchMatMul", { a: x, b: w }, { transposeA: false, transposeB: false });
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
            return needDx ? view(kernel("BatchMatMul", { a: dz3, b: view(w, [1, k, units]) }, { transposeA: false, transposeB: true }), [n, k]) : null;
          },
        };
      },
    },
  },

  // lr_mul and equalized are folded into the exported kernel and bias.
  export: (l, { tf, apply, h, name, kernelOf, take }) =>
    apply(tf.layers.dense({ units: l.units, useBias: !!l.bias, name }), h, [foldScale(tf, kernelOf(l.kernel, l.sn), l.scale?.w), ...(l.bias ? [foldScale(tf, take(l.bias), l.scale?.b)] : [])]),
};
