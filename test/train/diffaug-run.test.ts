import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { listCheckpoints, loadCheckpoint } from "../../src/runtime/checkpoint.ts";
import { gancInProcess, readJsonl, tmpDir } from "../helpers.ts";

/*
 * DiffAugment in whole runs (wasm, tiny nets, 4 iterations): its draws are keyed by the seed, the
 * iteration, the batch of the iteration, the step and the call, so `--seed` repeats a run bit for bit, a
 * resumed run ends where the uninterrupted one does bit for bit (no state of the draws is saved), and
 * the augmentation changes what D sees (the same run without it computes other losses). Schedule [2*d, g]: step d's second call in an iteration has a batch of
 * its own, and must get draws of its own.
 */

const SPEC = `gan "aug"
data  real: mnist_color(batch=8, limit=64)
noise z: uniform(-1, 1, [8])
net G(z) {
  dense 4*4*4, batchnorm, relu, reshape [4, 4, 4]
  deconv 4 kernel=4 stride=2, batchnorm, relu
  deconv 3 kernel=4 stride=4, tanh
}
net D(x) {
  conv 4 kernel=4 stride=4, lrelu 0.2
  conv 8 kernel=4 stride=2, batchnorm, lrelu 0.2
  flatten, dense 1 -> logit
}
scaled = 2 * real - 1
fake = G(z)
image = 0.5 * fake + 0.5
loss d = bce_logits(D(diffaug(scaled, "color,translation,cutout")).logit, ones) + bce_logits(D(diffaug(fake, "color,translation,cutout")).logit, zeros)
loss g = bce_logits(D(diffaug(fake, "color,translation,cutout")).logit, ones)
step d: adam(lr=2e-4, beta1=0.5) minimize d over D
step g: adam(lr=2e-4, beta1=0.5) minimize g over G
train { steps=4, schedule=[2*d, g], samples=image, sample_every=100, checkpoint_every=2, log_every=1 }
`;

const PLAIN = SPEC.replace(/diffaug\((\w+), "color,translation,cutout"\)/g, "$1");

function finalTensors(out: string) {
  const last = listCheckpoints(path.join(out, "checkpoints")).pop()!;
  return loadCheckpoint(last.file);
}

function expectSameRun(a: string, b: string): void {
  expect(readJsonl(path.join(b, "metrics.jsonl")).map((m) => [m.step, m.d, m.g])).toEqual(readJsonl(path.join(a, "metrics.jsonl")).map((m) => [m.step, m.d, m.g]));
  const ta = finalTensors(a);
  const tb = finalTensors(b);
  expect(tb.meta.step).toBe(4);
  expect(tb.tensors.map((t) => t.name)).toEqual(ta.tensors.map((t) => t.name));
  ta.tensors.forEach((t, i) => expect(Buffer.from(tb.tensors[i]!.data.buffer).equals(Buffer.from(t.data.buffer)), t.name).toBe(true));
}

describe("diffaug in training runs", () => {
  it("--seed repeats the run bit for bit, --resume continues it bit for bit, and the augmentation takes effect (wasm)", async () => {
    const dir = tmpDir("ganc-diffaug-");
    const spec = path.join(dir, "aug.gan");
    fs.writeFileSync(spec, SPEC);
    // inside the test process (gancInProcess): the test is about what the runs compute
    const train = async (out: string, ...args: string[]) => {
      const r = await gancInProcess(["train", spec, "--out", path.join(dir, out), "--backend", "wasm", "--quiet", ...args]);
      expect(r.code, r.stderr).toBe(0);
      return path.join(dir, out);
    };
    const a = await train("a", "--seed", "5");
    const b = await train("b", "--seed", "5");
    expectSameRun(a, b);

    const c = await train("c", "--seed", "5", "--steps", "2");
    expect(finalTensors(c).meta.step).toBe(2);
    await train("c", "--resume", "--steps", "4");
    expectSameRun(a, c);

    // Same seed, so the same weights, batches and noise: only the augmentation differs.
    fs.writeFileSync(spec, PLAIN);
    const plain = await train("plain", "--seed", "5");
    expect(readJsonl(path.join(plain, "metrics.jsonl"))[0]!.d).not.toBe(readJsonl(path.join(a, "metrics.jsonl"))[0]!.d);
    fs.rmSync(dir, { recursive: true, force: true });
  }, 300_000);
});
