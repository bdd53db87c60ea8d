import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { listCheckpoints, loadCheckpoint } from "../../src/runtime/checkpoint.ts";
import { gancInProcess, tmpDir } from "../helpers.ts";

/** Trains the MLP fixture 4 iterations with G's optimizer given `extra` arguments; returns G's last kernel. */
async function gKernelAfter(extra: string): Promise<Float32Array> {
  const dir = tmpDir();
  const spec = path.join(dir, "s.gan");
  fs.writeFileSync(spec, fs.readFileSync("test/fixtures/mlp-mnist.gan", "utf8").replace("step g: adam(lr=1e-3, beta1=0.5)", `step g: adam(lr=1e-3, beta1=0.5${extra})`));
  const r = await gancInProcess(["train", spec, "--out", path.join(dir, "run"), "--steps", "4", "--seed", "5", "--quiet"]);
  expect(r.code, r.stderr).toBe(0);
  const ck = loadCheckpoint(listCheckpoints(path.join(dir, "run", "checkpoints")).pop()!.file);
  return ck.tensors.find((t) => t.name === "var:G/dense2/kernel")!.data as Float32Array;
}

describe("learning-rate schedules", () => {
  it("a step decay that has not started yet changes nothing; one that has, changes the weights", async () => {
    const constant = await gKernelAfter("");
    const notYet = await gKernelAfter(", decay=staircase, decay_every=1000, decay_rate=0.5");
    const halved = await gKernelAfter(", decay=staircase, decay_every=2, decay_rate=0.5");
    expect(Buffer.from(notYet.buffer).equals(Buffer.from(constant.buffer))).toBe(true);
    expect(Buffer.from(halved.buffer).equals(Buffer.from(constant.buffer))).toBe(false);
  }, 120_000);
});
