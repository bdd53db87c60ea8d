import { num } from "../codegen/writer.ts";
import type { LayerModule } from "./layer.ts";

export interface PixelnormIR {
  readonly op: "pixelnorm";
  readonly epsilon: number;
}

/**
 * Pixel normalization (Karras et al. 2018; StyleGAN's normalization of z before the mapping network): each
 * feature vector divided by its root mean square, x / sqrt(mean(x^2) + epsilon), over the last axis: the
 * features of a vector, the channels of each pixel of an image.
 */
export const pixelnorm: LayerModule<PixelnormIR> = {
  kind: "pixelnorm",
  doc: "pixel normalization: x / sqrt(mean(x^2 over the features or channels) + epsilon), StyleGAN's normalization of z",
  params: { epsilon: "small constant under the square root (default 1e-8)" },
  aliases: ["pixel_norm"],
  range: null,

  check({ r, shape }) {
    const epsilon = r.number("epsilon", 1e-8, (x) => (x > 0 ? null : "must be > 0"));
    return { layer: { op: "pixelnorm", epsilon }, out: shape };
  },

  resolved: (l, { num }) => [["epsilon", num(l.epsilon)]],
  code: (l) => `h = rt.pixelNorm(h, ${num(l.epsilon)});`,
  // no fused form yet: a net with it runs layer by layer
  fused: null,

  // Keras has no such layer: the custom layer GancPixelNorm of the export's ganc-layers.mjs.
  export: (l, { apply, h, name, custom }) => apply(custom("GancPixelNorm", { epsilon: l.epsilon, name }), h),
};

/** The layer's arithmetic on tensors of any tfjs build (the runtime's rt.pixelNorm, the exported layer's). */
export function pixelNormOf(tf: typeof import("@tensorflow/tfjs"), x: import("@tensorflow/tfjs").Tensor, epsilon: number): import("@tensorflow/tfjs").Tensor {
  return tf.tidy(() => tf.mul(x, tf.rsqrt(tf.add(tf.mean(tf.square(x), -1, true), epsilon))));
}
