import * as fs from "node:fs";
import * as path from "node:path";
import { pathToFileURL } from "node:url";
// Only tfjs itself for the exported model: it must load without ganc.
import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import { listCheckpoints, loadCheckpoint } from "../../src/runtime/checkpoint.ts";
import { stripSpans } from "../../src/parser/ast.ts";
import { parseSpec } from "../../src/parser/index.ts";
import "../../src/parser/yaml/load.ts";
import { ganc, gancInProcess, readJsonl, tmpDir } from "../helpers.ts";
import { compileText } from "../../src/compile.ts";
import { keyState, Rng } from "../../src/runtime/rng.ts";
import { fileHandler } from "../model-files.ts";

/*
 * Style mixing and the truncation trick in a run of test/fixtures/style-mix.gan (a mapping net M ending in
 * track_avg, a synthesis net G reading a stack of 3 styles, mix(M(z), M(z2), 3, 0.9) in both losses,
 * samples = G(styles(truncate(M(z)), 3))): the run repeats with its seed and a resume reproduces it bit for
 * bit (the crossovers included: they are drawn from keys of the seed and the iteration); on the run's fixed
 * weights, `ganc sample --truncation psi` is the trainer with truncate written out by hand.
 * The commands run inside the test process (gancInProcess): this file is about what they compute.
 */
const SPEC = "test/fixtures/style-mix.gan";

async function train(out: string, args: string[]): Promise<void> {
  const r = await gancInProcess(["train", SPEC, "--out", out, "--backend", "wasm", "--quiet", ...args]);
  expect(r.code, r.stderr).toBe(0);
}

const lastCheckpoint = (out: string) => loadCheckpoint(listCheckpoints(path.join(out, "checkpoints")).pop()!.file);

function sameTensors(a: ReturnType<typeof loadCheckpoint>, b: ReturnType<typeof loadCheckpoint>): boolean {
  return a.meta.step === b.meta.step && a.tensors.length === b.tensors.length && a.tensors.every((t, i) => b.tensors[i]!.name === t.name && Buffer.from(b.tensors[i]!.data.buffer).equals(Buffer.from(t.data.buffer)));
}

interface Sampled {
  shape: number[];
  data: number[];
}

async function sample(run: string, n: number, args: string[] = []): Promise<Sampled> {
  const file = path.join(run, `s-${args.join("_") || "plain"}.json`);
  const r = await gancInProcess(["sample", run, "-n", String(n), "-o", file, ...args]);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(fs.readFileSync(file, "utf8")) as Sampled;
}

/** A copy of run folder `run` whose trainer computes the samples with `replacement` for the truncate() call. */
function edited(run: string, name: string, replacement: string): string {
  const dir = path.join(path.dirname(run), name);
  fs.cpSync(run, dir, { recursive: true });
  const file = path.join(dir, "trainer.ts");
  const code = fs.readFileSync(file, "utf8");
  const call = "rt.truncate(M_z.out, M_track_avg1_avg, run.truncation)";
  expect(code).toContain(call);
  fs.writeFileSync(file, code.replace(call, replacement));
  return dir;
}

const rows = (s: Sampled) => {
  const w = s.shape.slice(1).reduce((a, b) => a * b, 1);
  return Array.from({ length: s.shape[0]! }, (_, i) => s.data.slice(i * w, (i + 1) * w));
};

let dir = "";
let whole = "";
beforeAll(async () => {
  dir = tmpDir();
  whole = path.join(dir, "whole");
  await train(whole, ["--steps", "6", "--seed", "7"]);
}, 300_000);

describe("style mixing in a run", () => {
  it("the YAML form means what the .gan form means", () => {
    const a = parseSpec(fs.readFileSync(SPEC, "utf8"), SPEC);
    const b = parseSpec(fs.readFileSync(`${SPEC}.yaml`, "utf8"), `${SPEC}.yaml`);
    expect(a.diagnostics).toEqual([]);
    expect(b.diagnostics).toEqual([]);
    expect(stripSpans(b.spec!.decls)).toEqual(stripSpans(a.spec!.decls));
  });

  it("repeats with its seed, a resume at iteration 3 ends bit for bit where the whole run ends, another seed differs", async () => {
    const again = path.join(dir, "again");
    await train(again, ["--steps", "6", "--seed", "7"]);
    expect(sameTensors(lastCheckpoint(whole), lastCheckpoint(again))).toBe(true);
    const parts = path.join(dir, "parts");
    await train(parts, ["--steps", "3", "--seed", "7", "--checkpoint-every", "3"]);
    expect(listCheckpoints(path.join(parts, "checkpoints")).pop()!.step).toBe(3);
    await train(parts, ["--steps", "6", "--resume"]);
    expect(sameTensors(lastCheckpoint(whole), lastCheckpoint(parts))).toBe(true);
    const other = path.join(dir, "other");
    await train(other, ["--steps", "6", "--seed", "8"]);
    expect(sameTensors(lastCheckpoint(whole), lastCheckpoint(other))).toBe(false);
    // w_avg is checkpointed, and training moved it from its start at zero
    const avg = lastCheckpoint(whole).tensors.find((t) => t.name === "var:M/track_avg1/avg");
    expect(avg?.shape).toEqual([8]);
    expect(Array.from(avg!.data).some((v) => v !== 0)).toBe(true);
  }, 300_000);
});

describe("the crossover of each batch", () => {
  it("is StyleGAN2's draw from the run's generator at the key of (seed, iteration, batch, call site), logged iteration by iteration", async () => {
    // probe = the share of layers that take w2: (3 - c) / 3 for crossover c
    const text = fs.readFileSync(SPEC, "utf8")
      .replace("fake = G(", "probe = mean(mix(M(z) * 0, M(z) * 0 + 1, 3, 0.9))\nfake = G(")
      .replace("train { steps=10,", "train { steps=10, log=[probe], log_every=1,");
    const c = compileText(text, "probe.gan");
    expect(c.diagnostics.filter((d) => d.severity === "error")).toEqual([]);
    const p = c.program!;
    const call = p.nodes[p.values.probe!]! as { args: readonly number[] };
    const mixNode = call.args[0]!;
    expect(p.nodes[mixNode]).toMatchObject({ op: "call", fn: "mix" });
    const spec = path.join(dir, "probe.gan");
    fs.writeFileSync(spec, text);
    const shares = async (seed: number) => {
      const out = path.join(dir, `probe-${seed}`);
      const r = await gancInProcess(["train", spec, "--out", out, "--backend", "wasm", "--quiet", "--seed", String(seed)]);
      expect(r.code, r.stderr).toBe(0);
      return readJsonl(path.join(out, "metrics.jsonl")).map((row) => row.probe!);
    };
    const runs: number[][] = [];
    for (const seed of [7, 8]) {
      const got = await shares(seed);
      runs.push(got);
      const want = Array.from({ length: 10 }, (_, i) => {
        const g = Rng.fromState(keyState(`diffaug/${seed}/${i}/0/measure:${mixNode}`));
        const cutoff = 1 + Math.floor(g.uniform() * 2);
        const cross = g.uniform() < 0.9 ? cutoff : 3;
        return (3 - cross) / 3;
      });
      expect(got.map((v) => Math.round(v * 3))).toEqual(want.map((v) => Math.round(v * 3)));
      expect(new Set(want).size).toBeGreaterThan(1);
    }
    expect(runs[0]).not.toEqual(runs[1]); // another seed, other crossovers
  }, 300_000);
});

describe("the truncation trick on a run's fixed weights", () => {
  it("psi = 0 gives w_avg's image for every z; psi = 1 is no truncation; psi = 0.5 lies between", async () => {
    const n = 6;
    const zero = await sample(whole, n, ["--truncation", "0"]);
    const byHandZero = await sample(edited(whole, "avg-by-hand", "tf.tile(tf.expandDims(M_track_avg1_avg, 0), [M_z.out.shape[0]!, 1])"), n);
    expect(zero).toEqual(byHandZero);
    const r0 = rows(zero);
    for (const r of r0) expect(r).toEqual(r0[0]);

    const one = await sample(whole, n, ["--truncation", "1"]);
    const untruncated = edited(whole, "untruncated", "M_z.out");
    expect(one).toEqual(await sample(untruncated, n));
    expect(await sample(whole, n)).toEqual(one);
    expect(new Set(rows(one).map((r) => r.join(","))).size).toBe(n);

    const half = await sample(whole, n, ["--truncation", "0.5"]);
    const byHandHalf = await sample(edited(whole, "half-by-hand", "tf.add(M_track_avg1_avg, tf.mul(tf.sub(M_z.out, M_track_avg1_avg), 0.5))"), n);
    expect(half).toEqual(byHandHalf);
    expect(half).not.toEqual(one);
    expect(half).not.toEqual(zero);

    // a --truncation the samples do not use is an error, not a silent no-op
    const r = await gancInProcess(["sample", untruncated, "-n", "4", "-o", path.join(untruncated, "t.json"), "--truncation", "0.5"]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("do not use truncate()");
    expect(fs.existsSync(path.join(untruncated, "t.json"))).toBe(false);
  }, 300_000);
});

describe("ganc export of a style-based generator", () => {
  it("exports M, the truncation at --truncation 0.7, the style stack and G as one model that plain tfjs loads; w_avg and psi in its metadata; outputs equal ganc sample --truncation 0.7", async () => {
    const out = path.join(dir, "exported");
    // export in its own process: it registers the custom layers in the tfjs it runs on, which would hide
    // what ganc-layers.mjs registers here
    const e = ganc(["export", whole, "-o", out, "--truncation", "0.7", "--json"]);
    expect(e.code, e.stderr).toBe(0);
    expect(JSON.parse(e.stdout).files.map((f: string) => path.basename(f))).toContain("ganc-layers.mjs");
    const n = 16;
    const sampled = await sample(whole, n, ["--truncation", "0.7"]);
    // (before the model is loaded: a command run in this process disposes the variables it finds, as its process would end)
    const plain = await sample(whole, n);
    const mod = (await import(pathToFileURL(path.join(out, "ganc-layers.mjs")).href)) as { registerGancLayers: (t: typeof tf) => unknown };
    mod.registerGancLayers(tf);
    const model = await tf.loadLayersModel(fileHandler(out));
    const meta = (model.getUserDefinedMetadata() as { ganc: { inputs: { name: string }[]; styles: { mapping: string; count: number; truncation: { psi: number; wAvg: number[] } } } }).ganc;
    expect(meta.inputs.map((i) => i.name)).toEqual(["z"]);
    expect(meta.styles.mapping).toBe("M");
    expect(meta.styles.count).toBe(3);
    expect(meta.styles.truncation.psi).toBe(0.7);
    const avg = lastCheckpoint(whole).tensors.find((t) => t.name === "var:M/track_avg1/avg")!;
    expect(meta.styles.truncation.wAvg).toEqual(Array.from(avg.data));
    const noise = JSON.parse(fs.readFileSync(path.join(out, "sample-noise.json"), "utf8")) as { inputs: Record<string, { shape: number[]; data: number[] }> };
    const z = tf.tensor(noise.inputs.z!.data, noise.inputs.z!.shape);
    const y = model.predict(z) as tf.Tensor;
    expect(y.shape).toEqual(sampled.shape);
    const got = await y.data();
    let maxDiff = 0;
    for (let i = 0; i < got.length; i++) maxDiff = Math.max(maxDiff, Math.abs(got[i]! - sampled.data[i]!));
    expect(maxDiff).toBeLessThan(1e-5);
    // and the truncation is in the model: psi = 1 gives other outputs
    expect(sampled).not.toEqual(plain);
    tf.dispose([y, z]);
    model.dispose();
  }, 300_000);
});
