import { TrainingError } from "../runtime/run-spec.ts";
import type { LayerModule } from "./layer.ts";

export interface MinibatchStddevIR {
  readonly op: "minibatch_stddev";
  /** Samples per group (at most the batch; the batch must be a multiple of it). */
  readonly group: number;
  /** Feature maps appended: the channels are split into this many groups, each giving one map. */
  readonly features: number;
}

/**
 * StyleGAN2's minibatch standard deviation (Karras et al. 2020, `minibatch_stddev_layer`): the batch is split
 * into groups of `group` samples (sample i in group i mod (batch / group)), the standard deviation over each
 * group is taken per feature (with 1e-8 under the square root), averaged over the pixels and the channels of
 * each of `features` channel groups, and appended as `features` constant maps.
 */
export const minibatch_stddev: LayerModule<MinibatchStddevIR> = {
  kind: "minibatch_stddev",
  doc: "StyleGAN2's minibatch standard deviation: the std over groups of samples, averaged, appended as feature maps",
  params: { group: "samples per group (default 4; the batch must be a multiple of it when larger)", features: "feature maps appended (default 1); the channels must be a multiple of it" },
  aliases: ["mbstd"],
  prefix: "mbstd",
  range: null,

  check({ r, shape, fail }) {
    const group = r.posInt("group", 4)!;
    const features = r.posInt("features", 1)!;
    if (shape.length !== 3) return fail(`minibatch_stddev needs an image input [height, width, channels] per sample, got [${shape.join(", ")}]; add 'reshape' before it`);
    const c = shape[2]!;
    if (c % features !== 0) return fail(`minibatch_stddev splits the ${c} channels into features=${features} groups, but ${c} is not a multiple of ${features}`);
    return { layer: { op: "minibatch_stddev", group, features }, out: [shape[0]!, shape[1]!, c + features] };
  },

  resolved: (l, { num }) => [["group", num(l.group)], ["features", num(l.features)]],
  code: (l) => `h = rt.minibatchStddev(h as tf.Tensor4D, ${l.group}, ${l.features});`,
  // no fused form: a net with it runs layer by layer (the samples of a group meet in it)
  fused: null,

  // No Keras layer: it mixes the samples of a batch, which no built-in layer does, and a custom class would
  // not load in plain tfjs. It belongs in discriminators, which `ganc export` does not write.
  export: (_l, { fail }) => fail("minibatch_stddev has no Keras layer (it mixes the samples of a batch); export a generator without it"),
};

/** The layer's arithmetic on tensors of any tfjs build (the runtime's rt.minibatchStddev). */
export function minibatchStddevOf(tf: typeof import("@tensorflow/tfjs"), x: import("@tensorflow/tfjs").Tensor4D, group: number, features: number): import("@tensorflow/tfjs").Tensor4D {
  return tf.tidy(() => {
    const [n, h, w, c] = x.shape;
    const g = Math.min(group, n);
    if (n % g !== 0) throw new TrainingError(`minibatch_stddev: the batch of ${n} is not a multiple of its group of ${g}; choose a batch size that is (--batch), or group=${gcd(n, g)}`);
    const m = n / g;
    const y = tf.reshape(x, [g, m, h, w, features, c / features]);
    const centred = tf.sub(y, tf.mean(y, 0, true));
    const std = tf.sqrt(tf.add(tf.mean(tf.square(centred), 0), 1e-8)); // [m, h, w, F, c/F]
    const s = tf.mean(std, [1, 2, 4]); // [m, F]
    const maps = tf.tile(tf.reshape(s, [1, m, 1, 1, features]), [g, 1, h, w, 1]); // sample i: group i mod m
    return tf.concat([x, tf.reshape(maps, [n, h, w, features])], 3) as import("@tensorflow/tfjs").Tensor4D;
  });
}

const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));
