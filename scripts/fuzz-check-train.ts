/**
 * Thousands of the checker-vs-runtime cases of test/variants/check-train.test.ts: mutated specs of specs/
 * either get an error from the checker or run one training iteration at batch 2 on cpu without the
 * trainer throwing. Prints a tally and every failure (spec, mutations, text, error).
 *
 *   node bin/run-ts.mjs scripts/fuzz-check-train.ts [--runs 2000] [--seed 1]
 *
 * GANC_FUZZ_SAVE=DIR writes each failing spec there. Results on the 2-core machine: --runs 3000 --seed 7
 * found one crash (max/min of a scalar and a tensor): 1109 trained, 1890 rejected, 1 crashed; after the
 * fix --runs 2000 --seed 11: 740 trained, 1260 rejected, 0 crashed (219 s). With the fix moved into the
 * runtime (Maximum/Minimum gradients that sum over broadcast axes) and the functions in src/functions,
 * --runs 2000 --seed 19: 769 trained, 1231 rejected, 0 crashed (365 s, the machine shared).
 */
import * as fc from "fast-check";
import { checkAndRun } from "../test/variants/run-spec.ts";
import { mutantArb } from "../test/variants/spec-mutations.ts";

const arg = (name: string, dflt: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
};
const runs = arg("runs", 2000);
const seed = arg("seed", 1);
const cases = fc.sample(fc.tuple(mutantArb, fc.boolean(), fc.nat(1000)), { numRuns: runs, seed });
const tally = { trained: 0, diagnostic: 0, crashed: 0 };
const codes = new Map<string, number>();
const failures: string[] = [];
const t0 = Date.now();
for (const [m, optimized, s] of cases) {
  const out = await checkAndRun(m.text, `specs/${m.spec}`, { batch: 2, optimized, seed: s });
  tally[out.kind]++;
  if (out.kind === "diagnostic") {
    const c = out.diagnostics.find((d) => d.severity === "error")?.code ?? "none";
    codes.set(c, (codes.get(c) ?? 0) + 1);
  }
  if (out.kind === "crashed" && process.env.GANC_FUZZ_SAVE) (await import("node:fs")).writeFileSync(`${process.env.GANC_FUZZ_SAVE}/fail-${failures.length}.gan`, m.text);
  if (out.kind === "crashed") failures.push(`--- ${m.spec} after ${m.mutations.join(", ")} (${optimized ? "optimized" : "--no-opt"}): ${out.error}\n${m.text}`);
}
for (const f of failures) console.log(f);
console.log(`${runs} cases in ${((Date.now() - t0) / 1000).toFixed(0)} s: ${tally.trained} trained, ${tally.diagnostic} rejected by the checker, ${tally.crashed} crashed`);
console.log(`first error codes of the rejected: ${[...codes].sort((a, b) => b[1] - a[1]).map(([c, n]) => `${c} ${n}`).join(", ")}`);
process.exit(failures.length ? 1 : 0);
