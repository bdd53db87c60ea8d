import * as fs from "node:fs";
import * as path from "node:path";
import { pathToFileURL } from "node:url";
import * as tf from "@tensorflow/tfjs";
import { afterAll, describe, expect, it } from "vitest";
import { compileText } from "../../src/compile.ts";
import { NO_PASSES, ALL_PASSES, type OptSet } from "../../src/codegen/opt.ts";
import { listCheckpoints, loadCheckpoint } from "../../src/runtime/checkpoint.ts";
import { ROOT } from "../helpers.ts";
import { shrink } from "../variants/spec-mutations.ts";
import { scaleStylegan2Spec } from "../../bench/models.ts";

/*
 * Proof that the optimization passes change nothing but speed: for every spec in specs/, the optimized
 * trainer (every pass on) and the layer-by-layer reference (`ganc compile --no-opt`), with the same seed,
 * train 10 iterations at batch 8 (4 at 32x32), and give the same losses (every loss, logged value and state,
 * at every iteration) and the same final checkpoint (every variable, state and optimizer slot) to 1e-5
 * relative.
 *
 * In fact they agree bit for bit, and must: these GANs amplify any rounding difference. Changing only
 * how the gradient of one bce_logits is rounded (the same derivative, fewer kernels) moves G's weights by
 * 1e-4 relative after one iteration and by 1e-1 after ten, because Adam's first steps move every weight
 * by about +-lr whatever the size of its gradient, so gradients that are rounding noise (a bias right
 * before a batch norm, sums that cancel) pick their sign from the rounding. So every pass reproduces
 * tfjs's float32 operations exactly (see src/runtime/fused/), and this test would catch one that did not.
 */

// Every spec on wasm, and a fixture with every layer kind the passes fuse (softmax, dropout, upsample,
// tanh, batch norm without scale or offset, layers without bias, taps on a linear layer) at small sizes,
// on wasm and on cpu.
const runs: [string, "wasm" | "cpu"][] = [
  ...fs.readdirSync(path.join(ROOT, "specs")).filter((f) => f.endsWith(".gan")).sort().map((f): [string, "wasm"] => [`specs/${f}`, "wasm"]),
  ["test/fixtures/opt-layers.gan", "wasm"],
  ["test/fixtures/opt-layers.gan", "cpu"],
  ["test/fixtures/resample-layers.gan", "wasm"],
  ["test/fixtures/resample-layers.gan", "cpu"],
  // joins and `from` (G runs layer by layer: multiply and a concat of a named value have no fused form; D's
  // residual add is fused)
  ["test/fixtures/graph-joins.gan", "wasm"],
  // blocks: G's residual blocks (batch norm and a shortcut read each block's input) and D's plain blocks, fused
  ["test/fixtures/graph-blocks.gan", "wasm"],
  // a class embedding of G that D reads (share=G): G's step trains it through D too, D's step only reads it
  ["test/fixtures/shared-embed.gan", "wasm"],
  // diffaug where reuse-forward must not carry a pass on augmented images to the next step, and in grad()
  ["test/fixtures/diffaug-reuse.gan", "wasm"],
  ["test/fixtures/diffaug-reuse.gan", "cpu"],
  // lazy regularization: an R1 step on D's optimizer every 4 iterations (iterations 4 and 8 of the 10)
  ["test/fixtures/lazy-r1.gan", "wasm"],
  // minibatch_stddev in D (the net runs layer by layer) with an R1 penalty through it
  ["test/fixtures/mbstd.gan", "wasm"],
  // a skip generator of modulated convolutions (G runs layer by layer: modconv reads the style w) and a
  // residual D with an R1 penalty (wasm only: 10 iterations at 28x28 take ~100 s on cpu; test/layers/modconv.test.ts
  // proves the layer on both)
  ["test/fixtures/modconv-skip.gan", "wasm"],
  // style mixing (mix, drawn per step from the run's keys) into a synthesis net of style() and cbn layers, and
  // a mapping net with track_avg (both run layer by layer)
  ["test/fixtures/style-mix.gan", "wasm"],
  // StyleGAN2's pieces: pixelnorm, lr_mul and equalized layers, a learned constant, noise inputs (G runs
  // layer by layer and draws its noise from the run's seeds in the same order)
  ["test/fixtures/stylegan-mini.gan", "wasm"],
];
// The specs run narrowed to 8 channels and units (test/variants/spec-mutations.ts: the same layers, blocks,
// joins, attention and spectral norm, and outputs of 1, 10 and 12 units keep their width): the SNGAN and
// SAGAN ResNets at full width (256 and 128 channels at 32x32) take minutes per iteration on a small CPU,
// and the MNIST variants' 1024-unit and 7*7*128 layers made each of them hundreds of megabytes of weights
// and Adam moments to initialize, checkpoint and compare, for the same kernels as at width 8. ring8's
// small MLP keeps its width; the seed GAN and biggan_lite are reduced their own way (REDUCED).
const FULL_WIDTH = new Set(["specs/ring8.gan"]);
/**
 * Specs trained here at reduced width, their own way:
 * - the seed GAN keeps the inputs of its long reductions, so that products of 1,024 and 6,272 terms (long
 *   enough for BLAS to sum them in blocks) are proven too: G's first dense layer stays 1024 units wide
 *   (G's second then sums 1,024 terms) and D's convs stay 64 and 128 channels (D's conv 128 sums 1,024
 *   terms, its dense layer the 6,272 of the flattened 7x7x128), while the layers they feed narrow to 8
 *   (G's 7*7*128 and deconv 64, D's dense 1024): 0.6 million weights instead of 13.
 * - biggan_lite's 128 (z, the class embeddings and every block's channels) becomes 8 and its data the first
 *   64 colored digits (they are made image by image when loaded), so its 10 iterations of 4 D steps and a G
 *   step at 32x32 stay small. Its nets run layer by layer in the optimized trainer too (embed, chunk, cbn and
 *   dot have no fused form); the passes that still apply are the loss forms, hoisting and Adam.
 */
const REDUCED: Record<string, (text: string) => string> = {
  "specs/gan.gan": (t) =>
    t.replace("dense 7*7*128,", "dense 7*7*8,").replace("reshape [7, 7, 128]", "reshape [7, 7, 8]").replace("deconv 64 ", "deconv 8 ").replace("flatten, dense 1024,", "flatten, dense 8,"),
  "specs/biggan_lite.gan": (t) => t.replace(/\b128\b/g, "8").replace("mnist_color(batch=50)", "mnist_color(batch=50, limit=64)"),
  // stylegan2_lite at width 1/16 (G 8-8-4-4 channels, D 4-4-8-8, z and w 8) on 64 digits, its lazy R1 every
  // 4 iterations instead of 16 so that it runs twice (iterations 4 and 8) with D's adjusted Adam; G and M
  // run layer by layer (modconv, style, noise, track_avg), D too (minibatch stddev, equalized convs)
  "specs/stylegan2_lite.gan": (t) => scaleStylegan2Spec(t, { width: 1 / 16, batch: 32, limit: 64, every: 4 }),
};
/**
 * Batch 8, and 4 for the specs at 32x32 (their convolutions, attention and layer-by-layer nets cost the most
 * per sample); batch norm, the per-sample penalties and every mean over the batch work the same at either.
 */
const BATCH: Record<string, number> = { "specs/biggan_lite.gan": 4, "specs/dcgan.gan": 4, "specs/dcgan_diffaug.gan": 4, "specs/sagan.gan": 4, "specs/sngan_resnet.gan": 4 };
const STEPS = 10;
const TOL = 1e-5;
// Inside the repository (in an ignored folder), so that the trainers resolve @tensorflow/tfjs to the
// package this process already loaded.
fs.mkdirSync(path.join(ROOT, ".cache"), { recursive: true });
const work = fs.mkdtempSync(path.join(ROOT, ".cache", "equiv-"));

afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

interface Trained {
  code: string;
  /** name -> value at each iteration */
  series: Record<string, number[]>;
  tensors: Map<string, Float32Array | Int32Array | Uint8Array>;
}

/** Compiles `spec` with `passes` and trains it in this process (tfjs and the runtime loaded once). */
async function train(spec: string, backend: string, passes: OptSet, tag: string): Promise<Trained> {
  const full = fs.readFileSync(path.join(ROOT, spec), "utf8");
  const narrowed = spec.startsWith("specs/") && !FULL_WIDTH.has(spec) && !(spec in REDUCED);
  const text = narrowed ? shrink(full) : (REDUCED[spec] ?? ((t: string) => t))(full);
  if (narrowed || REDUCED[spec]) expect(text).not.toBe(full);
  const dir = path.join(work, `${path.basename(spec)}-${backend}-${tag}`);
  fs.mkdirSync(dir, { recursive: true });
  const runtime = path.relative(dir, path.join(ROOT, "src/runtime/index.ts")).split(path.sep).join("/");
  const r = compileText(text, spec, { source: spec, runtimeImport: runtime, passes });
  expect(r.code, r.diagnostics.map((d) => d.message).join("; ")).not.toBeNull();
  const file = path.join(dir, "trainer.ts");
  fs.writeFileSync(file, r.code!.replace(/\nrt\.runIfMain\(import\.meta\.url, main\);\n$/, "\n"));
  const mod = (await import(pathToFileURL(file).href)) as { main: (argv: string[]) => Promise<number> };
  const out = path.join(dir, "run");
  try {
    const code = await mod.main(["--out", out, "--steps", String(STEPS), "--batch", String(BATCH[spec] ?? 8), "--seed", "11", "--backend", backend, "--quiet", "--log-every", "1", "--histogram-every", "0", "--sample-every", "1000"]);
    expect(code).toBe(0);
  } finally {
    tf.disposeVariables(); // the next trainer declares variables of the same names
  }
  const p = r.program!;
  const names = [...p.losses.map((l) => l.name), ...p.train.log, ...p.states.map((s) => s.name)];
  const rows = fs.readFileSync(path.join(out, "metrics.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l) as Record<string, number>);
  expect(rows.map((row) => row.step)).toEqual(Array.from({ length: STEPS }, (_, i) => i + 1));
  const series: Record<string, number[]> = {};
  for (const n of new Set(names)) if (n in rows[0]!) series[n] = rows.map((row) => row[n]!);
  const ckpt = loadCheckpoint(listCheckpoints(path.join(out, "checkpoints")).pop()!.file);
  return { code: r.code!, series, tensors: new Map(ckpt.tensors.map((t) => [t.name, t.data])) };
}

function relL2(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let d = 0;
  let n = 0;
  for (let i = 0; i < a.length; i++) {
    d += (a[i]! - b[i]!) ** 2;
    n += b[i]! ** 2;
  }
  return d === 0 ? 0 : Math.sqrt(d / n);
}

describe("optimized trainers compute what the layer-by-layer reference computes", () => {
  for (const [spec, backend] of runs) {
    it(`${spec} on ${backend}: ${STEPS} iterations, same losses and weights to ${TOL} relative`, async () => {
      const ref = await train(spec, backend, NO_PASSES, "ref");
      const opt = await train(spec, backend, ALL_PASSES, "opt");
      expect(opt.code).not.toBe(ref.code);
      expect(opt.code).toContain("rt.fused.");

      expect(Object.keys(opt.series).sort()).toEqual(Object.keys(ref.series).sort());
      expect(Object.keys(ref.series).length).toBeGreaterThan(0);
      for (const [name, a] of Object.entries(ref.series)) {
        const b = opt.series[name]!;
        const scale = Math.max(...a.map(Math.abs), 1e-30);
        a.forEach((x, i) => {
          expect(Math.abs(b[i]! - x) / scale, `${name} at iteration ${i + 1}: ${x} (reference) vs ${b[i]} (optimized)`).toBeLessThanOrEqual(TOL);
        });
      }

      expect([...opt.tensors.keys()].sort()).toEqual([...ref.tensors.keys()].sort());
      expect([...ref.tensors.keys()].some((k) => k.startsWith("var:"))).toBe(true);
      for (const [name, a] of ref.tensors) {
        const b = opt.tensors.get(name)!;
        expect(b.length, name).toBe(a.length);
        expect(relL2(a, b), name).toBeLessThanOrEqual(TOL);
      }
    }, 300_000);
  }
});
