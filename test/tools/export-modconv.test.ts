/**
 * `ganc export` of a generator of modulated convolutions (test/fixtures/modconv-skip.gan): each modconv is
 * the custom layer GancModConv of the ganc-layers.mjs written next to the model; plain tfjs loads the model
 * once that file's registerGancLayers(tf) has run, and the model reproduces `ganc sample` on the noise the
 * export writes.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { pathToFileURL } from "node:url";
import { describe, expect, it } from "vitest";
// Only tfjs itself: the exported model must load without ganc.
import * as tf from "@tensorflow/tfjs";
import { ganc, gancInProcess, tmpDir } from "../helpers.ts";
import { fileHandler } from "../model-files.ts";

describe("ganc export of modulated convolutions", () => {
  it("writes GancModConv layers in ganc-layers.mjs; plain tfjs loads the model after registerGancLayers(tf) and reproduces ganc sample", async () => {
    const run = path.join(tmpDir(), "run");
    // train and sample run inside the test process (gancInProcess); export in its own, as it registers the
    // custom layers in the tfjs it runs on, and this process's tfjs must not know them before the test does
    const r = await gancInProcess(["train", "test/fixtures/modconv-skip.gan", "--out", run, "--steps", "3", "--seed", "5", "--quiet"]);
    expect(r.code, r.stderr).toBe(0);
    const out = path.join(run, "exported");
    const e = ganc(["export", run, "-o", out, "--json"]);
    expect(e.code, e.stderr).toBe(0);
    expect(JSON.parse(e.stdout).files.map((f: string) => path.basename(f))).toContain("ganc-layers.mjs");
    const topology = JSON.parse(fs.readFileSync(path.join(out, "model.json"), "utf8")).modelTopology;
    const layers = topology.config.layers as { class_name: string; config: { demod?: boolean; kernel_size?: number; filters?: number } }[];
    const mods = layers.filter((l) => l.class_name === "GancModConv");
    expect(mods.map((l) => `${l.config.filters} k${l.config.kernel_size} demod=${l.config.demod}`)).toEqual(["8 k3 demod=true", "8 k3 demod=true", "1 k1 demod=false", "8 k3 demod=true", "8 k3 demod=true", "1 k1 demod=false"]);
    // Without the custom layers tfjs cannot read the model.
    await expect(tf.loadLayersModel(fileHandler(out))).rejects.toThrow(/GancModConv|Unknown layer/);

    const mod = (await import(pathToFileURL(path.join(out, "ganc-layers.mjs")).href)) as { registerGancLayers: (t: typeof tf) => unknown };
    mod.registerGancLayers(tf);
    const s = await gancInProcess(["sample", run, "-n", "16", "-o", path.join(run, "s.json")]);
    expect(s.code, s.stderr).toBe(0);
    const sampled = JSON.parse(fs.readFileSync(path.join(run, "s.json"), "utf8")) as { shape: number[]; data: number[] };
    const model = await tf.loadLayersModel(fileHandler(out));
    const meta = (model.getUserDefinedMetadata() as { ganc: { inputs: { name: string }[] } }).ganc;
    const noise = JSON.parse(fs.readFileSync(path.join(out, "sample-noise.json"), "utf8")) as { inputs: Record<string, { shape: number[]; data: number[] }> };
    expect(meta.inputs.map((i) => i.name)).toEqual(["z"]);
    const feed = tf.tensor(noise.inputs.z!.data, noise.inputs.z!.shape);
    const y = model.predict(feed) as tf.Tensor;
    expect(y.shape).toEqual(sampled.shape);
    const got = await y.data();
    tf.dispose([y, feed]);
    model.dispose();
    let maxDiff = 0;
    for (let i = 0; i < got.length; i++) maxDiff = Math.max(maxDiff, Math.abs(got[i]! - sampled.data[i]!));
    expect(maxDiff).toBeLessThan(1e-4);
    // the samples are not constant (the styles reach the images)
    expect(Math.max(...sampled.data) - Math.min(...sampled.data)).toBeGreaterThan(1e-3);
  }, 300_000);
});
