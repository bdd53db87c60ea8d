import * as fs from "node:fs";
import * as path from "node:path";
import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import * as tf from "@tensorflow/tfjs";
import { loadLatestCheckpoint } from "../../src/runtime/checkpoint.ts";
import { ganc, ROOT, tmpDir } from "../helpers.ts";
import { fileHandler } from "../model-files.ts";
import { pythonWithTorch, skipNote } from "../python.ts";
import { shrink } from "../variants/spec-mutations.ts";

/**
 * A short real run of the PyTorch trainer (ring8, batch 8) whose checkpoints cross engines: the Python
 * trainer trains 2 iterations, the TypeScript trainer resumes its run folder to 4, the Python trainer
 * resumes that to 6. The result must be the run the TypeScript trainer makes in 6 iterations on its own:
 * every variable, optimizer moment and step count, to float32 rounding compounded over 6 Adam steps
 * (1e-3 of each tensor's largest value, plus 1e-7).
 * The same crossing for a StyleGAN2-style net: ganc sample and the Python trainer's --sample-to give the same
 * truncated samples (EMA weights, fixed noise maps, w_avg) from the checkpoints of either engine. And the round
 * trip a user makes with the seed GAN, both ways: 20 iterations on one engine, 20 more on the other, then the
 * result sampled by both engines and exported for the browser.
 */
const py = pythonWithTorch();

describe.skipIf(!py.python)("PyTorch target: a short run, its checkpoints crossing engines", () => {
  it("ring8: python 2 iterations, tfjs resumes to 4, python resumes to 6 == tfjs 6", () => {
    const dir = tmpDir("ganc-cross-");
    const trainer = path.join(dir, "trainer.py");
    expect(ganc(["compile", "specs/ring8.gan", "--target", "pytorch", "-o", trainer]).code).toBe(0);
    const common = ["--batch", "8", "--quiet"];
    const python = (args: string[]) => {
      const r = spawnSync(py.python!, [trainer, ...common, ...args], { encoding: "utf8", timeout: 300_000 });
      expect(r.status, r.stderr).toBe(0);
    };
    const crossed = path.join(dir, "crossed");
    python(["--steps", "2", "--out", crossed]);
    // The Python run wrote a finite log, a sample grid and a checkpoint in ganc's format.
    const metrics = fs.readFileSync(path.join(crossed, "metrics.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l) as Record<string, number>);
    expect(metrics.length).toBeGreaterThan(0);
    for (const m of metrics) for (const k of ["d", "g", "d_real", "d_fake"]) expect(Number.isFinite(m[k])).toBe(true);
    expect(fs.existsSync(path.join(crossed, "samples", "latest.png"))).toBe(true);
    expect(loadLatestCheckpoint(path.join(crossed, "checkpoints"))!.step).toBe(2);

    let r = ganc(["train", "specs/ring8.gan", "--resume", "--steps", "4", "--out", crossed, "--no-opt", "--backend", "cpu", ...common]);
    expect(r.code, r.stderr).toBe(0);
    python(["--resume", "--steps", "6", "--out", crossed]);
    const straight = path.join(dir, "straight");
    r = ganc(["train", "specs/ring8.gan", "--steps", "6", "--out", straight, "--no-opt", "--backend", "cpu", ...common]);
    expect(r.code, r.stderr).toBe(0);

    const a = loadLatestCheckpoint(path.join(straight, "checkpoints"))!;
    const b = loadLatestCheckpoint(path.join(crossed, "checkpoints"))!;
    expect(b.step).toBe(6);
    expect(b.payload.meta.iterator).toEqual(a.payload.meta.iterator);
    expect(b.payload.meta.rng).toEqual(a.payload.meta.rng);
    expect(b.payload.meta.optimizers).toEqual(a.payload.meta.optimizers);
    const other = new Map(b.payload.tensors.map((t) => [t.name, t]));
    const bad: string[] = [];
    for (const t of a.payload.tensors) {
      const u = other.get(t.name);
      if (!u) {
        bad.push(`${t.name}: missing from the crossed run's checkpoint`);
        continue;
      }
      expect(u.shape, t.name).toEqual(t.shape);
      let scale = 0;
      let err = 0;
      for (let i = 0; i < t.data.length; i++) {
        scale = Math.max(scale, Math.abs(t.data[i]!));
        err = Math.max(err, Math.abs(t.data[i]! - u.data[i]!));
      }
      if (!(err <= 1e-3 * scale + 1e-7)) bad.push(`${t.name}: max |difference| ${err} against largest |value| ${scale}`);
    }
    expect(bad).toEqual([]);
    expect(a.payload.tensors.length).toBe(b.payload.tensors.length);
    // The Python trainer samples a run folder's newest checkpoint (either engine's) like ganc sample; ring8's
    // samples have no truncate(), so --truncation is refused rather than ignored.
    const grid = path.join(dir, "grid.png");
    python(["--out", crossed, "--sample-to", grid]);
    expect(fs.readFileSync(grid).subarray(1, 4).toString()).toBe("PNG");
    const bad2 = spawnSync(py.python!, [trainer, ...common, "--out", crossed, "--sample-to", grid, "--truncation", "0.5"], { encoding: "utf8" });
    expect(bad2.status).not.toBe(0);
    expect(bad2.stderr).toContain("error: --truncation 0.5: this spec's samples do not use truncate()");
    fs.rmSync(dir, { recursive: true, force: true });
  }, 600_000);

  it("the seed GAN (specs/gan.gan, narrowed), both ways: 20 iterations on one engine, 20 more on the other; both engines' samples of the result agree, and ganc export of it reproduces them; and a run on PyTorch alone", async () => {
    // Narrowed (8 to 16 channels and units): the same layers, without the minute the Python trainer takes to
    // draw the full seed GAN's 13 million initial weights when it starts a run.
    const dir = tmpDir("ganc-cross-seed-");
    const spec = path.join(dir, "gan.gan");
    fs.writeFileSync(spec, shrink(fs.readFileSync(path.join(ROOT, "specs/gan.gan"), "utf8")));
    const trainer = path.join(dir, "trainer.py");
    expect(ganc(["compile", spec, "--target", "pytorch", "-o", trainer]).code).toBe(0);
    const data = path.join(dir, "data");
    expect(ganc(["data", spec, "-o", data]).code).toBe(0);
    const common = ["--batch", "16", "--quiet"];
    const tfjs = (out: string, args: string[]) => {
      const r = ganc(["train", spec, ...common, "--out", out, ...args], { timeout: 300_000 });
      expect(r.code, r.stderr).toBe(0);
    };
    const python = (out: string, args: string[]) => {
      const r = spawnSync(py.python!, [trainer, ...common, "--data", data, "--out", out, ...args], { encoding: "utf8", timeout: 300_000 });
      expect(r.status, r.stderr).toBe(0);
    };
    const read = (f: string) => JSON.parse(fs.readFileSync(f, "utf8")) as { shape: number[]; data: number[] };
    const largestDifference = (a: ArrayLike<number>, b: ArrayLike<number>) => {
      expect(a.length).toBe(b.length);
      let err = 0;
      for (let i = 0; i < a.length; i++) err = Math.max(err, Math.abs(a[i]! - b[i]!));
      return err;
    };
    // The run folder after 40 iterations, the last 20 by `last`: ganc sample, the Python trainer's --sample-to
    // and the model ganc export writes (loaded by plain tfjs, fed the trainer's fixed noise) give the same images.
    const check = async (run: string, last: RegExp) => {
      const ck = loadLatestCheckpoint(path.join(run, "checkpoints"))!;
      expect(ck.step).toBe(40);
      expect(String(ck.payload.meta.backend)).toMatch(last);
      const ts = path.join(run, "ts.json");
      const pyFile = path.join(run, "py.json");
      const r = ganc(["sample", run, "-n", "16", "-o", ts]);
      expect(r.code, r.stderr).toBe(0);
      python(run, ["--sample-to", pyFile, "--sample-count", "16"]);
      const a = read(ts);
      const b = read(pyFile);
      expect(a.shape).toEqual([16, 28, 28, 1]);
      expect(b.shape).toEqual(a.shape);
      expect(largestDifference(a.data, b.data), `${run}: ganc sample against the Python trainer's samples`).toBeLessThanOrEqual(1e-4);
      const exported = path.join(run, "exported");
      const e = ganc(["export", run, "-o", exported]);
      expect(e.code, e.stderr).toBe(0);
      const model = await tf.loadLayersModel(fileHandler(exported));
      const noise = JSON.parse(fs.readFileSync(path.join(exported, "sample-noise.json"), "utf8")) as { inputs: Record<string, { shape: number[]; data: number[] }> };
      const z = noise.inputs.z!;
      const feed = tf.tensor(z.data, z.shape);
      const y = model.predict(feed) as tf.Tensor;
      const got = y.dataSync();
      tf.dispose([y, feed]);
      model.dispose();
      expect(largestDifference(got, a.data), `${run}: the exported model against ganc sample`).toBeLessThanOrEqual(1e-4);
      return a.data;
    };
    const tfjsFirst = path.join(dir, "tfjs-then-torch");
    tfjs(tfjsFirst, ["--steps", "20"]);
    python(tfjsFirst, ["--resume", "--steps", "40"]);
    const one = await check(tfjsFirst, /^pytorch/);
    const torchFirst = path.join(dir, "torch-then-tfjs");
    python(torchFirst, ["--steps", "20"]);
    tfjs(torchFirst, ["--resume", "--steps", "40"]);
    const other = await check(torchFirst, /^(?!pytorch)/);
    // Two runs that trained (the samples of 40 iterations are not those of the initial weights, nor of each other).
    expect(largestDifference(one, other)).toBeGreaterThan(1e-2);
    // A run the PyTorch trainer made on its own: it keeps its spec (spec.gan, the spec's own text), from which
    // ganc sample and ganc export compile the TypeScript trainer; the same checks.
    const torchOnly = path.join(dir, "torch-only");
    python(torchOnly, ["--steps", "40"]);
    expect(fs.readFileSync(path.join(torchOnly, "spec.gan"), "utf8")).toBe(fs.readFileSync(spec, "utf8"));
    expect(fs.existsSync(path.join(torchOnly, "trainer.ts"))).toBe(false);
    await check(torchOnly, /^pytorch/);
    expect(fs.existsSync(path.join(torchOnly, "trainer.ts"))).toBe(true);
  }, 900_000);

  it("a StyleGAN2-style net (test/fixtures/pytorch-stylegan.gan): tfjs 2 iterations, python resumes to 4, tfjs to 6; truncated samples agree on both engines at 4 and 6; w_avg at 4 is the TypeScript trainer's own", () => {
    const spec = "test/fixtures/pytorch-stylegan.gan";
    const dir = tmpDir("ganc-cross-sg-");
    const trainer = path.join(dir, "trainer.py");
    expect(ganc(["compile", spec, "--target", "pytorch", "-o", trainer]).code).toBe(0);
    const data = path.join(dir, "data");
    expect(ganc(["data", spec, "-o", data]).code).toBe(0);
    const run = path.join(dir, "run");
    const tfjs = (args: string[], out = run) => {
      const r = ganc(["train", spec, "--batch", "8", "--quiet", "--no-opt", "--backend", "cpu", "--out", out, ...args]);
      expect(r.code, r.stderr).toBe(0);
    };
    const python = (args: string[]) => {
      const r = spawnSync(py.python!, [trainer, "--batch", "8", "--quiet", "--data", data, "--out", run, ...args], { encoding: "utf8", timeout: 300_000 });
      expect(r.status, r.stderr).toBe(0);
    };
    const avg = (out = run) => loadLatestCheckpoint(path.join(out, "checkpoints"))!.payload.tensors.find((t) => t.name === "var:M/track_avg1/avg")!;
    // The samples of the newest checkpoint, truncated: ganc sample (the TypeScript trainer) and the Python
    // trainer's --sample-to, each a JSON file of the raw values, on the same fixed noise.
    const samples = (psi: number) => {
      const ts = path.join(dir, `ts-${psi}.json`);
      const pyFile = path.join(dir, `py-${psi}.json`);
      const r = ganc(["sample", run, "-n", "8", "-o", ts, "--truncation", String(psi)]);
      expect(r.code, r.stderr).toBe(0);
      python(["--sample-to", pyFile, "--sample-count", "8", "--truncation", String(psi)]);
      const read = (f: string) => JSON.parse(fs.readFileSync(f, "utf8")) as { shape: number[]; data: number[] };
      return { ts: read(ts), py: read(pyFile) };
    };
    const agree = (psi: number) => {
      const { ts, py: p } = samples(psi);
      expect(p.shape).toEqual(ts.shape);
      expect(ts.shape).toEqual([8, 28, 28, 1]);
      let err = 0;
      for (let i = 0; i < ts.data.length; i++) err = Math.max(err, Math.abs(ts.data[i]! - p.data[i]!));
      expect(err, `psi ${psi}: max |difference| of the samples`).toBeLessThanOrEqual(1e-4);
      return ts.data;
    };

    tfjs(["--steps", "2"]);
    const before = avg();
    expect(before.data.some((v) => v !== 0), "w_avg moved in 2 iterations").toBe(true);
    python(["--resume", "--steps", "4"]);
    const after = loadLatestCheckpoint(path.join(run, "checkpoints"))!;
    expect(after.step).toBe(4);
    expect(String(after.payload.meta.backend)).toMatch(/^pytorch/);
    // w_avg went on from the TypeScript trainer's: it is the one the TypeScript trainer reaches in 4 iterations.
    const a4 = avg();
    const straight = path.join(dir, "straight");
    tfjs(["--steps", "4"], straight);
    const s4 = avg(straight);
    let drift = 0;
    let err = 0;
    for (let i = 0; i < a4.data.length; i++) {
      drift = Math.max(drift, Math.abs(a4.data[i]! - before.data[i]!));
      err = Math.max(err, Math.abs(a4.data[i]! - s4.data[i]!));
    }
    expect(drift).toBeGreaterThan(1e-3);
    expect(err, "w_avg at 4: crossed run against the TypeScript trainer's own").toBeLessThanOrEqual(1e-5);
    const at4 = agree(0.7);
    const untruncated = agree(1);
    expect(at4.some((v, i) => Math.abs(v - untruncated[i]!) > 1e-3), "psi 0.7 changes the samples").toBe(true);
    tfjs(["--resume", "--steps", "6"]);
    expect(loadLatestCheckpoint(path.join(run, "checkpoints"))!.step).toBe(6);
    agree(0.7);
    fs.rmSync(dir, { recursive: true, force: true });
  }, 900_000);
});
skipNote("the checkpoint-crossing run", py);
