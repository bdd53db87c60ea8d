/**
 * The checker against the runtime (issue 19): specs made by mutating every spec in specs/ (nets, taps and
 * operands swapped, noise shapes changed, operators and functions added) either get an error from the
 * checker, or compile and run one training iteration at batch 2 on the cpu backend without the trainer
 * throwing (what `ganc train` reports as an internal error, exit 70). scripts/fuzz-check-train.ts runs
 * thousands of the same cases.
 */
import * as fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import { checkAndRun, removeWork } from "./run-spec.ts";
import { mutantArb, SPECS } from "./spec-mutations.ts";

const RUNS = Number(process.env.GANC_CHECK_TRAIN_RUNS ?? 250);

afterAll(() => removeWork());

describe("a spec that checks clean trains", () => {
  it("every spec of specs/, shrunk, trains one iteration (the mutations start from clean specs)", async () => {
    for (const s of SPECS) {
      const out = await checkAndRun(s.text, `specs/${s.name}`, { batch: 2 });
      expect(out.kind === "crashed" ? `${s.name}: ${out.error}` : out.kind === "diagnostic" ? `${s.name}: ${out.diagnostics.map((d) => d.message).join("; ")}` : out.kind).toBe("trained");
    }
  }, 120_000);

  it(`${RUNS} mutated specs: a diagnostic, or one clean training iteration`, async () => {
    let trained = 0;
    let rejected = 0;
    await fc.assert(
      fc.asyncProperty(mutantArb, fc.boolean(), fc.nat(1000), async (m, optimized, seed) => {
        const out = await checkAndRun(m.text, `specs/${m.spec}`, { batch: 2, optimized, seed });
        if (out.kind === "crashed") throw new Error(`${m.spec} after ${m.mutations.join(", ")} (${optimized ? "optimized" : "--no-opt"}) checks clean but the trainer throws: ${out.error}\n${m.text}`);
        if (out.kind === "diagnostic") {
          expect(out.diagnostics.some((d) => d.severity === "error")).toBe(true);
          rejected++;
        } else trained++;
      }),
      { numRuns: RUNS, seed: Number(process.env.GANC_FUZZ_SEED ?? 19), endOnFailure: true },
    );
    // the mutants reach both sides, so the property says something about each
    expect(trained).toBeGreaterThan(RUNS / 20);
    expect(rejected).toBeGreaterThan(RUNS / 20);
  }, 480_000);
});
