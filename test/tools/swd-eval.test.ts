import * as fs from "node:fs";
import * as path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { selectBackend } from "../../src/runtime/backend.ts";
import { makeMnistColor } from "../../src/data/mnist-color.ts";
import { swdAgainst } from "../../src/runtime/eval/swd.ts";
import { ganc, gancInProcess, readJsonl, tmpDir } from "../helpers.ts";

// Commands run inside the test process (gancInProcess) where the test is about what they compute; the tests of
// exit codes and error messages run the real command line (ganc).
// A 4-iteration run on 300 colored digits (32x32x3) with eval_every=2 on 48 samples.
let run = "";
beforeAll(async () => {
  run = path.join(tmpDir(), "run");
  const r = await gancInProcess(["train", "test/fixtures/mnist-color-swd.gan", "--out", run, "--quiet"]);
  expect(r.code, r.stderr).toBe(0);
}, 240_000);

describe("SWD end to end (mnist_color)", () => {
  it("eval_every logs the SWD mean and one value per pyramid level in metrics.jsonl", () => {
    const rows = readJsonl(path.join(run, "metrics.jsonl")).filter((r) => "swd" in r);
    expect(rows.map((r) => r.step)).toEqual([2, 4]);
    for (const r of rows) {
      expect(r.swd32).toBeGreaterThan(0);
      expect(r.swd16).toBeGreaterThan(0);
      expect(r.swd).toBeCloseTo((r.swd32! + r.swd16!) / 2, 2);
    }
  });

  it("ganc eval picks SWD for non-MNIST images, prints it x 1e3, keeps it in eval.json; equal to SWD computed here from ganc sample's values", async () => {
    const r = await gancInProcess(["eval", run, "-n", "48", "--json"]);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.metrics.kind).toBe("swd");
    expect(out.metrics.samples).toBe(48);
    expect(out.metrics.scale).toBe(1000);
    expect(out.metrics.levels.map((l: { resolution: number[] }) => l.resolution)).toEqual([[32, 32], [16, 16]]);
    expect(JSON.parse(fs.readFileSync(path.join(run, "eval.json"), "utf8"))).toEqual(out);

    // The same samples (ganc sample draws them the way ganc eval does) against the same real images.
    const json = path.join(run, "s.json");
    expect((await gancInProcess(["sample", run, "-n", "48", "-o", json])).code).toBe(0);
    const s = JSON.parse(fs.readFileSync(json, "utf8")) as { range: [number, number]; data: number[] };
    const { bytes, labels, count } = makeMnistColor(300);
    const ds = { name: "mnist-color", shape: [32, 32, 3], count, x: Float32Array.from(bytes, (v) => v / 255), labels, numClasses: 10 };
    const seed = JSON.parse(fs.readFileSync(path.join(run, "settings.json"), "utf8")).seed as number;
    await selectBackend("auto", { log: () => {} });
    const here = swdAgainst(ds, Float32Array.from(s.data), s.range, seed);
    // sample -o json rounds values to 1e-6
    expect(Math.abs(here.mean - out.metrics.mean) / out.metrics.mean).toBeLessThan(1e-3);

    const t = await gancInProcess(["eval", run, "-n", "48", "--quiet"]);
    expect(t.stdout).toContain("SWD x 1e3:");
    expect(t.stdout).toMatch(/32x32: +\d+\.\d\d/);
    const rep = await gancInProcess(["report", run, "-o", path.join(run, "r.html"), "--quiet"]);
    expect(rep.code, rep.stderr).toBe(0);
    expect(fs.readFileSync(path.join(run, "r.html"), "utf8")).toContain("SWD x 1e3 at 16x16");
  }, 240_000);

  it("--metric classifier on non-MNIST images explains why there are no metrics; a bad --metric is a usage error", () => {
    const r = ganc(["eval", run, "-n", "8", "--metric", "classifier", "--quiet"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("the classifier knows 28x28 MNIST digits only (--metric swd scores any images)");
    const bad = ganc(["eval", run, "--metric", "fid"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("fid");
  }, 240_000);
});
