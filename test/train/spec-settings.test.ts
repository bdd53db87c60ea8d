import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { listCheckpoints, loadCheckpoint } from "../../src/runtime/checkpoint.ts";
import { readEvents } from "../tb-reader.ts";
import { gancInProcess, readJsonl, tmpDir } from "../helpers.ts";

/** A copy of a fixture with its `train { ... }` replaced. */
function withTrain(dir: string, fixture: string, train: string, data?: [string, string]): string {
  let text = fs.readFileSync(fixture, "utf8").replace(/^train \{.*\}$/m, `train { ${train} }`);
  if (data) text = text.replace(data[0], data[1]);
  const file = path.join(dir, `${path.basename(fixture, ".gan")}-${Math.random().toString(36).slice(2)}.gan`);
  fs.writeFileSync(file, text);
  return file;
}

const pngSize = (file: string) => {
  const png = fs.readFileSync(file);
  return [png.readUInt32BE(16), png.readUInt32BE(20)];
};

// The commands run inside the test process (gancInProcess): the tests are about what the runs write.
describe("every train setting goes from the spec to the run (no flags given)", () => {
  it("steps, seed, log/sample/checkpoint/histogram/eval cadences, keep_checkpoints, eval_count (ring8)", async () => {
    const dir = tmpDir();
    const spec = withTrain(dir, "test/fixtures/ring8.gan", "steps=12, seed=5, sample_every=4, checkpoint_every=3, keep_checkpoints=2, log_every=6, histogram_every=6, eval_every=5, eval_count=50");
    const out = path.join(dir, "run");
    const r = await gancInProcess(["train", spec, "--out", out]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain("12 iterations, evaluating every 5 on 50 samples;");
    const rows = readJsonl(path.join(out, "metrics.jsonl"));
    // Rows at each log (6, 12), checkpoint (3, 9: values are checked before weights are saved) and evaluation (5, 10, last).
    expect(rows.map((m) => m.step)).toEqual([3, 5, 6, 9, 10, 12]);
    expect(rows.filter((m) => "modesCovered" in m).map((m) => m.step)).toEqual([5, 10, 12]);
    expect(fs.readdirSync(path.join(out, "samples")).filter((f) => f.startsWith("step-")).sort()).toEqual(["step-0000004.png", "step-0000008.png", "step-0000012.png"]);
    const cks = listCheckpoints(path.join(out, "checkpoints"));
    expect(cks.map((c) => c.step)).toEqual([9, 12]);
    expect(loadCheckpoint(cks.at(-1)!.file).meta.seed).toBe(5);
    const tb = fs.readdirSync(path.join(out, "tb"))[0]!;
    const histSteps = readEvents(path.join(out, "tb", tb)).filter((e) => e.values.some((v) => v.tag === "weights/G/dense1/kernel")).map((e) => e.step);
    expect(histSteps).toEqual([6, 12]);
    // The spec's seed is the run's: the same weights as the default seed overridden by --seed 5.
    const plain = withTrain(dir, "test/fixtures/ring8.gan", "steps=12, checkpoint_every=12, log_every=6");
    const out2 = path.join(dir, "run2");
    expect((await gancInProcess(["train", plain, "--out", out2, "--seed", "5", "--quiet"])).code).toBe(0);
    const a = loadCheckpoint(cks.at(-1)!.file).tensors.find((t) => t.name === "var:G/dense1/kernel")!;
    const b = loadCheckpoint(listCheckpoints(path.join(out2, "checkpoints")).at(-1)!.file).tensors.find((t) => t.name === "var:G/dense1/kernel")!;
    expect(Buffer.from(a.data.buffer).equals(Buffer.from(b.data.buffer))).toBe(true);
  }, 180_000);

  it("epochs and sample_count (images)", async () => {
    const dir = tmpDir();
    const one = withTrain(dir, "test/fixtures/mlp-mnist.gan", "epochs=2, sample_count=4, log_every=1", ["mnist(batch=64)", "mnist(batch=64, limit=128)"]);
    const out = path.join(dir, "run");
    const r = await gancInProcess(["train", one, "--out", out, "--quiet"]);
    expect(r.code, r.stderr).toBe(0);
    expect(readJsonl(path.join(out, "metrics.jsonl")).map((m) => [m.step, m.epoch])).toEqual([[1, 0], [2, 1], [3, 1], [4, 2]]);
    const many = withTrain(dir, "test/fixtures/mlp-mnist.gan", "epochs=2, sample_count=16, log_every=1", ["mnist(batch=64)", "mnist(batch=64, limit=128)"]);
    const out2 = path.join(dir, "run2");
    expect((await gancInProcess(["train", many, "--out", out2, "--quiet"])).code).toBe(0);
    // A grid of 4 images is smaller than one of 16.
    const [w4, h4] = pngSize(path.join(out, "samples", "latest.png"));
    const [w16, h16] = pngSize(path.join(out2, "samples", "latest.png"));
    expect(w4! * h4!).toBeLessThan(w16! * h16!);
  }, 180_000);
});
