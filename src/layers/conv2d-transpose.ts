import type * as tf from "@tensorflow/tfjs";
import { ident } from "../codegen/writer.ts";
import { CONV_PARAM_ALIASES, CONV_PARAMS, checkConv, convBias, convExportWeights, convKernel, resolvedConv, type ConvIR } from "./conv2d.ts";
import type { LayerModule } from "./layer.ts";
import { scaledLayer, snFusedField, snFusedKernels } from "./weights.ts";

export interface DeconvFused {
  op: "deconv";
  kernel: tf.Variable;
  bias: tf.Variable | null;
  stride: number;
  pad: "same" | "valid";
  out: [number, number, number];
  /** Spectral norm's power-iteration vector: the layer reads its kernel normalized (FusedOp.spectral). */
  sn?: tf.Variable;
}

export const conv2dTranspose: LayerModule<ConvIR<"conv2dTranspose">, DeconvFused> = {
  kind: "conv2dTranspose",
  doc: "2-D transposed convolution (deconvolution)",
  params: CONV_PARAMS,
  paramAliases: CONV_PARAM_ALIASES,
  aliases: ["deconv", "conv2d_transpose"],
  prefix: "deconv",
  range: null,
  check: (c) => checkConv("conv2dTranspose", c),
  resolved: (l, c) => [...resolvedConv(l, c)],

  code(l, { info }) {
    const [oh, ow] = info.outShape;
    const conv = `tf.conv2dTranspose(h as tf.Tensor4D, ${convKernel(l)} as tf.Tensor4D, [h.shape[0]!, ${oh}, ${ow}, ${l.filters}], ${l.stride}, "${l.padding}")`;
    return l.bias ? `h = tf.add(${conv}, ${convBias(l)});` : `h = ${conv};`;
  },

  fused: {
    available: (l) => !scaledLayer(l),
    code: (l, { info }) =>
      `{ op: "deconv", kernel: ${ident(l.kernel)}, bias: ${l.bias ? ident(l.bias) : "null"}, stride: ${l.stride}, pad: "${l.padding}", out: [${info.outShape.join(", ")}]${snFusedField(l.sn)} }`,
    runtime: {
      op: "deconv",
      weights: (l) => (l.bias ? [l.kernel, l.bias] : [l.kernel]),
      spectral: snFusedKernels,
      forward(l, { x, keep, kernel, view, needDx, train, weight }) {
        const conv = { strides: l.stride, pad: l.pad, dataFormat: "NHWC", dimRoundingMode: undefined };
        const filter = weight(l.kernel);
        const z = kernel("Conv2DBackpropInput", { dy: x, filter }, { ...conv, inputShape: [x.shape[0]!, ...l.out] });
        const y = l.bias ? kernel("Add", { a: z, b: l.bias }) : z;
        const xs4 = keep(view(x, x.shape));
        return {
          y,
          backward: (dy, grads) => {
            if (train) {
              grads.set(l.kernel, kernel("Conv2DBackpropFilter", { x: dy, dy: xs4 }, { ...conv, filterShape: l.kernel.shape }));
              if (l.bias) grads.set(l.bias, kernel("Sum", { x: dy }, { axis: [0, 1, 2], keepDims: false }));
            }
            return needDx ? kernel("Conv2D", { x: dy, filter }, { ...conv, dilations: 1 }) : null;
          },
        };
      },
    },
  },

  export: (l, e) =>
    e.apply(
      e.tf.layers.conv2dTranspose({ filters: l.filters, kernelSize: l.kernelSize, strides: l.stride, padding: l.padding, useBias: !!l.bias, name: e.name }),
      e.h,
      convExportWeights(l, e),
    ),
};
