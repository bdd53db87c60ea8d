import { ident } from "../codegen/writer.ts";
import { fmt, type LayerModule } from "./layer.ts";

export interface NoiseIR {
  readonly op: "noise";
  readonly perChannel: boolean;
  /** The learned strength: one per channel, or one for the layer ([1]). */
  readonly strength: string;
  /** The seed of the fixed noise that sampling and the exported model use. */
  readonly sampleSeed: number;
}

/**
 * StyleGAN2's noise inputs: x + n * s, with n a per-pixel standard normal [batch, height, width, 1], the
 * same for every channel, and s a learned strength per channel (or one for the layer), initialized 0.
 * Training draws n afresh on every call from the run's seeded generator (a seed from run.seed(), which
 * checkpoints keep, so --seed repeats a run and --resume continues it bit for bit). Sampling (the sample
 * grids, `ganc sample`) and the exported model use fixed noise, drawn from a seed of the layer's own, so
 * that grids over training and the exported model show the trainer's images (StyleGAN2's
 * noise_mode='const').
 */
export const noise: LayerModule<NoiseIR> = {
  kind: "noise",
  doc: "StyleGAN2's noise input: x + n * s, n per-pixel standard normal noise (fresh each training step, fixed when sampling), s a learned strength per channel starting at 0",
  params: { per_channel: "a strength per channel (default true); false: one for the layer" },
  range: null,

  check({ r, shape, variable, fail }) {
    const perChannel = r.bool("per_channel", true);
    if (shape.length !== 3)
      return fail(`noise adds per-pixel noise to an image [height, width, channels], but its input is ${fmt(shape)} per sample; put it after a conv or a reshape to an image`, "E0186");
    const strength = variable("strength", [perChannel ? shape[2]! : 1], { kind: "zeros" });
    return { layer: { op: "noise", perChannel, strength, sampleSeed: seedOf(strength) }, out: shape };
  },

  resolved: (l, { bool }) => [["per_channel", bool(l.perChannel)]],
  code: (l) => `h = rt.addNoise(h, ${ident(l.strength)}, mode === "train" ? run.seed() : ${l.sampleSeed});`,
  // no fused form: a net with it runs layer by layer (and draws in order: it counts as a net with dropout)
  fused: null,

  // The custom layer GancNoise of the export's ganc-layers.mjs: the sampling noise (the same seed), so the
  // exported model reproduces `ganc sample`.
  export: (l, { apply, h, name, take, custom }) => apply(custom("GancNoise", { seed: l.sampleSeed, perChannel: l.perChannel, name }), h, [take(l.strength)]),
};

/** A 31-bit seed from a name (FNV-1a), so a layer's sampling noise does not change with the run's seed. */
function seedOf(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0;
  return h & 0x7fffffff;
}

/** The noise of one call: [batch, height, width, 1] standard normal values from `seed`. */
export function noiseOf(tf: typeof import("@tensorflow/tfjs"), x: import("@tensorflow/tfjs").Tensor, seed: number): import("@tensorflow/tfjs").Tensor {
  const [b, h, w] = x.shape as number[];
  return tf.randomNormal([b!, h!, w!, 1], 0, 1, "float32", seed);
}

/** x + n * s (the runtime's rt.addNoise with the noise drawn, the exported layer's arithmetic). */
export function addNoiseOf(tf: typeof import("@tensorflow/tfjs"), x: import("@tensorflow/tfjs").Tensor, strength: import("@tensorflow/tfjs").Tensor, n: import("@tensorflow/tfjs").Tensor): import("@tensorflow/tfjs").Tensor {
  return tf.add(x, tf.mul(n, strength));
}
