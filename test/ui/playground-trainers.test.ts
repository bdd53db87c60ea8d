import * as fs from "node:fs";
import * as path from "node:path";
import * as tf from "@tensorflow/tfjs";
import { describe, expect, it } from "vitest";
import { embeddedDigits, playgroundSpecs } from "../../scripts/build-playground.mjs";
import { compileText } from "../../src/compile.ts";
import { embeddedMnistFrom, loadEmbeddedMnist, toyDataset } from "../../src/runtime/data.ts";
import { decodeDigits } from "../../src/ui/playground/digits.ts";
import { PageRun } from "../../src/ui/playground/run.ts";
import { loadTrainer } from "../../src/ui/playground/trainer-module.ts";
import { ROOT } from "../helpers.ts";

/**
 * Every spec the playground offers compiles and its trainer loads the way the page loads it (sucrase strips
 * the types, the page's runtime stands behind `ganc/runtime`); and PageRun drives one (a few iterations of
 * ring8 on cpu here, the browser test does the rest) with pause-free host calls and a checkpoint payload.
 */
describe("the playground's trainers", () => {
  const specs = playgroundSpecs(ROOT);

  it.each(specs.map((s) => [s.name, s.text]))("%s compiles and its trainer loads in the page's form", (name, text) => {
    const r = compileText(text, `specs/${name}`, { source: `specs/${name}` });
    expect(r.diagnostics.filter((d) => d.severity === "error")).toEqual([]);
    const mod = loadTrainer(r.code!);
    expect(typeof mod.main).toBe("function");
    expect(mod.SPEC.source).toBe(`specs/${name}`);
    expect(mod.SPEC.name).toBe(r.program!.name);
  });

  it("PageRun trains ring8 a few iterations on cpu: values every iteration, stops when asked, and a checkpoint payload", async () => {
    await tf.setBackend("cpu");
    const text = fs.readFileSync(path.join(ROOT, "specs/ring8.gan"), "utf8");
    const mod = loadTrainer(compileText(text, "specs/ring8.gan").code!);
    const seen: Record<string, number>[] = [];
    let ready: PageRun | null = null;
    PageRun.host = {
      dataset: toyDataset("ring8", 10000, 1),
      seed: 1,
      steps: 5,
      backend: "cpu",
      ready: (r) => void (ready = r),
      iteration: async (_r, step, values) => {
        seen.push({ step, ...values });
        return step === 3 ? "stop" : "go";
      },
    };
    try {
      expect(await mod.main([])).toBe(130); // stopped before its 5 iterations
      expect(seen.map((v) => v.step)).toEqual([1, 2, 3]);
      expect(Object.keys(seen[0]!).sort()).toEqual(["d", "d_fake", "d_real", "g", "step"]);
      const run = ready! as PageRun;
      run.setLearningRate("g", 0.25);
      expect(PageRun.lr(run.optimizers.get("g")!)).toBe(0.25);
      const p = await run.checkpointPayload();
      expect(p.meta).toMatchObject({ spec: "ring8", step: 3, backend: "cpu", batch: 128, seed: 1, optimizers: { d: expect.any(Array), g: expect.any(Array) } });
      expect(p.tensors.map((t) => t.name)).toContain("var:G/dense1/kernel");
      run.dispose();
    } finally {
      PageRun.host = null;
      tf.disposeVariables();
    }
  }, 120_000);

  it("the page's embedded digits (mnist-digits.bin) are the command line's, value for value and in the same order", () => {
    const bytes = embeddedDigits(ROOT);
    expect(bytes.length).toBeLessThan(9e6);
    const page = embeddedMnistFrom(decodeDigits(new Uint8Array(bytes)));
    const node = loadEmbeddedMnist();
    expect(page.count).toBe(node.count);
    expect(Buffer.from(page.x.buffer).equals(Buffer.from(node.x.buffer))).toBe(true);
    expect(Array.from(page.labels!)).toEqual(Array.from(node.labels!));
    expect(() => decodeDigits(new Uint8Array(16))).toThrow(/not a digits file/);
  }, 60_000);
});
