/*
 * The names of the optimization passes and which ones a `--no-opt` flag leaves on. Kept apart from the
 * passes themselves (opt.ts) so the command line can list them without loading the compiler.
 */

export const OPT_PASSES = {
  "fused-adam": "Adam updates over all variables of a step at once: one flat buffer per group (rt.FusedAdam), bit for bit tf.train.adam",
  "fused-nets": "each application of a network in a training step is one op with its backward pass written out, computing only the gradients the step needs",
  "fused-batchnorm": "batch norm in training mode in those ops: rt.batchNorm's forward kernels, a 13-kernel backward, all moving averages of a pass in one update; a bias right before it gets its exact gradient, zero (needs fused-nets)",
  "fused-activation": "an activation right after a biased dense or conv layer, or a batch norm, runs in the same op (a relu inside batch norm's own kernel on wasm; needs fused-nets)",
  "hoist": "values no gradient of a step flows through are computed before its gradient tape; number constants are made once",
  "reuse-forward": "a forward pass that a later step of the same iteration would repeat with the same weights and inputs is recorded once and differentiated there (needs fused-nets)",
  "loss-forms": "bce_logits, mse and l1 against a constant target are one op each with their closed-form gradient",
} as const;

export type OptPass = keyof typeof OPT_PASSES;
export type OptSet = ReadonlySet<OptPass>;

const NEEDS: Partial<Record<OptPass, OptPass>> = { "fused-batchnorm": "fused-nets", "fused-activation": "fused-nets", "reuse-forward": "fused-nets" };

export const ALL_PASSES: OptSet = new Set(Object.keys(OPT_PASSES) as OptPass[]);
export const NO_PASSES: OptSet = new Set();

/**
 * The passes left on by `--no-opt` (all off), `--no-opt=a,b` (those off) or nothing (all on). Unknown
 * names throw, naming the known ones.
 */
export function resolvePasses(off: boolean | string | undefined | readonly string[]): OptSet {
  if (off === true) return NO_PASSES;
  const names = off === undefined || off === false ? [] : typeof off === "string" ? off.split(",") : [...off];
  const offSet = new Set<string>();
  for (const raw of names) {
    const n = raw.trim();
    if (n === "") continue;
    if (n === "all") return NO_PASSES;
    if (!(n in OPT_PASSES)) throw new Error(`unknown optimization pass '${n}' (known: ${Object.keys(OPT_PASSES).join(", ")})`);
    offSet.add(n);
  }
  const on = new Set<OptPass>();
  for (const p of Object.keys(OPT_PASSES) as OptPass[]) if (!offSet.has(p)) on.add(p);
  for (const [p, need] of Object.entries(NEEDS) as [OptPass, OptPass][]) if (!on.has(need)) on.delete(p);
  return on;
}
