import * as fs from "node:fs";
import * as tf from "@tensorflow/tfjs";
import { describe, expect, it } from "vitest";
import { compileText } from "../../src/compile.ts";
import { scaleSnganSpec } from "../../bench/models.ts";
import { setup } from "../../bench/handwritten/sngan-resnet.ts";

describe("bench sngan_resnet row", () => {
  const spec = fs.readFileSync("specs/sngan_resnet.gan", "utf8");

  it("scales the spec's batch and widths, and the scaled spec compiles", () => {
    const text = scaleSnganSpec(spec, { batch: 4, width: 0.125 });
    expect(text).toContain("mnist_color(batch=4)");
    expect(text).toContain("GBlock(32), GBlock(32), GBlock(32)");
    expect(text).toContain("DBlockFirst(16), DBlockDown(16), DBlock(16), DBlock(16)");
    expect(text).toContain("dense 4*4*32");
    expect(text).toContain("reshape [4, 4, 32]");
    const r = compileText(text, "sngan_small.gan");
    expect(r.diagnostics.filter((d) => d.severity === "error")).toEqual([]);
    expect(r.code).toBeTruthy();
    expect(scaleSnganSpec(spec, { batch: 64, width: 1 })).toBe(spec);
  });

  it("the hand-written trainer runs an iteration without leaking tensors", async () => {
    await tf.setBackend("cpu");
    const images = new Float32Array(8 * 32 * 32 * 3).map((_, i) => (i % 7) / 7);
    const t = await setup(2, { images, width: 1 / 32 });
    t.iterate();
    const before = tf.memory().numTensors;
    t.iterate();
    expect(tf.memory().numTensors).toBe(before);
    const { d, g } = await t.losses();
    expect(Number.isFinite(d) && Number.isFinite(g)).toBe(true);
    t.dispose();
  }, 60_000);
});
