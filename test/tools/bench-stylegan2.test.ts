import * as fs from "node:fs";
import { describe, expect, it } from "vitest";
import { compileText } from "../../src/compile.ts";
import { scaleStylegan2Spec } from "../../bench/models.ts";

describe("bench/stylegan2-lite.ts's scaling of specs/stylegan2_lite.gan", () => {
  const spec = fs.readFileSync("specs/stylegan2_lite.gan", "utf8");

  it("scales every width, z and w, and the batch; the scaled spec compiles; width 1 at batch 32 is the spec itself", () => {
    const text = scaleStylegan2Spec(spec, { width: 0.25, batch: 16 });
    for (const s of ["mnist_color(batch=16)", "normal(0, 1, [32])", "const [4, 4, 32]", "modconv(32, 3, w0)", "modconv(16, 3, w3)", "modconv(8, 3, w6)", "modconv(3, 1, w7, demod=false)", "dense 32 lr_mul=0.01", "conv 8 kernel=1", "DBlock(8, 16)", "DBlock(16, 32)", "DBlock(32, 32)", "conv 32 kernel=3", "dense 32 equalized=true", "dense 1 equalized=true", "every(16, d_reg"]) expect(text).toContain(s);
    const r = compileText(text, "stylegan2_small.gan");
    expect(r.diagnostics.filter((d) => d.severity === "error")).toEqual([]);
    expect(r.code).toBeTruthy();
    expect(scaleStylegan2Spec(spec, { width: 1, batch: 32 })).toBe(spec);
    expect(scaleStylegan2Spec(spec, { width: 1 / 16, batch: 8, limit: 64, every: 4 })).toContain("mnist_color(batch=8, limit=64)");
  });

  it("refuses a spec whose widths it no longer finds", () => {
    expect(() => scaleStylegan2Spec(spec.replace(/modconv\(/g, "modulated_conv("), { width: 0.5, batch: 32 })).toThrow(/update the replacements/);
  });
});
