import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { loadEmbeddedMnist } from "../../src/runtime/data.ts";
import { loadCheckpoint, listCheckpoints } from "../../src/runtime/checkpoint.ts";
import { ganc, gancInProcess, readJsonl, tmpDir } from "../helpers.ts";

/** Samples written by `ganc sample -o x.json`. */
function readSamples(file: string): { shape: number[]; data: number[] } {
  return JSON.parse(fs.readFileSync(file, "utf8"));
}

/** Fraction of pixels below 0.1 (MNIST is mostly background) and the mean image. */
function pixelStats(data: ArrayLike<number>, n: number) {
  const per = data.length / n;
  let dark = 0;
  const mean = new Float64Array(per);
  for (let i = 0; i < data.length; i++) {
    if (data[i]! < 0.1) dark++;
    mean[i % per]! += data[i]! / n;
  }
  return { dark: dark / data.length, mean };
}

const dist = (a: Float64Array, b: Float64Array) => Math.sqrt(a.reduce((s, v, i) => s + (v - b[i]!) ** 2, 0));

// Commands run inside the test process (gancInProcess) where the test is about what they compute; the tests of
// exit codes and error messages run the real command line (ganc).
describe("training", () => {
  it("an MLP GAN on embedded MNIST moves its samples from noise toward digits", async () => {
    const out = tmpDir();
    const spec = "test/fixtures/mlp-mnist.gan";
    // One iteration: samples are still what the initial weights make.
    let r = await gancInProcess(["train", spec, "--out", out, "--steps", "1", "--quiet"]);
    expect(r.code, r.stderr).toBe(0);
    expect((await gancInProcess(["sample", out, "-n", "256", "-o", path.join(out, "before.json")])).code).toBe(0);
    // The run's length is one of its stored settings: extend it explicitly (the spec's 600).
    r = await gancInProcess(["train", spec, "--out", out, "--resume", "--steps", "600", "--quiet"]);
    expect(r.code, r.stderr).toBe(0);
    expect((await gancInProcess(["sample", out, "-n", "256", "-o", path.join(out, "after.json")])).code).toBe(0);

    const metrics = readJsonl(path.join(out, "metrics.jsonl"));
    expect(metrics[metrics.length - 1]!.step).toBe(600);
    for (const m of metrics) expect(Number.isFinite(m.d) && Number.isFinite(m.g)).toBe(true);

    const real = loadEmbeddedMnist();
    const realStats = pixelStats(real.x.subarray(0, 256 * 784), 256);
    const before = pixelStats(readSamples(path.join(out, "before.json")).data, 256);
    const after = pixelStats(readSamples(path.join(out, "after.json")).data, 256);
    // Untrained sigmoid outputs sit near 0.5: almost no background. Trained ones have MNIST's dark background
    // and its mean image.
    expect(Math.abs(after.dark - realStats.dark)).toBeLessThan(0.5 * Math.abs(before.dark - realStats.dark));
    expect(dist(after.mean, realStats.mean)).toBeLessThan(0.5 * dist(before.mean, realStats.mean));
    // A real PNG grid was written.
    const png = fs.readFileSync(path.join(out, "samples", "latest.png"));
    expect(png.subarray(1, 4).toString()).toBe("PNG");
  }, 240_000);

  // The ring-of-8 mode-coverage test (three seeds of 4,000 iterations, BLAS on and off) is in
  // ring8-modes-blas.test.ts and ring8-modes-wasm.test.ts, one file each, so that vitest's two workers share it.

  it("tensor count stays flat across iterations (no leak)", async () => {
    const out = tmpDir();
    const r = await gancInProcess(["train", "test/fixtures/mlp-mnist.gan", "--out", out, "--steps", "120", "--quiet"]);
    expect(r.code, r.stderr).toBe(0);
    const counts = readJsonl(path.join(out, "metrics.jsonl")).map((m) => m.tensors);
    expect(counts.length).toBe(12);
    expect(new Set(counts.slice(1)).size, `tensor counts: ${counts}`).toBe(1);
  }, 120_000);
});

describe("checkpoints and resume", () => {
  it("N steps equal N/2 steps + resume (seed not repeated: the run folder keeps it) + N/2 steps, weights and optimizer moments bit for bit", async () => {
    const a = tmpDir();
    const b = tmpDir();
    const spec = "test/fixtures/mlp-mnist.gan";
    expect((await gancInProcess(["train", spec, "--out", a, "--steps", "40", "--seed", "7", "--quiet"])).code).toBe(0);
    expect((await gancInProcess(["train", spec, "--out", b, "--steps", "20", "--seed", "7", "--quiet"])).code).toBe(0);
    const r = await gancInProcess(["train", spec, "--out", b, "--steps", "40", "--resume"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain("resumed from");
    const last = (dir: string) => listCheckpoints(path.join(dir, "checkpoints")).pop()!;
    expect(last(a).step).toBe(40);
    expect(last(b).step).toBe(40);
    const ca = loadCheckpoint(last(a).file);
    const cb = loadCheckpoint(last(b).file);
    expect(cb.meta.step).toBe(40);
    expect(cb.tensors.map((t) => t.name)).toEqual(ca.tensors.map((t) => t.name));
    expect(ca.tensors.some((t) => t.name.startsWith("opt:d:"))).toBe(true);
    for (let i = 0; i < ca.tensors.length; i++) {
      expect(Buffer.from(cb.tensors[i]!.data.buffer).equals(Buffer.from(ca.tensors[i]!.data.buffer)), ca.tensors[i]!.name).toBe(true);
    }
  }, 180_000);

  it("a run that restores a checkpoint (sampling, --resume) does not draw its variables' initial values; a new run does", async () => {
    // begin() assigns every variable from the checkpoint before anything reads one (or the run fails), so
    // the draws would be thrown away: the seed GAN's 6.6M values took a third of a second of `ganc sample`.
    const out = tmpDir();
    expect((await gancInProcess(["train", "test/fixtures/mlp-mnist.gan", "--out", out, "--steps", "2", "--quiet"])).code).toBe(0);
    const { forThisProcess, importExec, trainerFile } = await import("../../src/tools/runfolder.ts");
    const { SPEC } = await importExec(forThisProcess(fs.readFileSync(trainerFile(out), "utf8")), out);
    const { Run } = await import("../../src/runtime/session.ts");
    let probes = 0;
    const drawn = async (argv: string[]) => {
      const run = await Run.start(SPEC, [...argv, "--quiet"]);
      const v = run.variable(`probe${probes++}`, [256], { kind: "normal", mean: 0, std: 1 });
      const nonzero = Array.from(v.dataSync()).filter((x) => x !== 0).length;
      v.dispose();
      return nonzero;
    };
    expect(await drawn(["--out", out, "--sample-to", path.join(out, "s.json")])).toBe(0);
    expect(await drawn(["--out", out, "--resume"])).toBe(0);
    expect(await drawn(["--out", tmpDir()])).toBe(256);
  }, 120_000);

  it("a corrupt checkpoint is reported and resume falls back to the previous good one", async () => {
    const out = tmpDir();
    // the run to corrupt is made inside the test process; the resumes that report it are the command line's
    expect((await gancInProcess(["train", "test/fixtures/mlp-mnist.gan", "--out", out, "--steps", "100", "--quiet"])).code).toBe(0);
    const cks = listCheckpoints(path.join(out, "checkpoints"));
    expect(cks.map((c) => c.step)).toEqual([50, 100]);
    const f = cks[1]!.file;
    const bytes = fs.readFileSync(f);
    bytes[bytes.length >> 1] ^= 0xff;
    fs.writeFileSync(f, bytes);
    const r = ganc(["train", "test/fixtures/mlp-mnist.gan", "--out", out, "--steps", "110", "--resume"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/skipping checkpoint .*ckpt-00000100/);
    expect(r.stderr).toContain("at iteration 50");
    // With every checkpoint corrupt: a clear error, no stack trace.
    for (const c of listCheckpoints(path.join(out, "checkpoints"))) fs.writeFileSync(c.file, "garbage");
    const bad = ganc(["train", "test/fixtures/mlp-mnist.gan", "--out", out, "--resume"]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^error: .*checkpoint/m);
    expect(bad.stderr).not.toMatch(/\n\s+at /);
  }, 180_000);

  it("a NaN loss stops training with the loss and iteration named, keeping the last good checkpoint", () => {
    const dir = tmpDir();
    const spec = path.join(dir, "nan.gan");
    const text = fs.readFileSync("test/fixtures/mlp-mnist.gan", "utf8").replace(
      "loss g = bce_logits(D(fake).logit, ones)",
      "loss g = bce_logits(D(fake).logit, ones) + sqrt(mean(D(fake).logit) - 1000)",
    );
    fs.writeFileSync(spec, text);
    const out = path.join(dir, "run");
    const r = ganc(["train", spec, "--out", out, "--steps", "30"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/error: loss 'g' is NaN at iteration 1: training stopped/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(fs.existsSync(path.join(out, "checkpoints")) ? fs.readdirSync(path.join(out, "checkpoints")) : []).toEqual([]);
  }, 120_000);
});

describe("exponential moving average of G's weights", () => {
  it("updates the average after each iteration by its rule and checkpoints it (for the sampled net only)", async () => {
    const out = tmpDir();
    const spec = "test/fixtures/mlp-ema.gan";
    expect((await gancInProcess(["train", spec, "--out", out, "--steps", "1", "--quiet"])).code).toBe(0);
    expect((await gancInProcess(["train", spec, "--out", out, "--steps", "2", "--resume", "--quiet"])).code).toBe(0);
    const [c1, c2] = listCheckpoints(path.join(out, "checkpoints")).map((c) => loadCheckpoint(c.file));
    const get = (c: typeof c1, name: string) => Float64Array.from(c!.tensors.find((t) => t.name === name)!.data);
    const w2 = get(c2, "var:G/dense2/kernel");
    const s1 = get(c1, "var:G/dense2/kernel/ema");
    const s2 = get(c2, "var:G/dense2/kernel/ema");
    // s2 = 0.99 s1 + 0.01 w2, to float32 rounding.
    let worst = 0;
    for (let i = 0; i < s2.length; i++) worst = Math.max(worst, Math.abs(s2[i]! - (0.99 * s1[i]! + 0.01 * w2[i]!)));
    expect(worst).toBeLessThan(1e-7);
    expect(s2.some((v, i) => v !== w2[i])).toBe(true);
    // D has no average: only the sampled net does.
    expect(c2!.tensors.some((t) => t.name.startsWith("var:D/") && t.name.endsWith("/ema"))).toBe(false);
  }, 120_000);
});
