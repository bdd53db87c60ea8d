import * as fs from "node:fs";
import * as path from "node:path";
import { pathToFileURL } from "node:url";
// Only tfjs itself for the exported model: it must load without ganc.
import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import { listCheckpoints, loadCheckpoint } from "../../src/runtime/checkpoint.ts";
import { scaleStylegan2Spec } from "../../bench/models.ts";
import { ganc, gancInProcess, readJsonl, ROOT, tmpDir } from "../helpers.ts";
import { fileHandler } from "../model-files.ts";

/*
 * specs/stylegan2_lite.gan trained briefly at width 1/16 (G 8-8-4-4 channels, D 4-4-8-8, z and w 8; every
 * layer, block, loss, step and setting of the spec as written, bench/models.ts scaleStylegan2Spec) on 64
 * colored digits, its lazy R1 every 2 iterations so that it runs within the 4: then `ganc sample
 * --truncation 0.7` on the run, and `ganc export --truncation 0.7` of its generator (M, the truncation, the
 * style stack and G with its modulated convs, noise inputs and constant, EMA weights) loaded by plain tfjs
 * and compared with ganc sample.
 */
const STEPS = 4;
let dir: string;
let run: string;

interface Sampled {
  shape: number[];
  data: number[];
}

// The commands run inside the test process (gancInProcess): the tests are about what they compute.
async function sample(n: number, args: string[] = []): Promise<Sampled> {
  const file = path.join(run, `s-${args.join("_") || "plain"}.json`);
  const r = await gancInProcess(["sample", run, "-n", String(n), "-o", file, ...args]);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(fs.readFileSync(file, "utf8")) as Sampled;
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

beforeAll(async () => {
  dir = tmpDir("ganc-stylegan2-");
  const spec = path.join(dir, "stylegan2_lite.gan");
  const full = fs.readFileSync(path.join(ROOT, "specs/stylegan2_lite.gan"), "utf8");
  const text = scaleStylegan2Spec(full, { width: 1 / 16, batch: 8, limit: 64, every: 2 });
  expect(text).toContain("modconv(8, 3, w0)");
  expect(text).toContain("every(2, d_reg, adjust=true)");
  fs.writeFileSync(spec, text);
  run = path.join(dir, "run");
  const r = await gancInProcess(["train", spec, "--out", run, "--steps", String(STEPS), "--seed", "3", "--backend", "wasm", "--log-every", "1", "--sample-every", String(STEPS), "--quiet"]);
  expect(r.code, r.stderr).toBe(0);
}, 300_000);

describe("specs/stylegan2_lite.gan at width 1/16", () => {
  it("trains: finite losses every iteration, the lazy R1 on iterations 2 and 4 only, w_avg tracked", () => {
    const rows = readJsonl(path.join(run, "metrics.jsonl"));
    expect(rows.map((r) => r.step)).toEqual([1, 2, 3, 4]);
    for (const r of rows) expect(Number.isFinite(r.d) && Number.isFinite(r.g), JSON.stringify(r)).toBe(true);
    expect(rows.filter((r) => r.r1 !== undefined).map((r) => r.step)).toEqual([2, 4]);
    for (const r of rows.filter((x) => x.r1 !== undefined)) expect(r.r1).toBeGreaterThan(0);
    const ckpt = loadCheckpoint(listCheckpoints(path.join(run, "checkpoints")).pop()!.file);
    const avg = ckpt.tensors.find((t) => t.name === "var:M/track_avg1/avg")!;
    expect(avg.data.length).toBe(8);
    expect(Array.from(avg.data).some((v) => v !== 0)).toBe(true);
    expect(fs.existsSync(path.join(run, "samples", "latest.png"))).toBe(true);
  });

  it("ganc sample --truncation 0.7: images in [0, 1] that differ from psi 1, which is plain sampling", async () => {
    const n = 8;
    const plain = await sample(n);
    const one = await sample(n, ["--truncation", "1"]);
    const truncated = await sample(n, ["--truncation", "0.7"]);
    expect(truncated.shape).toEqual([n, 32, 32, 3]);
    expect(one.data).toEqual(plain.data);
    expect(truncated.data.every((v) => v >= 0 && v <= 1)).toBe(true);
    expect(maxAbsDiff(truncated.data, plain.data)).toBeGreaterThan(1e-6);
  });

  it("ganc export --truncation 0.7: plain tfjs loads the generator after registerGancLayers(tf) and reproduces ganc sample --truncation 0.7", async () => {
    const out = path.join(dir, "exported");
    // export in its own process: it registers the custom layers in the tfjs it runs on, which would hide
    // what ganc-layers.mjs registers here
    const e = ganc(["export", run, "-o", out, "--truncation", "0.7", "--json"]);
    expect(e.code, e.stderr).toBe(0);
    expect(JSON.parse(e.stdout).files.map((f: string) => path.basename(f))).toContain("ganc-layers.mjs");
    const topology = JSON.stringify(JSON.parse(fs.readFileSync(path.join(out, "model.json"), "utf8")).modelTopology);
    for (const layer of ["GancPixelNorm", "GancTruncate", "GancConst", "GancModConv", "GancNoise"]) expect(topology).toContain(`"class_name":"${layer}"`);
    const n = 16;
    const sampled = await sample(n, ["--truncation", "0.7"]);
    const mod = (await import(pathToFileURL(path.join(out, "ganc-layers.mjs")).href)) as { registerGancLayers: (t: typeof tf) => unknown };
    mod.registerGancLayers(tf);
    const model = await tf.loadLayersModel(fileHandler(out));
    const meta = (model.getUserDefinedMetadata() as { ganc: { inputs: { name: string }[]; styles: { mapping: string; count: number; truncation: { psi: number; wAvg: number[] } } } }).ganc;
    expect(meta.inputs.map((i) => i.name)).toEqual(["z"]);
    expect(meta.styles.mapping).toBe("M");
    expect(meta.styles.count).toBe(8);
    expect(meta.styles.truncation.psi).toBe(0.7);
    const ckpt = loadCheckpoint(listCheckpoints(path.join(run, "checkpoints")).pop()!.file);
    expect(meta.styles.truncation.wAvg).toEqual(Array.from(ckpt.tensors.find((t) => t.name === "var:M/track_avg1/avg")!.data));
    const noise = JSON.parse(fs.readFileSync(path.join(out, "sample-noise.json"), "utf8")) as { inputs: Record<string, { shape: number[]; data: number[] }> };
    const z = tf.tensor(noise.inputs.z!.data, noise.inputs.z!.shape);
    const y = model.predict(z) as tf.Tensor;
    expect(y.shape).toEqual(sampled.shape);
    const got = await y.data();
    tf.dispose([y, z]);
    model.dispose();
    expect(maxAbsDiff(got, sampled.data)).toBeLessThan(1e-4);
    // the samples are not constant (the styles and the noise reach the images)
    expect(Math.max(...sampled.data) - Math.min(...sampled.data)).toBeGreaterThan(1e-3);
  }, 300_000);
});
