import * as fs from "node:fs";
import * as path from "node:path";
import { pathToFileURL } from "node:url";
import * as tf from "@tensorflow/tfjs";
import { afterAll, describe, expect, it } from "vitest";
import { compileText } from "../../src/compile.ts";
import { NO_PASSES } from "../../src/codegen/opt.ts";
import { listCheckpoints, loadCheckpoint } from "../../src/runtime/checkpoint.ts";
import { ROOT } from "../helpers.ts";
import { shrink } from "../variants/spec-mutations.ts";

/*
 * Layers with a bias run as rt.conv2dBias / rt.matMulBias (src/runtime/lazy-bias.ts: tfjs's fused kernel,
 * gradients only where needed) instead of tf.fused.conv2d / tf.fused.matMul. The layer-by-layer trainer
 * (`--no-opt`, where every layer goes through them) against the same trainer with the tfjs calls put back:
 * every logged value at every iteration and every tensor of the final checkpoint bit for bit, on a gradient
 * penalty (grad() differentiated again) and on residual nets with spectral norm and self-attention.
 */

fs.mkdirSync(path.join(ROOT, ".cache"), { recursive: true });
const work = fs.mkdtempSync(path.join(ROOT, ".cache", "lazy-bias-"));
afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

/** The generated code with tfjs's fused ops put back where the layers call the lazy-gradient ones. */
function withTfjsFused(code: string): string {
  const out = code
    .replace(/rt\.conv2dBias\((h as tf\.Tensor4D), (.+?) as tf\.Tensor4D, (.+?), (\d+), "(same|valid)"\)/g, (_, x: string, w: string, b: string, s: string, p: string) => `tf.fused.conv2d({ x: ${x}, filter: ${w} as tf.Tensor4D, strides: ${s}, pad: "${p}", bias: ${b} })`)
    .replace(/rt\.matMulBias\((h as tf\.Tensor2D), (.+?) as tf\.Tensor2D, (.+?)\);/g, (_, a: string, w: string, b: string) => `tf.fused.matMul({ a: ${a}, b: ${w} as tf.Tensor2D, bias: ${b} });`);
  expect(out).not.toMatch(/rt\.(conv2dBias|matMulBias)/);
  return out;
}

async function train(name: string, code: string): Promise<{ rows: string; tensors: Map<string, Uint8Array> }> {
  const dir = path.join(work, name);
  fs.mkdirSync(dir, { recursive: true });
  const runtime = path.relative(dir, path.join(ROOT, "src/runtime/index.ts")).split(path.sep).join("/");
  const file = path.join(dir, "trainer.ts");
  fs.writeFileSync(file, code.replace(/from "[^"]*src\/runtime\/index\.ts"/, `from ${JSON.stringify(runtime)}`).replace(/\nrt\.runIfMain\(import\.meta\.url, main\);\n$/, "\n"));
  const mod = (await import(pathToFileURL(file).href)) as { main: (argv: string[]) => Promise<number> };
  const out = path.join(dir, "run");
  try {
    const rc = await mod.main(["--out", out, "--steps", "3", "--batch", "4", "--seed", "5", "--backend", "wasm", "--quiet", "--log-every", "1", "--histogram-every", "0", "--sample-every", "1000"]);
    expect(rc).toBe(0);
  } finally {
    tf.disposeVariables();
  }
  // the logged values without the timing columns and the live-tensor count (lower with the lazy layers)
  const rows = fs.readFileSync(path.join(out, "metrics.jsonl"), "utf8").trim().split("\n").map((l) => {
    const r = JSON.parse(l) as Record<string, number>;
    return JSON.stringify(Object.fromEntries(Object.entries(r).filter(([k]) => !/(MB|Sec|Ms)$/.test(k) && k !== "itPerSec" && k !== "tensors")));
  });
  const ckpt = loadCheckpoint(listCheckpoints(path.join(out, "checkpoints")).pop()!.file);
  return { rows: rows.join("\n"), tensors: new Map(ckpt.tensors.map((t) => [t.name, new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength)])) };
}

describe("lazy-gradient conv and dense layers change no number of a trainer", () => {
  it.each(["specs/wgan_gp.gan", "specs/sagan.gan"])("%s (--no-opt, shrunk, 3 iterations at batch 4): bit for bit the tf.fused trainer", async (spec) => {
    const text = shrink(fs.readFileSync(path.join(ROOT, spec), "utf8"));
    const r = compileText(text, spec, { source: spec, runtimeImport: "src/runtime/index.ts", passes: NO_PASSES });
    expect(r.code, r.diagnostics.map((d) => d.message).join("; ")).not.toBeNull();
    expect(r.code).toMatch(/rt\.conv2dBias\(/);
    const lazy = await train(`${path.basename(spec)}-lazy`, r.code!);
    const fused = await train(`${path.basename(spec)}-fused`, withTfjsFused(r.code!));
    expect(lazy.rows.split("\n")).toHaveLength(3);
    expect(lazy.rows).toBe(fused.rows);
    expect([...lazy.tensors.keys()].sort()).toEqual([...fused.tensors.keys()].sort());
    expect([...lazy.tensors.keys()].some((k) => k.startsWith("var:"))).toBe(true);
    for (const [name, a] of fused.tensors) expect(Buffer.compare(Buffer.from(lazy.tensors.get(name)!), Buffer.from(a)), name).toBe(0);
  }, 300_000);
});
