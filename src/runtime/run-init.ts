import { drawInit } from "../layers/weights.ts";
import type { Rng } from "./rng.ts";
import type { Init } from "./run-spec.ts";

/** Initial values of a variable, drawn from the run's seeded generator (each initializer in layers/weights.ts). */
export function initValues(rng: Rng, shape: number[], init: Init): Float32Array {
  return drawInit(rng, shape, init);
}
