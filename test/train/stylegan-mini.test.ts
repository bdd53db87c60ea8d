import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { compileText } from "../../src/compile.ts";
import { stripSpans } from "../../src/parser/ast.ts";
import { parseSpec } from "../../src/parser/index.ts";
import "../../src/parser/yaml/load.ts"; // this file parses the YAML form in its own process
import { listCheckpoints, loadCheckpoint } from "../../src/runtime/checkpoint.ts";
import { gancInProcess, tmpDir } from "../helpers.ts";

/*
 * test/fixtures/stylegan-mini.gan: a mapping network (pixelnorm, dense lr_mul=0.01 equalized=true, lrelu 0.2)
 * feeding a synthesis network that starts from a learned constant, with noise inputs and w's style through
 * cbn. Both forms mean the same; it trains; --seed repeats a run bit for bit and --resume between two
 * checkpoints ends where an uninterrupted run ends (the noise draws continue from the checkpoint). The
 * optimized trainer's equality with --no-opt is in test/opt/equivalence.test.ts, the export in
 * test/tools/export.test.ts.
 */
const SPEC = "test/fixtures/stylegan-mini.gan";
const TEXT = fs.readFileSync(SPEC, "utf8");

/** Trains inside the test process (gancInProcess): the test is about what the runs compute. */
async function train(out: string, args: string[]): Promise<void> {
  const r = await gancInProcess(["train", SPEC, "--out", out, "--backend", "wasm", "--quiet", ...args]);
  expect(r.code, r.stderr).toBe(0);
}

const lastCheckpoint = (out: string) => loadCheckpoint(listCheckpoints(path.join(out, "checkpoints")).pop()!.file);

function same(a: ReturnType<typeof loadCheckpoint>, b: ReturnType<typeof loadCheckpoint>): boolean {
  if (a.meta.step !== b.meta.step || a.tensors.length !== b.tensors.length) return false;
  return a.tensors.every((t, i) => b.tensors[i]!.name === t.name && Buffer.from(b.tensors[i]!.data.buffer).equals(Buffer.from(t.data.buffer)));
}

describe("a StyleGAN2-style spec: mapping network, learned constant, noise inputs", () => {
  it("the YAML form means what the .gan form means; the resolved spec compiles to the same trainer", () => {
    const a = parseSpec(TEXT, SPEC);
    const b = parseSpec(fs.readFileSync(`${SPEC}.yaml`, "utf8"), `${SPEC}.yaml`);
    expect(a.diagnostics).toEqual([]);
    expect(b.diagnostics).toEqual([]);
    expect(stripSpans(b.spec!.decls)).toEqual(stripSpans(a.spec!.decls));
    const r = compileText(TEXT, SPEC);
    expect(r.diagnostics).toEqual([]);
    const G = r.program!.nets.find((n) => n.name === "G")!;
    expect(G.layers.map((l) => l.layer.op)).toEqual([
      "pixelnorm", "dense", "leakyrelu", "dense", "leakyrelu", "dense", "leakyrelu", "dense", "leakyrelu",
      "const", "conv2d", "noise", "cbn", "leakyrelu", "upsample", "conv2d", "noise", "cbn", "leakyrelu", "upsample", "conv2d", "sigmoid",
    ]);
    const text = JSON.parse(r.code!.match(/resolved: (".*"),\n/)![1]!) as string;
    expect(text).toContain("dense 16 lr_mul=0.01 equalized=true init=normal(0, 100)");
    expect(text).toContain("const [7, 7, 8] init=normal(0, 1)");
    const body = (code: string) => code.replace(/\n  (hash|resolved): .*/g, "");
    expect(body(compileText(text, SPEC).code!)).toBe(body(r.code!));
  });

  // (a and parts are separate processes: their equality is also --seed repeating the run, noise draws included)
  it("trains; resuming at iteration 2 ends bit for bit where an uninterrupted run with the same --seed ends; another seed differs", async () => {
    const dir = tmpDir();
    const [a, parts] = ["a", "parts"].map((n) => path.join(dir, n));
    await train(a!, ["--seed", "7", "--steps", "4"]);
    const ca = lastCheckpoint(a!);
    expect(ca.meta.step).toBe(4);
    // the noise strengths trained away from their initial 0
    const strength = ca.tensors.find((t) => t.name === "var:G/noise1/strength")!;
    expect(Math.max(...Array.from(strength.data, Math.abs))).toBeGreaterThan(0);
    await train(parts!, ["--seed", "7", "--steps", "2", "--checkpoint-every", "2"]);
    expect(listCheckpoints(path.join(parts!, "checkpoints")).pop()!.step).toBe(2);
    await train(parts!, ["--seed", "7", "--steps", "4", "--resume"]);
    expect(same(ca, lastCheckpoint(parts!))).toBe(true);
    // another seed trains otherwise
    await train(path.join(dir, "c"), ["--seed", "8", "--steps", "4"]);
    expect(same(ca, lastCheckpoint(path.join(dir, "c")))).toBe(false);
  }, 300_000);
});
