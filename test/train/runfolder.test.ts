import * as fs from "node:fs";
import * as path from "node:path";
import * as zlib from "node:zlib";
import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { loadEmbeddedMnist } from "../../src/runtime/data.ts";
import { ganc, gancAsync, gancInProcess, readJsonl, tmpDir, waitFor } from "../helpers.ts";

const SPEC = "test/fixtures/mlp-mnist.gan";

/** 256 embedded digits as gzipped MNIST IDX files in `dir`. */
function writeIdx(dir: string, n = 256): void {
  const ds = loadEmbeddedMnist();
  const img = Buffer.alloc(16 + n * 784);
  img.writeUInt32BE(2051, 0);
  img.writeUInt32BE(n, 4);
  img.writeUInt32BE(28, 8);
  img.writeUInt32BE(28, 12);
  img.set(Uint8Array.from(ds.x.subarray(0, n * 784), (v) => Math.round(v * 255)), 16);
  const lab = Buffer.alloc(8 + n);
  lab.writeUInt32BE(2049, 0);
  lab.writeUInt32BE(n, 4);
  lab.set(ds.labels!.subarray(0, n), 8);
  fs.writeFileSync(path.join(dir, "train-images-idx3-ubyte.gz"), zlib.gzipSync(img));
  fs.writeFileSync(path.join(dir, "train-labels-idx1-ubyte.gz"), zlib.gzipSync(lab));
}

// The settings tests run their commands inside the test process (gancInProcess): they are about what the
// commands do with a run folder; the lock tests below are about processes and run real ones.
describe("a run folder remembers the settings that shape its run", () => {
  it("--resume restores --data, --batch and the cadences; a contradicting flag is an error naming both values unless --override", async () => {
    const dir = tmpDir();
    writeIdx(dir);
    const out = path.join(dir, "run");
    let r = await gancInProcess(["train", SPEC, "--out", out, "--data", dir, "--batch", "32", "--seed", "3", "--log-every", "2", "--steps", "4"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain("data: mnist, 256 samples of [28, 28, 1], batch 32");
    // Nothing repeated: the same data (not the embedded 10000 digits), batch and log cadence.
    r = await gancInProcess(["train", SPEC, "--out", out, "--resume", "--steps", "8"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain("data: mnist, 256 samples of [28, 28, 1], batch 32");
    expect(readJsonl(path.join(out, "metrics.jsonl")).map((m) => m.step)).toEqual([2, 4, 6, 8]);
    // A contradiction names the flag, its value and the stored one; nothing is trained.
    r = await gancInProcess(["train", SPEC, "--out", out, "--resume", "--steps", "10", "--seed", "4"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^error: --resume: --seed 4 contradicts the run's 3 .*--override/m);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    r = await gancInProcess(["train", SPEC, "--out", out, "--resume", "--steps", "10", "--data", path.join(dir, "elsewhere")]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`--data ${path.join(dir, "elsewhere")} contradicts the run's ${dir}`);
    expect(readJsonl(path.join(out, "metrics.jsonl")).at(-1)!.step).toBe(8);
    // --override changes it, says so, and the run folder remembers the new value.
    r = await gancInProcess(["train", SPEC, "--out", out, "--resume", "--steps", "10", "--log-every", "1", "--override"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain("--override: --log-every 1 contradicts the run's 2");
    expect(readJsonl(path.join(out, "metrics.jsonl")).map((m) => m.step)).toEqual([2, 4, 6, 8, 9, 10]);
    expect(JSON.parse(fs.readFileSync(path.join(out, "settings.json"), "utf8"))).toMatchObject({ seed: 3, data: dir, batch: 32, logEvery: 1, steps: 10 });
    // --override alone (no --resume) is a usage mistake.
    r = await gancInProcess(["train", SPEC, "--out", path.join(dir, "other"), "--steps", "1", "--override"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^error: --override only applies with --resume/m);
    expect(fs.existsSync(path.join(dir, "other"))).toBe(false); // refused before anything is written
  }, 180_000);
});

describe("settings that shape the numerics", () => {
  it("--backend is a stored setting: --resume keeps it, a different one is a contradiction; --override --batch continues in batches of the new size", async () => {
    const dir = tmpDir();
    writeIdx(dir);
    const out = path.join(dir, "run");
    let r = await gancInProcess(["train", SPEC, "--out", out, "--data", dir, "--batch", "32", "--backend", "cpu", "--log-every", "2", "--steps", "4"]);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(fs.readFileSync(path.join(out, "settings.json"), "utf8"))).toMatchObject({ backend: "cpu", batch: 32 });
    r = await gancInProcess(["train", SPEC, "--out", out, "--resume", "--steps", "6"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/^backend: cpu/m);
    r = await gancInProcess(["train", SPEC, "--out", out, "--resume", "--steps", "8", "--backend", "wasm"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^error: --resume: --backend wasm contradicts the run's cpu/m);
    // A new batch size on purpose: the checkpoint's batch (32) is no longer an error.
    r = await gancInProcess(["train", SPEC, "--out", out, "--resume", "--steps", "8", "--batch", "16", "--override"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain("--override: --batch 16 contradicts the run's 32");
    expect(r.stderr).toContain("data: mnist, 256 samples of [28, 28, 1], batch 16, 16 iterations per epoch");
    expect(readJsonl(path.join(out, "metrics.jsonl")).map((m) => m.step)).toEqual([2, 4, 6, 8]);
    expect(JSON.parse(fs.readFileSync(path.join(out, "settings.json"), "utf8"))).toMatchObject({ backend: "cpu", batch: 16, steps: 8 });
    // Without --override the checkpoint's batch still guards the run.
    r = await gancInProcess(["train", SPEC, "--out", out, "--resume", "--steps", "10", "--batch", "32"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^error: --resume: --batch 32 contradicts the run's 16/m);
    // ganc export draws on the run's backend too, unless told otherwise.
    r = await gancInProcess(["export", out, "-o", path.join(dir, "exported")]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/^backend: cpu/m);
    r = await gancInProcess(["export", out, "-o", path.join(dir, "exported2"), "--backend", "wasm"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/^backend: wasm/m);
  }, 180_000);
});

describe("one writer per run folder", () => {
  it("a second trainer on a live run is refused in one line; Ctrl-C releases the lock (exit 130); a dead writer's lock is taken over", async () => {
    const dir = tmpDir();
    const out = path.join(dir, "run");
    const lock = path.join(out, ".lock");
    const first = gancAsync(["train", SPEC, "--out", out, "--steps", "1000000", "--log-every", "1", "--quiet"]);
    let exit: number | null = null;
    first.on("exit", (code) => (exit = code));
    try {
      await waitFor(() => fs.existsSync(path.join(out, "metrics.jsonl")), 60_000);
      expect(Number(fs.readFileSync(lock, "utf8"))).toBe(first.pid);
      const second = ganc(["train", SPEC, "--out", out, "--steps", "5", "--resume"]);
      expect(second.code).toBe(1);
      expect(second.stderr.trim()).toBe(`error: ${out} is in use by another trainer (pid ${first.pid}, lock ${lock}): wait for it to finish, or choose another --out`);
      // A refused writer changes nothing there, not even the trainer and spec it would have run.
      const kept = ["trainer.ts", "spec.gan"].map((f) => fs.readFileSync(path.join(out, f), "utf8"));
      const other = path.join(dir, "other.gan");
      fs.writeFileSync(other, fs.readFileSync(SPEC, "utf8").replace("lr=2e-4", "lr=3e-4"));
      expect(fs.readFileSync(other, "utf8")).not.toBe(kept[1]);
      const third = ganc(["train", other, "--out", out, "--steps", "5"]);
      expect(third.code).toBe(1);
      expect(third.stderr).toContain(`is in use by another trainer (pid ${first.pid}`);
      expect(["trainer.ts", "spec.gan"].map((f) => fs.readFileSync(path.join(out, f), "utf8"))).toEqual(kept);
      first.kill("SIGINT");
      await waitFor(() => exit !== null, 60_000);
    } finally {
      if (exit === null) first.kill("SIGKILL");
    }
    expect(exit).toBe(130);
    expect(fs.existsSync(lock)).toBe(false);
    // A lock left by a process that is gone (a pid that just exited).
    const dead = spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"], { encoding: "utf8" }).stdout;
    fs.writeFileSync(lock, `${dead}\n`);
    const r = ganc(["train", SPEC, "--out", out, "--steps", "2", "--resume", "--quiet"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(`taking over the lock of ${out} from process ${dead}, which is no longer running`);
    expect(fs.existsSync(lock)).toBe(false);
  }, 180_000);

  it("the lock is released when training fails", () => {
    const dir = tmpDir();
    const spec = path.join(dir, "nan.gan");
    fs.writeFileSync(spec, fs.readFileSync(SPEC, "utf8").replace("loss g = bce_logits(D(fake).logit, ones)", "loss g = bce_logits(D(fake).logit, ones) + sqrt(mean(D(fake).logit) - 1000)"));
    const out = path.join(dir, "run");
    const r = ganc(["train", spec, "--out", out, "--steps", "3"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/error: loss 'g' is NaN/);
    expect(fs.existsSync(path.join(out, ".lock"))).toBe(false);
  }, 120_000);
});
