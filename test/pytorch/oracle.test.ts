import * as fs from "node:fs";
import * as path from "node:path";
import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { ganc, ROOT, tmpDir } from "../helpers.ts";
import { compileText } from "../../src/compile.ts";
import { pythonWithTorch, skipNote } from "../python.ts";
import { shrink } from "../variants/spec-mutations.ts";

/**
 * The cross-engine oracle: for every spec in specs/, the first iteration of the TypeScript trainer
 * (layer by layer, --no-opt, cpu backend) and of the PyTorch trainer (`--target pytorch`), both float32,
 * on the same initial weights (the Python trainer loads the TypeScript trainer's with --init-from, and its
 * variables after each step with GANC_TRACE_REPLAY, so that every step starts from the same weights), the
 * same batch and the same noise (each trainer draws its own: the batch and the noise are compared too, so
 * the ported generator and data order are checked), must agree: every initial variable, batch input, loss,
 * logged value and gradient of every step to 1e-4 of the tensor's largest value (gradients also within
 * 1e-5 of their step's largest gradient: see compare_traces.py). A disagreement names the spec, the step
 * and the tensor. Where a float32 gradient misses, the PyTorch trainer runs the iteration again in float64
 * (GANC_TRACE_FLOAT64=1), taking at every ReLU input the TypeScript trainer found within 1e-4 of 0 the side
 * of 0 that trainer took (GANC_TRACE_KINKS), and the miss passes only if the TypeScript trainer's float32
 * gradient agrees with that evaluation to 1e-4: a value within rounding of a ReLU's kink (a few among the
 * millions of ReLU inputs of the 32x32 ResNet specs at full width) opens the ReLU in one float32 engine only,
 * which is rounding, not a difference of meaning (the rule is tested in compare-traces.test.ts). For ring8 the PyTorch trainer also draws its own initial weights,
 * which must be the TypeScript trainer's. Batch 8, one iteration: a few seconds of training per spec; most of the time is
 * start-up (tfjs, torch, the data): from 25 s (ring8) to about 3 minutes (the MNIST specs) on a busy
 * 2-core machine.
 */
const py = pythonWithTorch();
// The suite runs three specs that between them reach every kind of construct the other specs use (a toy
// MLP with its own initial draws; the seed GAN's convolutions, batch norm and BCE; WGAN-GP's second
// derivatives); `GANC_ORACLE_SPECS=all npx vitest run test/pytorch/oracle.test.ts` (`npm run test:oracle`)
// runs every spec the PyTorch target compiles, GANC_ORACLE_SPECS=gan,ring8 some (each MNIST spec takes a
// minute or more of start-up). Specs it refuses (E0240, test/golden/pytorch.test.ts) are left out.
// test/fixtures/pytorch-layers.gan, small and narrow, holds the newer constructs together (spectral norm,
// pooling, bilinear upsampling, dropout, embeddings shared between nets, cbn, chunk, dot, attention,
// minibatch_stddev, diffaug, a lazy step on a borrowed optimizer), and test/fixtures/pytorch-stylegan.gan
// StyleGAN2's (lr_mul/equalized, pixelnorm, const, noise, modconv, style stacks, mix, track_avg, a lazy R1
// through modconv and noise), and test/fixtures/pytorch-kinks.gan the losses at their kinks (logits of exactly 0
// in bce_logits, |x| at 0 in abs and l1, where TensorFlow.js's gradients are not torch.abs's): the suite proves
// them on every run.
const DEFAULT_SPECS = ["ring8", "gan", "wgan_gp"];
const FIXTURES = ["test/fixtures/pytorch-layers.gan", "test/fixtures/pytorch-stylegan.gan", "test/fixtures/pytorch-kinks.gan"];
const wanted = process.env.GANC_ORACLE_SPECS ?? [...DEFAULT_SPECS, ...FIXTURES.map((f) => path.basename(f, ".gan"))].join(",");
const only = wanted === "all" ? null : wanted.split(",").map((s) => `${s.trim()}.gan`);
const compilesForPytorch = (f: string) => compileText(fs.readFileSync(path.join(ROOT, f), "utf8"), f, { target: "pytorch" }).code !== null;
const candidates = [...fs.readdirSync(path.join(ROOT, "specs")).filter((f) => f.endsWith(".gan")).sort().map((f) => `specs/${f}`), ...FIXTURES];
const specs = candidates.filter((f) => (!only || only.includes(path.basename(f))) && compilesForPytorch(f));
const TOLERANCE = "1e-4";
// GANC_ORACLE_SHRINK=1: each spec narrowed first (test/variants/spec-mutations.ts shrink(): at most 8 or 16
// channels and units, one D step per G step, 64 colored digits), which makes the 32x32 specs take minutes
// instead of tens of minutes; the constructs and their order stay the spec's.
const SHRINK = process.env.GANC_ORACLE_SHRINK === "1";

interface Comparison {
  compared: Record<string, number>;
  problems: { tensor: string; problem: string }[];
  /** Gradients that miss in float32 but where the TypeScript trainer agrees with the float64 evaluation. */
  rounding?: { tensor: string; float32: number; tfjs_float64: number; torch_float64: number }[];
  /** The ReLUs where the float64 evaluation, given the TypeScript trainer's branches, would have taken the other. */
  crossings?: { call: string; near: number; crossed: number; crossed_largest: number }[];
}

describe.skipIf(!py.python)("cross-engine oracle: first iteration, TypeScript trainer against PyTorch trainer", () => {
  const work = py.python ? tmpDir("ganc-oracle-") : "";
  // The data folder `ganc data` writes for a spec, once per data declaration (the MNIST specs share one).
  const folders = new Map<string, string>();
  const data = (f: string) => {
    const text = fs.readFileSync(path.resolve(ROOT, f), "utf8");
    // The source and, when the spec takes part of it, how much (the data folder holds what the spec reads).
    const decl = /^data\s+\w+:\s*(\w+)(.*)$/m.exec(text);
    const key = decl ? `${decl[1]}${/limit\s*=\s*(\d+)/.exec(decl[2]!)?.[0].replace(/\s/g, "") ?? ""}` : f;
    const known = folders.get(key);
    if (known) return known;
    const dir = path.join(work, `data-${key.replace(/\W+/g, "-")}`);
    const r = ganc(["data", f, "-o", dir]);
    expect(r.code, r.stderr).toBe(0);
    folders.set(key, dir);
    return dir;
  };

  for (const spec of specs) {
    it(`${spec}${SHRINK ? " (shrunk)" : ""}: losses, gradients, batch and weights agree`, () => {
      const name = path.basename(spec).replace(/\.gan$/, "");
      const dir = path.join(work, name);
      let f = spec;
      if (SHRINK) {
        fs.mkdirSync(dir, { recursive: true });
        fs.writeFileSync(path.join(dir, `${name}.gan`), shrink(fs.readFileSync(path.join(ROOT, spec), "utf8")));
        f = path.join(dir, `${name}.gan`);
      }
      const trainer = path.join(dir, "trainer.py");
      let r = ganc(["compile", f, "--target", "pytorch", "-o", trainer]);
      expect(r.code, r.stderr).toBe(0);
      const common = ["--steps", "1", "--batch", "8", "--quiet"];
      r = ganc(["train", f, ...common, "--no-opt", "--backend", "cpu", "--out", path.join(dir, "run-tfjs")], {
        env: { ...process.env, GANC_TRACE_FIRST_ITERATION: path.join(dir, "tfjs") },
        timeout: 3_600_000, // a full-width 32x32 spec takes tens of minutes on the cpu backend
      });
      expect(r.code, `${spec}: the TypeScript trainer failed: ${r.stderr}`).toBe(0);
      const toy = name === "ring8";
      const argsFor = (out: string) => [trainer, ...common, "--out", path.join(dir, out), ...(toy ? [] : ["--data", data(f), "--init-from", path.join(dir, "tfjs", "init")])];
      const args = argsFor("run-torch");
      const p = spawnSync(py.python!, args, { encoding: "utf8", env: { ...process.env, GANC_TRACE_FIRST_ITERATION: path.join(dir, "torch"), GANC_TRACE_REPLAY: path.join(dir, "tfjs") }, timeout: 600_000 });
      expect(p.status, `${spec}: the PyTorch trainer failed: ${p.stderr}`).toBe(0);
      const compare = (...extra: string[]) => {
        const c = spawnSync(py.python!, [path.join(ROOT, "test/pytorch/compare_traces.py"), path.join(dir, "tfjs"), path.join(dir, "torch"), TOLERANCE, ...extra], { encoding: "utf8" });
        expect(c.status, c.stderr).toBe(0);
        return JSON.parse(c.stdout) as Comparison;
      };
      let cmp = compare();
      if (cmp.problems.some((q) => q.tensor.startsWith("grad/"))) {
        // A gradient missed: the PyTorch trainer evaluates the same iteration again in float64, and a miss is
        // forgiven only where the TypeScript trainer's float32 gradient agrees with that evaluation to the
        // tolerance (compare_traces.py explains why: a value within rounding of a ReLU's kink).
        const p64 = spawnSync(py.python!, argsFor("run-torch64"), {
          encoding: "utf8",
          env: { ...process.env, GANC_TRACE_FIRST_ITERATION: path.join(dir, "torch64"), GANC_TRACE_REPLAY: path.join(dir, "tfjs"), GANC_TRACE_FLOAT64: "1", GANC_TRACE_KINKS: path.join(dir, "tfjs", "kink") },
          timeout: 600_000,
        });
        expect(p64.status, `${spec}: the PyTorch trainer in float64 failed: ${p64.stderr}`).toBe(0);
        cmp = compare(path.join(dir, "torch64"));
        for (const k of cmp.crossings ?? []) {
          console.log(`${spec}: ReLU call ${k.call}: ${k.crossed} of its ${k.near} inputs near 0 on the other side of 0 in float64, the farthest ${k.crossed_largest.toExponential(2)} of the largest input from 0`);
        }
        for (const r of cmp.rounding ?? []) {
          console.log(`${spec}: ${r.tensor}: float32 engines ${r.float32.toExponential(2)} apart; TypeScript ${r.tfjs_float64.toExponential(2)}, PyTorch ${r.torch_float64.toExponential(2)} from PyTorch in float64`);
        }
      }
      // Every part was compared: the initial weights, the batch, the losses, and the gradients of every step.
      expect(Object.keys(cmp.compared).sort()).toEqual(["batch", "grad", "init", "value"]);
      const problems = cmp.problems.map((q) => {
        const [part, step] = q.tensor.split("/");
        return `${spec}${part === "grad" ? ` step ${step}` : ""}: ${q.tensor}: ${q.problem}`;
      });
      expect(problems).toEqual([]);
    }, 3_600_000);
  }
});
skipNote("the cross-engine oracle", py);
