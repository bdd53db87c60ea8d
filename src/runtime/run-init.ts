import type { Rng } from "./rng.ts";
import type { Init } from "./run-spec.ts";

/** Initial values of a variable, drawn from the run's seeded generator. */
export function initValues(rng: Rng, shape: number[], init: Init): Float32Array {
  const size = shape.reduce((a, b) => a * b, 1);
  const out = new Float32Array(size);
  switch (init.kind) {
    case "zeros":
      return out;
    case "ones":
      return out.fill(1);
    case "normal":
      return rng.fillNormal(out, init.mean, init.std);
    case "truncated_normal":
      return rng.fillTruncatedNormal(out, init.mean, init.std);
    case "uniform":
      return rng.fillUniform(out, init.low, init.high);
    case "glorot": {
      // fan_in / fan_out as Keras computes them: receptive field times channels.
      const rf = shape.slice(0, -2).reduce((a, b) => a * b, 1);
      const fanIn = (shape[shape.length - 2] ?? 1) * rf;
      const fanOut = (shape[shape.length - 1] ?? 1) * rf;
      const lim = Math.sqrt(6 / (fanIn + fanOut));
      return rng.fillUniform(out, -lim, lim);
    }
  }
}
