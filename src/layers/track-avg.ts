import { ident, num } from "../codegen/writer.ts";
import { fmt, type LayerModule } from "./layer.ts";

export interface TrackAvgIR {
  readonly op: "track_avg";
  readonly decay: number;
  /** The running average, a non-trainable variable `<net>/<layer>/avg` (checkpointed, exported as metadata). */
  readonly avg: string;
}

/**
 * The identity, keeping a running average of the vectors that pass through it: StyleGAN's w_avg at the end
 * of the mapping network (Karras et al. 2019/2020, `dlatent_avg` with beta 0.995), which the truncation trick
 * (`truncate(M(z))`) pulls samples toward. Every training pass of the net updates it from the batch mean,
 * avg <- decay * avg + (1 - decay) * mean(w), cut off the gradient tape like batch norm's moving averages;
 * sampling and `after` passes leave it alone. It starts at zero, as StyleGAN's does.
 */
export const track_avg: LayerModule<TrackAvgIR> = {
  kind: "track_avg",
  doc: "the identity, keeping the running average of its vectors (StyleGAN's w_avg, for truncate()): avg <- decay avg + (1 - decay) batch mean on every training pass",
  params: { decay: "the running average's decay per training pass, in [0, 1) (default 0.995, StyleGAN's)" },
  range: "through",

  check({ r, shape, fail, variable }) {
    const decay = r.number("decay", 0.995, (x) => (x >= 0 && x < 1 ? null : "must be in [0, 1)"));
    if (shape.length !== 1) return fail(`track_avg averages a vector per sample (a mapping network's w), got ${fmt(shape)}; add 'flatten' before it`);
    const avg = variable("avg", [shape[0]!], { kind: "zeros" }, false);
    return { layer: { op: "track_avg", decay, avg }, out: shape };
  },

  resolved: (l, { num }) => [["decay", num(l.decay)]],
  code: (l) => `h = rt.trackAverage(h, ${ident(l.avg)}, ${num(l.decay)}, mode);`,
  // No fused form: the fused nets have no state updates of this kind (the net runs layer by layer).
  fused: null,

  // The identity at inference: the average goes into the export's metadata when truncate() uses it.
  export: () => null,
};
