import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as http from "node:http";
import * as path from "node:path";
import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";
import { beforeAll, describe, expect, it } from "vitest";
// Only tfjs itself: the exported model must load without ganc.
import * as tf from "@tensorflow/tfjs";
import { CHROMIUM, chromiumAsync } from "../browser.ts";
import { ganc, gancInProcess, ROOT, tmpDir, type CliResult } from "../helpers.ts";
import { shrink } from "../variants/spec-mutations.ts";
import { fileHandler } from "../model-files.ts";
import { listCheckpoints, loadCheckpoint } from "../../src/runtime/checkpoint.ts";
import { compileText } from "../../src/compile.ts";
import { affineRange, foldSamples } from "../../src/tools/export.ts";

interface NoiseFile {
  inputs: Record<string, { shape: number[]; data: number[] }>;
  outputs: { shape: number[]; data: number[] };
}

/**
 * The commands run inside the test process (gancInProcess): this file is about what export writes. The first
 * test runs `ganc export` and `ganc sample` as real processes, so do the tests of the custom layers (which load
 * the model with plain tfjs and the exported ganc-layers.mjs), and one test checks the exit codes and messages
 * of a failed export's process.
 */
/** Exports `run`, loads the model with plain tfjs, feeds it the trainer's fixed noise and compares with `ganc sample`. */
async function exportAndCompare(run: string, n: number, cli: (args: string[]) => CliResult | Promise<CliResult> = gancInProcess) {
  const out = path.join(run, "exported");
  const r = await cli(["export", run, "-o", out, "--json"]);
  expect(r.code, r.stderr).toBe(0);
  const written = JSON.parse(r.stdout);
  expect(fs.existsSync(path.join(out, "model.json"))).toBe(true);
  expect(written.files.length).toBeGreaterThanOrEqual(3);

  const s = await cli(["sample", run, "-n", String(n), "-o", path.join(run, "s.json")]);
  expect(s.code, s.stderr).toBe(0);
  const sampled = JSON.parse(fs.readFileSync(path.join(run, "s.json"), "utf8")) as { shape: number[]; data: number[] };

  const model = await tf.loadLayersModel(fileHandler(out));
  const meta = (model.getUserDefinedMetadata() as { ganc: { inputs: { name: string }[]; output: { shape: number[]; range: [number, number] | null } } }).ganc;
  const noise = JSON.parse(fs.readFileSync(path.join(out, "sample-noise.json"), "utf8")) as NoiseFile;
  const feed = meta.inputs.map((i) => tf.tensor(noise.inputs[i.name]!.data, noise.inputs[i.name]!.shape));
  const y = model.predict(feed.length === 1 ? feed[0]! : feed) as tf.Tensor;
  const got = await y.data();
  tf.dispose([y, ...feed]);
  model.dispose();
  expect(y.shape).toEqual(sampled.shape);
  expect([...y.shape.slice(1)]).toEqual(meta.output.shape);
  let maxDiff = 0;
  for (let i = 0; i < got.length; i++) maxDiff = Math.max(maxDiff, Math.abs(got[i]! - sampled.data[i]!));
  expect(maxDiff).toBeLessThan(1e-4);
  // The outputs in sample-noise.json are the same values.
  expect(Math.max(...noise.outputs.data.map((v, i) => Math.abs(v - sampled.data[i]!)))).toBeLessThan(1e-4);
  return { out, meta };
}

let mlpRun = "";
beforeAll(async () => {
  mlpRun = path.join(tmpDir(), "run");
  const r = await gancInProcess(["train", "test/fixtures/mlp-mnist.gan", "--out", mlpRun, "--steps", "100", "--quiet"]);
  expect(r.code, r.stderr).toBe(0);
}, 120_000);

describe("ganc export", () => {
  it("writes a layers model that plain tfjs loads and that reproduces ganc sample on the same noise", async () => {
    // ganc export and ganc sample as real processes, the way a user runs them.
    const { meta } = await exportAndCompare(mlpRun, 16, ganc);
    expect(meta).toMatchObject({ net: "G", inputs: [{ name: "z", kind: "noise", dist: "uniform", low: -1, high: 1, shape: [32] }], output: { shape: [28, 28, 1], range: [0, 1] } });
    expect(meta.inputs[0]).not.toHaveProperty("a");
  }, 60_000);

  it("maps every layer kind: conditional concat (vector and image), spectral norm, batch norm, dropout, deconv, upsample, layer norm, tanh", async () => {
    const run = path.join(tmpDir(), "run");
    const r = await gancInProcess(["train", "test/fixtures/export-kinds.gan", "--out", run, "--quiet"]);
    expect(r.code, r.stderr).toBe(0);
    const { meta, out } = await exportAndCompare(run, 16);
    expect(meta.inputs.map((i) => i.name)).toEqual(["z", "y"]);
    expect(meta).toMatchObject({ inputs: [{ kind: "noise", dist: "normal", mean: 0, std: 1 }, { kind: "label", classes: 10 }], output: { range: [-1, 1] } });
    const topology = JSON.parse(fs.readFileSync(path.join(out, "model.json"), "utf8")).modelTopology.config.layers.map((l: { class_name: string }) => l.class_name);
    expect(topology).toEqual(expect.arrayContaining(["Concatenate", "UpSampling2D", "BatchNormalization", "Conv2DTranspose", "LayerNormalization", "LeakyReLU"]));
  }, 60_000);

  it("maps the resampling layers to plain tfjs layers: average pooling, bilinear upsampling as one bias-free Dense per axis, global sum as global average times the positions", async () => {
    const run = path.join(tmpDir(), "run");
    const r = await gancInProcess(["train", "test/fixtures/export-resample.gan", "--out", run, "--quiet"]);
    expect(r.code, r.stderr).toBe(0);
    const { out } = await exportAndCompare(run, 16);
    const topology = JSON.parse(fs.readFileSync(path.join(out, "model.json"), "utf8")).modelTopology.config.layers.map((l: { class_name: string }) => l.class_name);
    expect(topology).toEqual(expect.arrayContaining(["AveragePooling2D", "GlobalAveragePooling2D", "Rescaling", "Permute", "UpSampling2D"]));
  }, 60_000);

  it("exports a net with several paths as a functional model: Add, Multiply and Concatenate joins, from(x)", async () => {
    const run = path.join(tmpDir(), "run");
    const r = await gancInProcess(["train", "test/fixtures/graph-joins.gan", "--out", run, "--steps", "2", "--quiet"]);
    expect(r.code, r.stderr).toBe(0);
    const { out } = await exportAndCompare(run, 16);
    const topology = JSON.parse(fs.readFileSync(path.join(out, "model.json"), "utf8")).modelTopology.config.layers.map((l: { class_name: string }) => l.class_name);
    expect(topology).toEqual(expect.arrayContaining(["Add", "Multiply", "Concatenate"]));
  }, 60_000);

  it("folds self-attention into plain tfjs layers (1x1 convs, 2x2 max pooling, two Dot products around a Softmax, gamma in the output kernel), with and without spectral norm", async () => {
    const run = path.join(tmpDir(), "run");
    const r = await gancInProcess(["train", "test/fixtures/export-attention.gan", "--out", run, "--quiet"]);
    expect(r.code, r.stderr).toBe(0);
    const { out } = await exportAndCompare(run, 16);
    const layers = JSON.parse(fs.readFileSync(path.join(out, "model.json"), "utf8")).modelTopology.config.layers as { class_name: string; name: string }[];
    expect(layers.filter((l) => l.class_name === "Dot").map((l) => l.name)).toEqual(["attention1_scores", "attention1_attend", "attention2_scores", "attention2_attend"]);
    expect(layers.map((l) => l.class_name)).toEqual(expect.arrayContaining(["MaxPooling2D", "Softmax", "Add"]));
  }, 60_000);

  // The reference specs with blocks, residual joins and attention, narrowed (test/variants/spec-mutations.ts) and trained two steps.
  it.each(["sngan_resnet", "sagan", "dcgan", "dcgan_diffaug"])("exports specs/%s.gan (narrowed): the exported G equals ganc sample", async (spec) => {
    const dir = tmpDir();
    const file = path.join(dir, `${spec}.gan`);
    fs.writeFileSync(file, shrink(fs.readFileSync(path.join(ROOT, "specs", `${spec}.gan`), "utf8")));
    const run = path.join(dir, "run");
    const r = await gancInProcess(["train", file, "--out", run, "--steps", "2", "--batch", "4", "--quiet"]);
    expect(r.code, r.stderr).toBe(0);
    const { meta, out } = await exportAndCompare(run, 16);
    if (spec.startsWith("dcgan")) {
      // samples = 0.5 * fake + 0.5 with fake = G(z) ending in tanh: one Rescaling layer after G, range [0, 1]
      expect(meta.output.range).toEqual([0, 1]);
      const layers = JSON.parse(fs.readFileSync(path.join(out, "model.json"), "utf8")).modelTopology.config.layers as { class_name: string; config: { scale: number; offset: number } }[];
      expect(layers.at(-1)).toMatchObject({ class_name: "Rescaling", config: { scale: 0.5, offset: 0.5 } });
    }
  }, 120_000);

  describe("the samples expression folded into scale * G(...) + offset (affine)", () => {
    const base = fs.readFileSync(path.join(ROOT, "test/fixtures/mlp-mnist.gan"), "utf8");
    const program = (e: string) => {
      const c = compileText(base.replace("fake = G(z)\n", `fake = G(z)\nimage = ${e}\n`).replace("train { ", "train { samples=image, "), "fold.gan");
      expect(c.program, e).toBeTruthy();
      return c.program!;
    };
    it.each([
      ["2 * (G(z) - 0.25)", 2, -0.5],
      ["G(z) / 4 + 1", 0.25, 1],
      ["G(z) * 3", 3, 0],
      ["G(z) + 0.5", 1, 0.5],
      ["0.5 + 0.5 * fake", 0.5, 0.5],
      ["(fake - 1) / 2", 0.5, -0.5],
      ["0.5 - fake * 2", -2, 0.5],
      ["-fake", -1, 0],
      ["fake", 1, 0],
    ])("folds %s", (e, scale, offset) => {
      const p = program(e);
      const f = foldSamples(p);
      expect(p.nodes[f.apply]).toMatchObject({ op: "apply", net: "G" });
      expect(f.scale).toBeCloseTo(scale as number, 12);
      expect(f.offset).toBeCloseTo(offset as number, 12);
    });
    it("maps the output range, a negative scale swapping the ends", () => {
      expect(affineRange([-1, 1], 0.5, 0.5)).toEqual([0, 1]);
      expect(affineRange([0, 1], -2, 0.5)).toEqual([-1.5, 0.5]);
      expect(affineRange(null, 2, 1)).toBeNull();
    });
    it.each([
      ["G(z) * G(z)", /two net applications/],
      ["1 / fake", /divide by G\(\.\.\.\)/],
      ["abs(G(z))", /the function abs/],
      ["fake * real", /the data real/],
    ])("refuses %s with what it cannot export", (e, msg) => {
      expect(() => foldSamples(program(e))).toThrow(/export needs samples = a \* G\(\.\.\.\) \+ b/);
      expect(() => foldSamples(program(e))).toThrow(msg);
    });
    it("refuses mean(G(z)) (the checker already rejects it as samples)", () => {
      const c = compileText(base.replace("fake = G(z)\n", "fake = G(z)\nimage = mean(G(z))\n").replace("train { ", "train { samples=image, "), "fold.gan");
      expect(c.program).toBeFalsy();
    });
  });

  it("exports a net of block instances: one Keras layer per layer of each instance, named by instance", async () => {
    const run = path.join(tmpDir(), "run");
    const r = await gancInProcess(["train", "test/fixtures/graph-blocks.gan", "--out", run, "--steps", "2", "--quiet"]);
    expect(r.code, r.stderr).toBe(0);
    const { out } = await exportAndCompare(run, 16);
    const names = JSON.parse(fs.readFileSync(path.join(out, "model.json"), "utf8")).modelTopology.config.layers.map((l: { name: string }) => l.name);
    expect(names).toEqual(expect.arrayContaining(["up1_conv1", "up2_conv1", "up3_add1"]));
  }, 60_000);

  it("exports biggan_lite (at width 8) with the custom layers of ganc-layers.mjs: plain tfjs loads it after registerGancLayers(tf) and reproduces ganc sample, EMA weights included", async () => {
    const dir = tmpDir();
    const spec = path.join(dir, "biggan_lite.gan");
    const text = fs.readFileSync(path.join(ROOT, "specs/biggan_lite.gan"), "utf8").replace(/\b128\b/g, "8").replace("mnist_color(batch=50)", "mnist_color(batch=8, limit=64)");
    fs.writeFileSync(spec, text);
    const run = path.join(dir, "run");
    const r = await gancInProcess(["train", spec, "--out", run, "--steps", "3", "--quiet"]);
    expect(r.code, r.stderr).toBe(0);
    const out = path.join(run, "exported");
    // Without the custom layers tfjs cannot read the model. The exports of the earlier tests ran in this process
    // and registered ganc's own copies of the custom layers with tfjs: this test takes them out, to load the model
    // with plain tfjs and then with the classes of the exported ganc-layers.mjs alone, and runs its exports as
    // real processes (an export in this process would register ganc's copies again).
    const classes = tf.serialization.SerializationMap.getMap().classNameMap;
    for (const name of Object.keys(classes)) if (name.startsWith("Ganc")) delete classes[name];
    const e = ganc(["export", run, "-o", out, "--json"]);
    expect(e.code, e.stderr).toBe(0);
    expect(JSON.parse(e.stdout).files.map((f: string) => path.basename(f))).toContain("ganc-layers.mjs");
    await expect(tf.loadLayersModel(fileHandler(out))).rejects.toThrow(/GancSlice|GancCondBatchNorm|Unknown layer/);
    const mod = (await import(pathToFileURL(path.join(out, "ganc-layers.mjs")).href)) as { registerGancLayers: (t: typeof tf) => unknown };
    mod.registerGancLayers(tf);
    const { out: again } = await exportAndCompare(run, 16, ganc);
    const topology = JSON.stringify(JSON.parse(fs.readFileSync(path.join(again, "model.json"), "utf8")).modelTopology);
    expect(topology.match(/"class_name":"GancCondBatchNorm"/g)).toHaveLength(6);
    expect(topology.match(/"class_name":"GancSlice"/g)).toHaveLength(4);
    // ganc sample draws with the checkpoint's averaged weights, which differ from the trained ones
    const ckpt = loadCheckpoint(listCheckpoints(path.join(run, "checkpoints")).pop()!.file);
    const t = (n: string) => Array.from(ckpt.tensors.find((x) => x.name === n)!.data);
    const [raw, avg] = [t("var:G/dense1/kernel"), t("var:G/dense1/kernel/ema")];
    expect(Math.max(...raw.map((v, i) => Math.abs(v - avg[i]!)))).toBeGreaterThan(1e-5);
  }, 300_000);

  it("exports a StyleGAN2-style generator (test/fixtures/stylegan-mini.gan): lr_mul and equalized folded into the kernels, GancPixelNorm, GancConst, GancNoise drawing the sampling noise; plain tfjs reproduces ganc sample", async () => {
    const run = path.join(tmpDir(), "run");
    const r = await gancInProcess(["train", "test/fixtures/stylegan-mini.gan", "--out", run, "--steps", "2", "--quiet"]);
    expect(r.code, r.stderr).toBe(0);
    const out = path.join(run, "exported");
    // Real processes for the exports, as in the test above: the model loads with the exported file's classes.
    const e = ganc(["export", run, "-o", out, "--json"]);
    expect(e.code, e.stderr).toBe(0);
    const mod = (await import(pathToFileURL(path.join(out, "ganc-layers.mjs")).href)) as { registerGancLayers: (t: typeof tf) => unknown };
    mod.registerGancLayers(tf);
    const { out: again } = await exportAndCompare(run, 16, ganc);
    const json = JSON.parse(fs.readFileSync(path.join(again, "model.json"), "utf8"));
    const topology = JSON.stringify(json.modelTopology);
    expect(topology.match(/"class_name":"GancPixelNorm"/g)).toHaveLength(1);
    expect(topology.match(/"class_name":"GancConst"/g)).toHaveLength(1);
    expect(topology.match(/"class_name":"GancNoise"/g)).toHaveLength(2);
    // the first mapping layer's exported kernel is the stored one times lr_mul / sqrt(fan_in)
    const ckpt = loadCheckpoint(listCheckpoints(path.join(run, "checkpoints")).pop()!.file);
    const stored = ckpt.tensors.find((x) => x.name === "var:G/dense1/kernel")!.data;
    const model = await tf.loadLayersModel(fileHandler(again));
    const exported = model.layers.find((l) => l.name.includes("dense1"))!.getWeights()[0]!.dataSync();
    const w = Math.fround(0.01 / Math.sqrt(16));
    expect(Array.from(exported)).toEqual(Array.from(stored, (v) => Math.fround(v * w)));
    model.dispose();
  }, 300_000);

  it("a linear 2-D generator has no output range; a run trained with --seed has its noise in sample-noise.json", async () => {
    const run = path.join(tmpDir(), "run");
    const r = await gancInProcess(["train", "test/fixtures/ring8.gan", "--out", run, "--steps", "2", "--seed", "9", "--quiet"]);
    expect(r.code, r.stderr).toBe(0);
    const { meta } = await exportAndCompare(run, 16);
    expect(meta.output).toEqual({ shape: [2], range: null });
    expect(meta.inputs).toEqual([{ name: "z", kind: "noise", dist: "normal", mean: 0, std: 1, shape: [8] }]);
  }, 60_000);

  it("a run without checkpoints is an error (exit 1), a missing folder a usage error (exit 2)", () => {
    const dir = tmpDir();
    expect(ganc(["export", path.join(dir, "nope")]).code).toBe(2);
    fs.copyFileSync(path.join(mlpRun, "trainer.ts"), path.join(dir, "trainer.ts"));
    fs.copyFileSync(path.join(mlpRun, "spec.gan"), path.join(dir, "spec.gan"));
    const r = ganc(["export", dir]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^error: .*no checkpoint/m);
  });

  it.skipIf(!CHROMIUM)("the README's browser commands work in order from a clone, and the page draws digits in headless Chromium on its default backend", async () => {
    // The commands as the README gives them, run from the repository root with the run folder and the page's
    // folder moved to temporary ones.
    const readme = fs.readFileSync(path.join(ROOT, "README.md"), "utf8");
    const block = /draws samples from an exported generator in a page[\s\S]*?```sh\n([\s\S]*?)```/.exec(readme)?.[1];
    expect(block).toBeTruthy();
    const commands = block!.split("\n").map((l) => l.replace(/\s+#.*$/, "").trim()).filter(Boolean);
    expect(commands[0]).toMatch(/^node bin\/ganc\.mjs train \S+ --out runs\/mlp-mnist$/);
    expect(commands.at(-1)).toMatch(/^cd examples\/browser && python3 -m http\.server/);
    const site = tmpDir("ganc-site-");
    const run = path.join(tmpDir(), "run");
    fs.copyFileSync(path.join(ROOT, "examples/browser/index.html"), path.join(site, "index.html"));
    for (const c of commands.slice(0, -1)) {
      const cmd = c.replaceAll("runs/mlp-mnist", run).replaceAll("examples/browser", site);
      const r = spawnSync("sh", ["-c", cmd], { cwd: ROOT, encoding: "utf8", timeout: 240_000 });
      expect(r.status, `${cmd}\n${r.stderr}`).toBe(0);
    }
    expect(fs.existsSync(path.join(site, "model/model.json"))).toBe(true);
    expect(fs.existsSync(path.join(site, "tf.min.js"))).toBe(true);

    const types: Record<string, string> = { ".html": "text/html", ".js": "text/javascript", ".json": "application/json", ".bin": "application/octet-stream" };
    const requests: string[] = [];
    const server = http.createServer((req, res) => {
      const url = new URL(req.url ?? "/", "http://127.0.0.1");
      requests.push(url.pathname);
      const file = path.join(site, path.normalize(decodeURIComponent(url.pathname)).replace(/^([/\\])+/, "") || "index.html");
      if (!file.startsWith(site) || !fs.existsSync(file) || !fs.statSync(file).isFile()) {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(200, { "content-type": types[path.extname(file)] ?? "application/octet-stream" });
      fs.createReadStream(file).pipe(res);
    });
    await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
    const port = (server.address() as { port: number }).port;
    try {
      // No ?backend: what a visitor gets. Headless Chromium has no GPU; its WebGL is SwiftShader, where the
      // page used to stay on "loading" for good.
      const page = await chromiumAsync(`http://127.0.0.1:${port}/index.html`, ["--dump-dom", "--virtual-time-budget=60000"], { timeout: 120_000 });
      expect(page.code, page.stderr.slice(-2000)).toBe(0);
      const body = /<body([^>]*)>/.exec(page.stdout)?.[1] ?? "";
      expect(body, page.stdout.slice(-1500)).toContain('data-state="done"');
      const backend = /data-backend="(\w+)"/.exec(body)?.[1];
      const about = /<p id="about">([^<]*)/.exec(page.stdout)?.[1] ?? "";
      expect(about).toMatch(/, backend \w+/);
      // A page that does not run on WebGL says why.
      if (backend !== "webgl") expect(about).toMatch(/software rendering|not available|switched to the cpu backend/i);
      const ink = Number(/data-ink="([\d.]+)"/.exec(body)?.[1]);
      // Bright strokes cover a good part of each digit tile (a blank or black canvas has none).
      expect(ink).toBeGreaterThan(0.03);
      expect(page.stdout).toMatch(/drew 16 samples/);
      expect(page.console.filter((l) => /error|uncaught/i.test(l))).toEqual([]);
      // Everything came from the local server: the page, tfjs, the model and its weights.
      expect(requests).toEqual(expect.arrayContaining(["/index.html", "/tf.min.js", "/model/model.json", "/model/group1-shard1of1.bin"]));
    } finally {
      server.closeAllConnections();
      server.close();
    }
  }, 300_000);
});
