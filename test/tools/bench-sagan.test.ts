import * as fs from "node:fs";
import { describe, expect, it } from "vitest";
import { compileText } from "../../src/compile.ts";
import { MODELS, scaleSaganSpec, scaleSpec } from "../../bench/models.ts";

describe("bench sagan and wgan_gp rows", () => {
  const spec = fs.readFileSync("specs/sagan.gan", "utf8");

  it("scales sagan's batch and widths (attention kept), and the scaled spec compiles for both targets", () => {
    const text = scaleSaganSpec(spec, { batch: 4, width: 0.125 });
    expect(text).toContain("mnist_color(batch=4)");
    expect(text).toContain("dense 4*4*32 init=glorot");
    expect(text).toContain("reshape [4, 4, 32]");
    expect(text).toMatch(/GBlock\(32\), GBlock\(32\)\s+# 16x16\n\s+attention init=glorot sn=true\n\s+GBlock\(32\)\n/);
    expect(text).toMatch(/DBlockFirst\(16\)\s+# 16x16\n\s+attention init=glorot sn=true\n\s+DBlockDown\(16\), DBlock\(16\), DBlock\(16\)\n/);
    for (const target of ["tfjs", "pytorch"] as const) {
      const r = compileText(text, "sagan_small.gan", { target });
      expect(r.diagnostics.filter((d) => d.severity === "error")).toEqual([]);
      expect(r.code).toBeTruthy();
    }
    expect(scaleSaganSpec(spec, { batch: 64, width: 1 })).toBe(spec);
    expect(scaleSpec("sagan", spec, { batch: 4, width: 0.125 })).toBe(text);
  });

  it("refuses a width whose channel counts attention cannot take, and a spec it cannot scale", () => {
    expect(() => scaleSaganSpec(spec, { batch: 4, width: 0.1 })).toThrow(/multiples of 8/);
    expect(() => scaleSaganSpec(spec.replace("GBlock(256), GBlock(256) ", "GBlock(256),GBlock(256) "), { batch: 4, width: 0.25 })).toThrow(/changed/);
  });

  it("wgan_gp runs as written (batch 64, no scaling) and has no hand-written tfjs trainer", () => {
    const m = MODELS.find((x) => x.id === "wgan_gp")!;
    expect(m.spec).toBe("specs/wgan_gp.gan");
    expect(m.scale).toBeUndefined();
    expect(m.noHandwritten).toBeTruthy();
    const text = fs.readFileSync(m.spec, "utf8");
    expect(scaleSpec("wgan_gp", text, { batch: 4, width: 0.5 })).toBe(text);
    expect(fs.existsSync(m.pytorch) && fs.existsSync("bench/pytorch/sagan.py")).toBe(true);
  });
});
