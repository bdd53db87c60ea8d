/**
 * Issue 19's valid specs: a per-sample [1] noise broadcast over an image (WGAN-GP's interpolation) and a
 * net used in arithmetic without `.out` (a residual) check clean and run a training iteration on cpu,
 * with and without the optimization passes.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ROOT } from "../helpers.ts";
import { checkAndRun, removeWork } from "./run-spec.ts";

afterAll(() => removeWork());

const cases = ["wgan-gp-eps1", "residual-expr"];

describe("expression types: valid specs train", () => {
  for (const name of cases) {
    for (const optimized of [true, false]) {
      it(`${name} (${optimized ? "optimized" : "--no-opt"})`, async () => {
        const file = `test/fixtures/${name}.gan`;
        const out = await checkAndRun(fs.readFileSync(path.join(ROOT, file), "utf8"), file, { batch: 2, optimized });
        expect(out.kind === "crashed" ? out.error : out.kind).toBe("trained");
        if (out.kind !== "trained") return;
        for (const [k, v] of Object.entries(out.values)) expect(Number.isFinite(v), k).toBe(true);
        expect(Object.keys(out.values)).toContain("d");
      }, 60_000);
    }
  }
});

describe("max and min of operands of different shapes train (the runtime's Maximum/Minimum gradients reduce broadcast axes)", () => {
  for (const fn of ["min", "max"]) {
    for (const optimized of [true, false]) {
      it(`${fn}(d_real, D(fake).logit) (${optimized ? "optimized" : "--no-opt"})`, async () => {
        const text = fs.readFileSync(path.join(ROOT, "test/fixtures/residual-expr.gan"), "utf8").replace("loss d = ", `loss d_real = bce_logits(D(real).logit, ones)\nloss d = -mean(${fn}(d_real, D(fake).logit)) + `);
        expect(text).toContain(`${fn}(d_real`);
        const out = await checkAndRun(text, "specs/minmax.gan", { batch: 2, optimized });
        expect(out.kind === "crashed" ? out.error : out.kind === "diagnostic" ? out.diagnostics.map((d) => d.message).join("; ") : out.kind).toBe("trained");
      }, 60_000);
    }
  }
  // a per-sample [1] value against images, on the path to both nets' weights
  for (const fn of ["min", "max"]) {
    for (const optimized of [true, false]) {
      it(`${fn}(D(fake).logit, fake): a [batch, 1] logit against [batch, 28, 28, 1] images (${optimized ? "optimized" : "--no-opt"})`, async () => {
        const text = fs.readFileSync(path.join(ROOT, "test/fixtures/wgan-gp-eps1.gan"), "utf8").replace("loss g = -mean(D(fake).logit)", `loss g = -mean(${fn}(D(fake).logit, fake))`);
        expect(text).toContain(`${fn}(D(fake).logit, fake)`);
        const out = await checkAndRun(text, "specs/minmax-eps.gan", { batch: 2, optimized });
        expect(out.kind === "crashed" ? out.error : out.kind === "diagnostic" ? out.diagnostics.map((d) => d.message).join("; ") : out.kind).toBe("trained");
        if (out.kind === "trained") for (const [k, v] of Object.entries(out.values)) expect(Number.isFinite(v), k).toBe(true);
      }, 60_000);
    }
  }
});
