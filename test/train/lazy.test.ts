import * as fs from "node:fs";
import * as path from "node:path";
import * as tf from "@tensorflow/tfjs";
import { describe, expect, it } from "vitest";
import { listCheckpoints, loadCheckpoint } from "../../src/runtime/checkpoint.ts";
import { lazyGradients } from "../../src/runtime/ops.ts";
import { compileText } from "../../src/compile.ts";
import { stripSpans } from "../../src/parser/ast.ts";
import { parseSpec } from "../../src/parser/index.ts";
import "../../src/parser/yaml/load.ts"; // this file parses the YAML form in its own process
import { gancInProcess, readJsonl, tmpDir } from "../helpers.ts";

/*
 * Lazy regularization (`every(k, step)` in a schedule, StyleGAN2): test/fixtures/lazy-r1.gan runs D's R1 step
 * on D's own optimizer every 4 iterations, its gradients scaled by 4, with D's Adam rate and betas adjusted
 * by c = 4/5.
 */
const SPEC = "test/fixtures/lazy-r1.gan";
const TEXT = fs.readFileSync(SPEC, "utf8");

/** Trains inside the test process (gancInProcess): the tests are about what the trainer computes. */
async function train(text: string, out: string, args: string[]): Promise<void> {
  const spec = path.join(path.dirname(out), `${path.basename(out)}.gan`);
  fs.writeFileSync(spec, text);
  const r = await gancInProcess(["train", spec, "--out", out, "--backend", "wasm", "--seed", "7", "--quiet", ...args]);
  expect(r.code, r.stderr).toBe(0);
}

const lastCheckpoint = (out: string) => loadCheckpoint(listCheckpoints(path.join(out, "checkpoints")).pop()!.file);

function sameTensors(a: ReturnType<typeof loadCheckpoint>, b: ReturnType<typeof loadCheckpoint>): void {
  expect(b.meta.step).toBe(a.meta.step);
  expect(b.tensors.map((t) => t.name)).toEqual(a.tensors.map((t) => t.name));
  a.tensors.forEach((t, i) => expect(Buffer.from(b.tensors[i]!.data.buffer).equals(Buffer.from(t.data.buffer)), t.name).toBe(true));
}

const scalar = (ck: ReturnType<typeof loadCheckpoint>, name: string) => {
  const t = ck.tensors.find((x) => x.name === name);
  expect(t, `${name} in ${ck.tensors.map((x) => x.name).join(", ")}`).toBeDefined();
  return t!.data[0]!;
};

describe("lazy regularization: every(k, step)", () => {
  it("the YAML form means what the .gan form means; the resolved spec writes adjust out and compiles to the same trainer", () => {
    const a = parseSpec(TEXT, SPEC);
    const b = parseSpec(fs.readFileSync(`${SPEC}.yaml`, "utf8"), `${SPEC}.yaml`);
    expect(a.diagnostics).toEqual([]);
    expect(b.diagnostics).toEqual([]);
    expect(stripSpans(b.spec!.decls)).toEqual(stripSpans(a.spec!.decls));
    const r = compileText(TEXT, SPEC);
    expect(r.diagnostics).toEqual([]);
    const step = r.program!.steps.find((x) => x.name === "d_reg")!;
    expect(step.optimizerOf).toBe("d");
    expect(r.program!.train.schedule).toEqual([{ step: "d", repeat: 1 }, { step: "d_reg", repeat: 1, every: 4, adjust: true }, { step: "g", repeat: 1 }]);
    const resolved = r.code!.match(/resolved: (".*"),\n/)![1]!;
    const text = JSON.parse(resolved) as string;
    expect(text).toContain("schedule=[d, every(4, d_reg, adjust=true), g]");
    expect(text).toContain("step d_reg: d minimize r1 over D\n");
    const body = (code: string) => code.replace(/\n  (hash|resolved): .*/g, "");
    expect(body(compileText(text, SPEC).code!)).toBe(body(r.code!));
  });


  it("the R1 step runs on iterations 4, 8, 12 only, on D's optimizer, whose betas are adjusted by 4/5", async () => {
    const dir = tmpDir();
    const out = path.join(dir, "run");
    await train(TEXT, out, ["--steps", "12"]);
    const rows = readJsonl(path.join(out, "metrics.jsonl"));
    expect(rows.map((r) => r.step)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    expect(rows.filter((r) => r.r1 !== undefined).map((r) => r.step)).toEqual([4, 8, 12]);
    expect(rows.every((r) => Number.isFinite(r.d) && Number.isFinite(r.g))).toBe(true);
    // One Adam for steps d and d_reg: 12 + 3 updates; G's: 12. tfjs keeps beta2^(updates + 1) for the
    // bias correction, so its logarithm in units of log(beta2') counts the updates and proves beta2' = 0.99^(4/5).
    const ck = lastCheckpoint(out);
    const names = ck.tensors.map((t) => t.name);
    expect(names.filter((n) => n.includes("d_reg"))).toEqual([]);
    const updates = (opt: string, beta2: number) => Math.log(scalar(ck, `optx:${opt}:accBeta2`)) / Math.log(beta2) - 1;
    expect(updates("d", 0.99 ** 0.8)).toBeCloseTo(15, 3);
    expect(updates("g", 0.99)).toBeCloseTo(12, 3);
  }, 200_000);

  it("adjust=true is D's Adam given lr*c, beta1^c, beta2^c by hand (c = k/(k+1); k = 1 here, so the step runs every iteration unscaled): bit for bit", async () => {
    const dir = tmpDir();
    const text = TEXT.replace("beta1=0, beta2=0.99) minimize d over D", "beta1=0.5, beta2=0.99) minimize d over D");
    const lazy = text.replace("every(4, d_reg, adjust=true)", "every(1, d_reg, adjust=true)");
    const c = 1 / 2;
    const byHand = text.replace("every(4, d_reg, adjust=true)", "d_reg").replace("step d: adam(lr=2e-3, beta1=0.5, beta2=0.99)", `step d: adam(lr=${2e-3 * c}, beta1=${0.5 ** c}, beta2=${0.99 ** c})`);
    expect(byHand).toContain(`beta2=${0.99 ** 0.5}`);
    await train(lazy, path.join(dir, "lazy"), ["--steps", "3"]);
    await train(byHand, path.join(dir, "hand"), ["--steps", "3"]);
    sameTensors(lastCheckpoint(path.join(dir, "hand")), lastCheckpoint(path.join(dir, "lazy")));
  }, 200_000);

  it("the R1 step's gradients are scaled by k: with SGD, every(4, d_reg) equals R1 written 4 times larger and gated on at iteration 4 by hand (bit for bit)", async () => {
    // SGD moves weights by lr times the gradient, so the scale shows (Adam would hide most of it). The
    // hand-written spec runs d_reg every iteration on 4 * w * r1, where the state w is 0 on iterations
    // 1-3 (a zero SGD update leaves the weights as they are) and 1 on iteration 4.
    const dir = tmpDir();
    const sgd = TEXT.replace("step d: adam(lr=2e-3, beta1=0, beta2=0.99)", "step d: sgd(lr=1e-2)").replace(", adjust=true", "");
    const byHand = sgd
      .replace("loss g = ", "state it = 0\nw = clip(it - 2, 0, 1)\nloss r1w = 4 * w * r1\nloss g = ")
      .replace("step d_reg: d minimize r1 over D", "step d_reg: d minimize r1w over D")
      .replace("every(4, d_reg)", "d_reg")
      .replace("\ntrain {", "after g: it = it + 1\n\ntrain {");
    expect(byHand).toContain("schedule=[d, d_reg, g]");
    await train(sgd, path.join(dir, "lazy"), ["--steps", "4"]);
    await train(byHand, path.join(dir, "hand"), ["--steps", "4"]);
    const vars = (ck: ReturnType<typeof loadCheckpoint>) => ck.tensors.filter((t) => t.name.startsWith("var:"));
    const a = vars(lastCheckpoint(path.join(dir, "lazy")));
    const b = vars(lastCheckpoint(path.join(dir, "hand")));
    expect(b.map((t) => t.name)).toEqual(a.map((t) => t.name));
    a.forEach((t, i) => expect(Buffer.from(b[i]!.data.buffer).equals(Buffer.from(t.data.buffer)), t.name).toBe(true));
    // and the scale matters: unscaled (r1 gated without the 4), D's weights differ
    const unscaled = byHand.replace("loss r1w = 4 * w * r1", "loss r1w = w * r1");
    await train(unscaled, path.join(dir, "unscaled"), ["--steps", "4"]);
    const c = vars(lastCheckpoint(path.join(dir, "unscaled")));
    expect(c.some((t, i) => t.name.startsWith("var:D/") && !Buffer.from(a[i]!.data.buffer).equals(Buffer.from(t.data.buffer)))).toBe(true);
  }, 300_000);

  it("resuming at iteration 6 (between two R1 steps) ends bit for bit where an uninterrupted run ends", async () => {
    const dir = tmpDir();
    const whole = path.join(dir, "whole");
    const parts = path.join(dir, "parts");
    await train(TEXT, whole, ["--steps", "12"]);
    await train(TEXT, parts, ["--steps", "6", "--checkpoint-every", "6"]);
    expect(listCheckpoints(path.join(parts, "checkpoints")).pop()!.step).toBe(6);
    await train(TEXT, parts, ["--steps", "12", "--resume"]);
    sameTensors(lastCheckpoint(whole), lastCheckpoint(parts));
    const rows = readJsonl(path.join(parts, "metrics.jsonl"));
    expect(rows.filter((r) => r.r1 !== undefined).map((r) => r.step)).toEqual([4, 8, 12]);
  }, 300_000);

  it("a lazy step listed again in the schedule, and two entries adjusting one optimizer, are errors", () => {
    const codes = (t: string) => compileText(t, SPEC).diagnostics.filter((d) => d.severity === "error").map((d) => [d.code, d.message]);
    expect(codes(TEXT.replace("every(4, d_reg, adjust=true), g]", "every(4, d_reg, adjust=true), g, d_reg]"))).toEqual([["E0137", "step 'd_reg' runs every 4 iterations, so it cannot also be listed elsewhere in the schedule"]]);
    const two = TEXT.replace("step d_reg: d minimize r1 over D", "step d_reg: d minimize r1 over D\nstep d_reg2: d minimize r1 over D").replace("g], sample", "g, every(8, d_reg2, adjust=true)], sample");
    expect(codes(two)).toEqual([["E0182", "steps 'd_reg' and 'd_reg2' both adjust the optimizer of step 'd'; adjust it once"]]);
  });

  it("lazyGradients scales by k and gives zeros to variables the loss does not reach", () => {
    const a = tf.variable(tf.tensor1d([1, 2]), true, "lazy-test/a");
    const b = tf.variable(tf.tensor1d([3]), true, "lazy-test/b");
    const g = lazyGradients({ [a.name]: tf.tensor1d([0.5, -0.25]) }, [a, b], 16);
    expect(Object.keys(g)).toEqual([a.name, b.name]);
    expect([...g[a.name]!.dataSync()]).toEqual([8, -4]);
    expect([...g[b.name]!.dataSync()]).toEqual([0]);
  });
});
