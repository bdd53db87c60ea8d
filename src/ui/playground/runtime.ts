/**
 * The page's `ganc/runtime`: what a generated trainer imports, from the same modules the command line's
 * runtime exports (src/runtime/index.ts), with the run loop (Run) replaced by the page's (run.ts), which
 * keeps the data, noise, initialisation, optimizers and kernels of the Node one and puts files, logs and
 * checkpoints in the page instead of on disk.
 */
import { FusedNet } from "../../runtime/fused/net.ts";

export * from "../../runtime/ops.ts";
export { avgPool, upsampleBilinear } from "../../runtime/resample.ts";
export { Rng } from "../../runtime/rng.ts";
export { TrainingError, type Batch, type SpecInfo, type Init } from "../../runtime/run-spec.ts";
export { oneHot, toyModes } from "../../runtime/data.ts";
export { PageRun as Run } from "./run.ts";

/** The fused nets a trainer builds, by net name: the 2-D view evaluates D over the plane with them. */
export const fusedNets = new Map<string, FusedNet>();

class TrackedFusedNet extends FusedNet {
  constructor(...args: ConstructorParameters<typeof FusedNet>) {
    super(...args);
    fusedNets.set(args[0], this);
  }
}

import * as fusedAll from "../../runtime/fused/index.ts";
export const fused = { ...fusedAll, FusedNet: TrackedFusedNet };

/** A trainer run as a program calls this; in the page the playground calls main() itself. */
export function runIfMain(): void {}
