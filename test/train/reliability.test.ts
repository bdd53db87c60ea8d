import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { listCheckpoints, loadCheckpoint } from "../../src/runtime/checkpoint.ts";
import { Rng } from "../../src/runtime/rng.ts";
import { spawnSync } from "node:child_process";
import { ganc, gancAsync, readJsonl, tmpDir, waitFor } from "../helpers.ts";

/** A tiny tmpfs to fill up, where this machine lets us mount one (root on Linux); else null. */
function smallDisk(kb: number): string | null {
  if (process.platform !== "linux") return null;
  const dir = tmpDir("ganc-full-");
  const r = spawnSync("mount", ["-t", "tmpfs", "-o", `size=${kb}k`, "tmpfs", dir], { encoding: "utf8" });
  return r.status === 0 ? dir : null;
}
const canMount = (() => {
  const d = smallDisk(64);
  if (d) spawnSync("umount", [d]);
  return d !== null;
})();

const SPEC = "test/fixtures/ring8.gan";
const noStack = (s: string) => expect(s).not.toMatch(/\n\s+at .*\(.*:\d+:\d+\)/);

function sameTensors(fileA: string, fileB: string): void {
  const a = loadCheckpoint(fileA);
  const b = loadCheckpoint(fileB);
  expect(b.meta.step).toBe(a.meta.step);
  expect(b.tensors.map((t) => t.name)).toEqual(a.tensors.map((t) => t.name));
  a.tensors.forEach((t, i) => expect(Buffer.from(b.tensors[i]!.data.buffer).equals(Buffer.from(t.data.buffer)), t.name).toBe(true));
}

describe("faults during training", () => {
  it("survives 10 SIGKILLs at random moments, a checkpoint written every iteration: each --resume continues from the last complete checkpoint, ending identical to an uninterrupted run", async () => {
    // The killed runs aim far beyond where they get; the final resume stops 20 iterations past the last
    // checkpoint, and an uninterrupted run of that many iterations is the reference. A checkpoint every
    // iteration keeps the trainer inside a checkpoint write (serialize, write, fsync, rename, prune) for
    // about a third of its time instead of under a tenth with one every 5 (measured on ring8), so each
    // kill is several times likelier to land mid-write: 10 kills probe the write path more than 20 did,
    // for half the trainer start-ups (about 3 s of CPU each).
    const common = ["--checkpoint-every", "1", "--log-every", "5", "--seed", "3", "--quiet"];
    const out = tmpDir();
    const rng = new Rng(2024);
    let kills = 0;
    while (kills < 10) {
      const before = listCheckpoints(path.join(out, "checkpoints")).map((c) => c.step).pop() ?? 0;
      const child = gancAsync(["train", SPEC, "--out", out, "--steps", "1000000", ...common, ...(before > 0 ? ["--resume"] : ["--fresh"])]);
      let stderr = "";
      child.stderr.on("data", (d) => (stderr += d));
      const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
      // Kill after the process has started training, at a random moment within the next ~1.5 s.
      await waitFor(() => fs.existsSync(path.join(out, "tb")) || child.exitCode !== null, 60_000, 20);
      await new Promise((r) => setTimeout(r, 100 + rng.uniform() * 1500));
      child.kill("SIGKILL");
      const code = await exited;
      expect(code, stderr).toBeNull(); // killed, not finished or failed
      kills++;
      const after = listCheckpoints(path.join(out, "checkpoints")).map((c) => c.step).pop() ?? 0;
      expect(after, stderr).toBeGreaterThanOrEqual(before);
      fs.rmSync(path.join(out, "tb"), { recursive: true, force: true }); // the wait above keys on it
    }
    const last = listCheckpoints(path.join(out, "checkpoints")).pop();
    expect(last, "no checkpoint survived the kills").toBeDefined();
    const steps = String(last!.step + 20);
    const r = ganc(["train", SPEC, "--out", out, "--steps", steps, ...common, "--resume"]);
    expect(r.code, r.stderr).toBe(0);
    const ref = tmpDir();
    expect(ganc(["train", SPEC, "--out", ref, "--steps", steps, ...common]).code).toBe(0);
    const final = (d: string) => listCheckpoints(path.join(d, "checkpoints")).pop()!.file;
    sameTensors(final(ref), final(out));
    // Temp files that kills left behind are never taken for checkpoints; pruning keeps the newest 3.
    expect(fs.readdirSync(path.join(out, "checkpoints")).filter((n) => n.endsWith(".ganckpt")).length).toBeLessThanOrEqual(3);
  }, 400_000);

  it("Ctrl-C (SIGINT) finishes the iteration, writes a checkpoint and exits 130", async () => {
    const out = tmpDir();
    const child = gancAsync(["train", SPEC, "--out", out, "--steps", "100000", "--log-every", "5", "--checkpoint-every", "100000"]);
    let stderr = "";
    child.stderr.on("data", (d) => (stderr += d));
    const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
    await waitFor(() => fs.existsSync(path.join(out, "metrics.jsonl")) && readJsonl(path.join(out, "metrics.jsonl")).length >= 2, 60_000);
    child.kill("SIGINT");
    expect(await exited).toBe(130);
    const cks = listCheckpoints(path.join(out, "checkpoints"));
    expect(cks).toHaveLength(1);
    expect(stderr).toContain("interrupted");
    const r = ganc(["train", SPEC, "--out", out, "--steps", String(cks[0]!.step + 5), "--resume", "--quiet"]);
    expect(r.code, r.stderr).toBe(0);
  }, 120_000);

  it("a truncated newest checkpoint and a stray temp file from a kill mid-write: resume uses the previous good one", () => {
    const out = tmpDir();
    expect(ganc(["train", SPEC, "--out", out, "--steps", "20", "--checkpoint-every", "10", "--quiet"]).code).toBe(0);
    const dir = path.join(out, "checkpoints");
    const [c10, c20] = listCheckpoints(dir);
    fs.truncateSync(c20!.file, Math.floor(fs.statSync(c20!.file).size / 2));
    fs.writeFileSync(path.join(dir, ".ckpt-00000030.ganckpt.123.456.tmp"), "half-written");
    const r = ganc(["train", SPEC, "--out", out, "--steps", "25", "--resume"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/skipping checkpoint .*ckpt-00000020.*truncated/);
    expect(r.stderr).toContain(`resumed from ${c10!.file} at iteration 10`);
  }, 120_000);

  it.skipIf(!canMount)("a full disk: a clear error, no truncated checkpoint and no temp file left behind", () => {
    const diskForTest = smallDisk(600);
    try {
      const out = path.join(diskForTest!, "run");
      // The MLP's checkpoint (about 850 KB) cannot fit in 600 KB.
      const r = ganc(["train", "test/fixtures/mlp-mnist.gan", "--out", out, "--steps", "3", "--quiet"]);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/^error: .*no space left on device/m);
      noStack(r.stderr);
      const dir = path.join(out, "checkpoints");
      const left = fs.existsSync(dir) ? fs.readdirSync(dir) : [];
      expect(left).toEqual([]);
    } finally {
      spawnSync("umount", [diskForTest!]);
    }
  }, 60_000);

  it("an unwritable output folder is a clear error, with no stack trace", () => {
    const dir = tmpDir();
    const file = path.join(dir, "not-a-folder");
    fs.writeFileSync(file, "x");
    const r = ganc(["train", SPEC, "--out", path.join(file, "run"), "--steps", "2"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^error: .*not-a-folder/m);
    noStack(r.stderr);
    expect(fs.readFileSync(file, "utf8")).toBe("x");
  }, 60_000);
});

describe("spec files are data", () => {
  it("a data path in a spec that escapes the spec's folder is refused unless given on the command line", () => {
    const dir = tmpDir();
    const spec = path.join(dir, "sub", "escape.gan");
    fs.mkdirSync(path.dirname(spec));
    fs.writeFileSync(spec, fs.readFileSync("test/fixtures/mlp-mnist.gan", "utf8").replace("mnist(batch=64)", 'mnist(batch=64, path="../../../../../../etc")'));
    const r = ganc(["train", spec, "--out", path.join(dir, "run"), "--steps", "1"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/error: data path "\.\.\/\.\.\/\.\.\/\.\.\/\.\.\/\.\.\/etc" in .* resolves to \/etc, outside the spec's folder and the working folder; pass it with --data/);
    noStack(r.stderr);
  }, 60_000);
});

describe("non-finite values", () => {
  it("weights poisoned by a NaN gradient (in a loss term that is itself finite) are never checkpointed", () => {
    const dir = tmpDir();
    const spec = path.join(dir, "nan-grad.gan");
    // sqrt(0) has an infinite derivative: the loss stays finite (it adds 0 * sqrt(0)) but G's gradient is NaN.
    fs.writeFileSync(spec, fs.readFileSync("test/fixtures/mlp-mnist.gan", "utf8").replace("loss g = bce_logits(D(fake).logit, ones)", "loss g = bce_logits(D(fake).logit, ones) + 0 * sqrt(mean(fake) - mean(fake))"));
    const out = path.join(dir, "run");
    const r = ganc(["train", spec, "--out", out, "--steps", "5", "--log-every", "100", "--checkpoint-every", "5"]);
    expect(r.code).toBe(1);
    // Whichever shows it first (the poisoned weights, or a loss they feed): training stops, nothing is saved.
    expect(r.stderr).toMatch(/error: (variable G\/\S+ holds NaN at iteration \d+ \(a NaN or Inf gradient reached it\)|loss '\w+' is NaN at iteration \d+)/);
    expect(fs.existsSync(path.join(out, "checkpoints")) ? fs.readdirSync(path.join(out, "checkpoints")) : []).toEqual([]);
  }, 60_000);
});
