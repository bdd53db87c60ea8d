import { createRequire } from "node:module";
import * as tf from "@tensorflow/tfjs";
import { describe, expect, it } from "vitest";
import { BackendError, selectBackend } from "../../src/runtime/backend.ts";
import { loadBlas } from "../../src/runtime/kernels/index.ts";

function installed(pkg: string): boolean {
  try {
    createRequire(import.meta.url).resolve(pkg);
    return true;
  } catch {
    return false;
  }
}

const tfjsNodePresent = installed("@tensorflow/tfjs-node") || installed("@tensorflow/tfjs-node-gpu");

/** A conv net step needs Conv2DBackpropFilter, which stock wasm lacks. */
function convGradientWorks(): boolean {
  return tf.tidy(() => {
    const x = tf.randomNormal([2, 8, 8, 3]);
    const f = tf.randomNormal([4, 4, 3, 5]);
    const g = tf.grad((w: tf.Tensor) => tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, 2, "same").square().sum())(f);
    return g.shape.join() === "4,4,3,5" && Number.isFinite(g.sum().dataSync()[0]!);
  });
}

describe("selectBackend", () => {
  it.skipIf(tfjsNodePresent)("auto picks wasm with the training kernels and says why tfjs-node was skipped", async () => {
    const lines: string[] = [];
    const info = await selectBackend("auto", { log: (l) => lines.push(l) });
    expect(info.name).toBe("wasm");
    expect(tf.getBackend()).toBe("wasm");
    expect(info.detail).toMatch(/^wasm \((no )?SIMD, \d+ threads?, ganc training kernels; (matmul\/conv on .+|no native BLAS: .+)\)$/);
    const blas = loadBlas();
    expect(info.detail).toContain(blas.ok ? `matmul/conv on ${blas.blas.name}` : `no native BLAS: ${blas.reason}`);
    expect(info.fallbacks).toHaveLength(2);
    expect(info.fallbacks[0]).toMatch(/^tensorflow-gpu .*@tensorflow\/tfjs-node-gpu is not installed: npm install @tensorflow\/tfjs-node-gpu/);
    expect(info.fallbacks[1]).toMatch(/^tensorflow .*@tensorflow\/tfjs-node is not installed: npm install @tensorflow\/tfjs-node\b/);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(info.detail);
    expect(lines[0]).toContain("tfjs-node is not installed");
    expect(convGradientWorks()).toBe(true);
  });

  it.skipIf(tfjsNodePresent)("forcing tensorflow without tfjs-node throws a BackendError that says how to fix it", async () => {
    const lines: string[] = [];
    const attempt = selectBackend("tensorflow", { log: (l) => lines.push(l) });
    await expect(attempt).rejects.toBeInstanceOf(BackendError);
    await expect(attempt).rejects.toThrow(
      "backend 'tensorflow' is unavailable: @tensorflow/tfjs-node is not installed: npm install @tensorflow/tfjs-node",
    );
    await expect(selectBackend("tensorflow-gpu", { log: (l) => lines.push(l) })).rejects.toThrow(
      /tfjs-node-gpu is not installed: npm install @tensorflow\/tfjs-node-gpu/,
    );
    expect(lines).toEqual([]);
  });

  it("forcing cpu works and trains a conv layer", async () => {
    const lines: string[] = [];
    const info = await selectBackend("cpu", { log: (l) => lines.push(l) });
    expect(info).toEqual({ name: "cpu", detail: "cpu (plain JavaScript, ganc training kernels)", fallbacks: [] });
    expect(tf.getBackend()).toBe("cpu");
    expect(lines).toEqual(["backend: cpu (plain JavaScript, ganc training kernels)"]);
    expect(convGradientWorks()).toBe(true);
  });

  it("forcing wasm works, and switching back and forth is harmless", async () => {
    const info = await selectBackend("wasm", { log: () => {} });
    expect(info.name).toBe("wasm");
    expect(tf.getBackend()).toBe("wasm");
    expect(convGradientWorks()).toBe(true);
    await selectBackend("cpu", { log: () => {} });
    await selectBackend("wasm", { log: () => {} });
    expect(convGradientWorks()).toBe(true);
  });

  it("logs to stderr by default", async () => {
    const written: string[] = [];
    const original = console.error;
    console.error = (...args: unknown[]) => void written.push(args.join(" "));
    try {
      await selectBackend("cpu");
    } finally {
      console.error = original;
    }
    expect(written).toEqual(["backend: cpu (plain JavaScript, ganc training kernels)"]);
  });
});
