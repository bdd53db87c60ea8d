import * as fs from "node:fs";
import * as path from "node:path";
import { pathToFileURL } from "node:url";
import * as tf from "@tensorflow/tfjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ALL_PASSES, NO_PASSES, type OptSet } from "../../src/codegen/opt.ts";
import { compileText } from "../../src/compile.ts";
import type { ProgramIR } from "../../src/ir/types.ts";
import { selectBackend } from "../../src/runtime/backend.ts";
import { listCheckpoints, loadCheckpoint } from "../../src/runtime/checkpoint.ts";
import { ROOT } from "../helpers.ts";
import { harness, type FixedRun } from "./fixed-run.ts";
import { bce, forward, largestSingularValue, noiseValues, powerStep, rows, uniform } from "./reference64.ts";

/*
 * Spectral normalization (`sn=true`): a layer's kernel W is divided by sigma, the estimate of its largest
 * singular value from one power-iteration step on the vector u that the layer keeps (sigma = v W u'^T with
 * v = u W^T / ||u W^T||, u' = v W / ||v W||); every application of the net in a training step moves u to u'.
 *
 * 1. On fixed weights and batches (FixedRun, see fixed-run.ts; the optimizers do nothing, so W stays put):
 *    the losses the compiled trainer reports are those of a D whose kernels are W / sigma, with sigma
 *    from the u of that very application (three per iteration: D(real) and D(fake) in step d, D(fake)
 *    in step g), to 1e-5 in float64; u follows the power iteration; after 25 iterations the normalized
 *    kernels' largest singular value (float64 power iteration to convergence) is 1.
 * 2. Trained for real (the runtime's session, Adam, a checkpoint every iteration): losses finite, every u a
 *    unit vector that moves every iteration by exactly three power-iteration steps on the stored kernels,
 *    the normalized kernels' largest singular value near 1 at the end; with sn=false, D's kernels stay
 *    far from unit spectral norm and D learns much less in the same 40 iterations.
 * 3. Conv and deconv layers with sn=true train, and their u follows the power iteration on the kernel
 *    viewed as a [-1, last axis] matrix (a deconv's last axis is its input channels).
 */

const SPEC = (sn: boolean) => `gan "sn"

data  real: ring8(batch=64)
noise z: normal(0, 1, [4])

net G(z) {
  dense 16, relu
  dense 2
}

net D(x) {
  dense 16 sn=${sn}, lrelu 0.2
  dense 16 sn=${sn}, lrelu 0.2
  dense 1 sn=${sn}                            -> logit
}

fake = G(z)
loss d_real = bce_logits(D(real).logit, ones)
loss d_fake = bce_logits(D(fake).logit, zeros)
loss d = d_real + d_fake
loss g = bce_logits(D(fake).logit, ones)

step d: adam(lr=1e-3, beta1=0.5) minimize d over D
step g: adam(lr=1e-3, beta1=0.5) minimize g over G

train { steps=40, schedule=[d, g], checkpoint_every=1, keep_checkpoints=100, log_every=1, sample_every=1000 }
`;

/** D's layers with spectral norm: kernel [n, out] and u [1, out]. */
const LAYERS = [
  { kernel: "D/dense1/kernel", u: "D/dense1/sn_u", n: 2, out: 16 },
  { kernel: "D/dense2/kernel", u: "D/dense2/sn_u", n: 16, out: 16 },
  { kernel: "D/dense3/kernel", u: "D/dense3/sn_u", n: 16, out: 1 },
] as const;

const REL = 1e-5;
const FLOOR = 1e-3;
const close = (actual: number, expected: number, what: string) =>
  expect(Math.abs(actual - expected), `${what}: compiled ${actual}, float64 ${expected}`).toBeLessThanOrEqual(REL * Math.max(Math.abs(expected), FLOOR));

fs.mkdirSync(path.join(ROOT, ".cache"), { recursive: true });
const work = fs.mkdtempSync(path.join(ROOT, ".cache", "spectral-norm-"));
let counter = 0;

/** Writes the compiled spec as a trainer that imports `runtime` (a path from ROOT), returns it and the program. */
async function compileTrainer(text: string, runtime: string, passes: OptSet): Promise<{ main: (argv: string[]) => Promise<number>; program: ProgramIR; code: string }> {
  const dir = path.join(work, `t${++counter}`);
  fs.mkdirSync(dir, { recursive: true });
  const rel = path.relative(dir, path.join(ROOT, runtime)).split(path.sep).join("/");
  const r = compileText(text, "sn.gan", { runtimeImport: rel, passes });
  expect(r.diagnostics.map((d) => d.message)).toEqual([]);
  const file = path.join(dir, "trainer.ts");
  fs.writeFileSync(file, r.code!.replace(/\nrt\.runIfMain\(import\.meta\.url, main\);\n$/, "\n"));
  const mod = (await import(pathToFileURL(file).href)) as { main: (argv: string[]) => Promise<number> };
  return { main: mod.main, program: r.program!, code: r.code! };
}

let previous: string;
beforeAll(async () => {
  previous = tf.getBackend();
  await selectBackend("cpu", { log: () => {} });
});
afterAll(async () => {
  tf.disposeVariables();
  if (previous) await tf.setBackend(previous);
  fs.rmSync(work, { recursive: true, force: true });
});

describe("spectral norm on fixed weights: the forward pass uses W / sigma, sigma from this application's u", () => {
  const BATCH = 8;
  const ITERATIONS = 25;

  for (const [trainer, passes] of [["optimized", ALL_PASSES], ["layer by layer", NO_PASSES]] as const) {
    it(`${trainer} trainer: ${ITERATIONS} iterations, every loss and every u against float64`, async () => {
      const { main, program, code } = await compileTrainer(SPEC(true), "test/variants/fixed-run.ts", passes);
      // layer by layer: rt.spectralNorm in D's code; optimized: D as one op, which normalizes its sn kernels first
      expect(code).toContain(passes === ALL_PASSES ? `{ op: "dense", kernel: D_dense1_kernel, bias: D_dense1_bias, act: { kind: "leakyrelu", alpha: 0.2 }, sn: D_dense1_sn_u }` : "rt.spectralNorm(");
      // Kernels uniform in +-2/sqrt(fan-in) (largest singular values 1.2 to 3.4, not 1); u drawn like
      // the runtime's N(0, 1) initial value, not a unit vector.
      const weights = new Map<string, Float32Array>();
      for (const v of program.nets.flatMap((n) => n.vars)) {
        const size = v.shape.reduce((a, b) => a * b, 1);
        if (v.name.endsWith("/sn_u")) weights.set(v.name, noiseValues({ name: v.name, dist: "normal", a: 0, b: 1, shape: [v.shape[1]!], classes: 0, line: 0 }, 1, v.name).data);
        else if (v.name.endsWith("/bias")) weights.set(v.name, uniform(v.name, size, -0.3, 0.3));
        else weights.set(v.name, uniform(v.name, size, -2 / Math.sqrt(v.shape[0]!), 2 / Math.sqrt(v.shape[0]!)));
      }
      const batches = Array.from({ length: ITERATIONS }, (_, i) => ({
        real: { data: uniform(`real${i}`, BATCH * 2, -2, 2), shape: [BATCH, 2] },
        real_label: { data: new Float32Array(BATCH * 8), shape: [BATCH, 8] },
        z: noiseValues(program.noise[0]!, BATCH, `z${i}`),
      }));
      harness.setup = { batchSize: BATCH, batches, variable: (name) => weights.get(name)! };
      expect(await main([])).toBe(0);
      const run: FixedRun = harness.last!;
      try {
        const w = (name: string) => weights.get(name)!;
        const netD = program.nets.find((n) => n.name === "D")!;
        const netG = program.nets.find((n) => n.name === "G")!;
        const denseIndex = netD.layers.map((l, i) => (l.layer.op === "dense" ? i : -1)).filter((i) => i >= 0);
        expect(denseIndex.length).toBe(3);
        const sigmaStart = LAYERS.map((l) => largestSingularValue(w(l.kernel), l.n, l.out));
        // float64 state: each layer's u, moved by each training application of D
        const u = LAYERS.map((l) => Array.from(w(l.u)));
        const applyD = (xs: number[][]) => {
          const sigma = LAYERS.map((l, k) => {
            const s = powerStep(w(l.kernel), l.n, l.out, u[k]!);
            u[k] = s.u;
            return s.sigma;
          });
          return forward(netD, [xs], w, (li) => sigma[denseIndex.indexOf(li)] ?? 1).map((t) => t.taps.logit![0]!);
        };
        const byIteration = new Map<number, Record<string, number>[]>();
        for (const r of run.records) byIteration.set(r.iteration, [...(byIteration.get(r.iteration) ?? []), r.values]);
        const sigmasSeen: number[] = []; // dense2's estimate from the u each iteration starts with
        for (let it = 0; it < ITERATIONS; it++) {
          const real = rows(batches[it]!.real.data, BATCH);
          const fake = forward(netG, [rows(batches[it]!.z.data, BATCH)], w).map((t) => t.taps.out!);
          sigmasSeen.push(powerStep(w(LAYERS[1].kernel), 16, 16, u[1]!).sigma);
          const lReal = applyD(real); // step d: D(real), then D(fake), each with the u the previous one left
          const lFake = applyD(fake);
          const lFakeG = applyD(fake); // step g: D(fake) once more
          const [d, g] = byIteration.get(it)!;
          expect(Object.keys(d!).sort()).toEqual(["d", "d_fake", "d_real"]);
          close(d!.d_real!, bce(lReal, 1), `iteration ${it + 1}: d_real`);
          close(d!.d_fake!, bce(lFake, 0), `iteration ${it + 1}: d_fake`);
          close(d!.d!, bce(lReal, 1) + bce(lFake, 0), `iteration ${it + 1}: d`);
          close(g!.g!, bce(lFakeG, 1), `iteration ${it + 1}: g`);
        }
        // The u each layer holds now is the float64 power iteration's (75 steps from the initial u), a unit vector.
        for (const [k, l] of LAYERS.entries()) {
          const got = run.read(l.u);
          expect(Math.hypot(...got), l.u).toBeCloseTo(1, 6);
          u[k]!.forEach((x, j) => expect(Math.abs(got[j]! - x), `${l.u}[${j}]`).toBeLessThan(1e-5));
        }
        // The estimate converged: the kernel the next forward pass uses, W / sigma(u), has largest singular
        // value 1; the raw kernels' are 1.2 to 3.4, and the first estimates (from the initial u) were off.
        for (const [k, l] of LAYERS.entries()) {
          const sigma = powerStep(w(l.kernel), l.n, l.out, run.read(l.u)).sigma;
          const normalized = Float64Array.from(w(l.kernel), (x) => x / sigma);
          expect(largestSingularValue(normalized, l.n, l.out), l.kernel).toBeCloseTo(1, 5);
          expect(sigmaStart[k]!, l.kernel).toBeGreaterThan(1.2);
        }
        // (dense2's first estimate was 0.73 of its largest singular value, the fourth 0.985.)
        expect(sigmasSeen[0]! / sigmaStart[1]!).toBeLessThan(0.9);
        expect(sigmasSeen[3]! / sigmaStart[1]!).toBeLessThan(0.999);
        // No optimizer moved W (FixedRun), so only the power iteration changed anything between iterations.
        expect(run.applied).toEqual({ d: ITERATIONS, g: ITERATIONS });
      } finally {
        run.dispose();
      }
    });
  }
});

describe("spectral norm in training (the runtime's session, Adam)", () => {
  const STEPS = 40;

  /** Trains SPEC(sn) for STEPS iterations at batch 32 in this process; the metrics and every checkpoint's tensors. */
  async function train(sn: boolean) {
    const { main } = await compileTrainer(SPEC(sn), "src/runtime/index.ts", ALL_PASSES);
    const out = path.join(work, `run-${sn}`);
    try {
      expect(await main(["--out", out, "--steps", String(STEPS), "--batch", "32", "--seed", "7", "--backend", "cpu", "--quiet", "--histogram-every", "0"])).toBe(0);
    } finally {
      tf.disposeVariables(); // the next trainer declares variables of the same names
    }
    const metrics = fs.readFileSync(path.join(out, "metrics.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l) as Record<string, number>);
    const checkpoints = listCheckpoints(path.join(out, "checkpoints")).map((c) => new Map(loadCheckpoint(c.file).tensors.map((t) => [t.name, t.data])));
    return { metrics, checkpoints };
  }

  it(`${STEPS} iterations: u moves by three power-iteration steps per iteration, W / sigma ends with largest singular value near 1; sn=false does not`, async () => {
    const on = await train(true);
    const off = await train(false);
    for (const run of [on, off]) {
      expect(run.metrics.map((m) => m.step)).toEqual(Array.from({ length: STEPS }, (_, i) => i + 1));
      for (const m of run.metrics) for (const k of ["d", "d_real", "d_fake", "g"]) expect(Number.isFinite(m[k]), `${k} at ${m.step}: ${m[k]}`).toBe(true);
      expect(run.checkpoints.length).toBe(STEPS);
    }
    const ck = on.checkpoints;
    for (let t = 1; t < STEPS; t++) {
      for (const l of LAYERS) {
        const before = ck[t - 1]!.get(`var:${l.u}`)!;
        const after = ck[t]!.get(`var:${l.u}`)!;
        const wBefore = ck[t - 1]!.get(`var:${l.kernel}`)!;
        const wAfter = ck[t]!.get(`var:${l.kernel}`)!;
        expect(Math.hypot(...after), `${l.u} at ${t + 1}`).toBeCloseTo(1, 6);
        // Step d applies D twice on the kernel of the previous iteration (D(real), D(fake)), then updates it;
        // step g applies D(fake) once on the updated kernel, which the checkpoint holds.
        const expected = powerStep(wAfter, l.n, l.out, powerStep(wBefore, l.n, l.out, powerStep(wBefore, l.n, l.out, before).u).u).u;
        expected.forEach((x, j) => expect(Math.abs(after[j]! - x), `${l.u}[${j}] at iteration ${t + 1}`).toBeLessThan(1e-5));
        if (l.out > 1) expect(Array.from(after), `${l.u} moved at iteration ${t + 1}`).not.toEqual(Array.from(before));
      }
    }
    // W / sigma, the kernel a forward pass after training uses (sigma from the stored u and W), has largest
    // singular value 1 up to the lag of the power iteration behind Adam's updates (measured: at most 1.02).
    // It cannot be below 1: |v W u'^T| <= the largest singular value for unit v, u'.
    const largest = (ckpt: Map<string, ArrayLike<number>>, l: (typeof LAYERS)[number], normalize: boolean) => {
      const w = ckpt.get(`var:${l.kernel}`)!;
      const sigma = normalize ? powerStep(w, l.n, l.out, ckpt.get(`var:${l.u}`)!).sigma : 1;
      return largestSingularValue(Float64Array.from(w, (x) => x / sigma), l.n, l.out);
    };
    for (const l of LAYERS) {
      const s = largest(ck[STEPS - 1]!, l, true);
      expect(s, l.kernel).toBeGreaterThanOrEqual(1 - 1e-9);
      expect(s, l.kernel).toBeLessThan(1.05);
    }
    // sn=false: no u, and D's kernels, which the forward pass uses as they are, have largest singular values
    // far from 1 (0.29, 0.86, 0.31 measured).
    const plain = off.checkpoints[STEPS - 1]!;
    expect([...plain.keys()].some((k) => k.endsWith("/sn_u"))).toBe(false);
    expect(Math.min(...LAYERS.map((l) => largest(plain, l, false)))).toBeLessThan(0.5);
    // With N(0, 0.02) kernels as they are, D's logits stay near 0 and d near 2 ln 2 (1.37 after 40
    // iterations, measured); normalized to unit spectral norm they are about ten times larger and D learns
    // (d about 1.05). Over the last 10 iterations:
    const tail = (m: Record<string, number>[]) => m.slice(-10).reduce((a, r) => a + r.d!, 0) / 10;
    expect(tail(off.metrics) - tail(on.metrics)).toBeGreaterThan(0.15);
  });
});

describe("spectral norm on conv and deconv layers", () => {
  // A deconv's kernel is [k, k, filters, input channels]: its u spans the input channels (4 here, not the
  // 8 filters; with u sized by the filters the first training step failed in matMul).
  const CONV_SPEC = `gan "sn-conv"

data  real: mnist(batch=8, limit=64)
noise z: uniform(-1, 1, [8])

net G(z) {
  dense 7*7*4, relu
  reshape [7, 7, 4]
  deconv 8 kernel=4 stride=2 sn=true, relu
  deconv 1 kernel=4 stride=2 sn=true, sigmoid
}

net D(x) {
  conv 8 kernel=4 stride=2 sn=true, lrelu 0.2
  flatten, dense 1 -> logit
}

fake = G(z)
loss d = bce_logits(D(real).logit, ones) + bce_logits(D(fake).logit, zeros)
loss g = bce_logits(D(fake).logit, ones)

step d: adam(lr=2e-4, beta1=0.5) minimize d over D
step g: adam(lr=1e-3, beta1=0.5) minimize g over G

train { steps=4, checkpoint_every=1, keep_checkpoints=10, log_every=1, sample_every=1000 }
`;

  it("trains; each u spans the kernel's last axis and follows the power iteration on the kernel viewed as [-1, last]", async () => {
    const { main, program } = await compileTrainer(CONV_SPEC, "src/runtime/index.ts", ALL_PASSES);
    const out = path.join(work, "run-conv");
    try {
      expect(await main(["--out", out, "--backend", "cpu", "--quiet", "--histogram-every", "0"])).toBe(0);
    } finally {
      tf.disposeVariables();
    }
    const metrics = fs.readFileSync(path.join(out, "metrics.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l) as Record<string, number>);
    expect(metrics.length).toBe(4);
    for (const m of metrics) expect(Number.isFinite(m.d) && Number.isFinite(m.g), JSON.stringify(m)).toBe(true);
    const ck = listCheckpoints(path.join(out, "checkpoints")).map((c) => new Map(loadCheckpoint(c.file).tensors.map((t) => [t.name, t])));
    expect(ck.length).toBe(4);
    // G is applied twice in an iteration (step d, step g) before its update, D three times (see above).
    const layers = [
      { net: "G", name: "deconv1", last: 4, applications: ["before", "before"] },
      { net: "G", name: "deconv2", last: 8, applications: ["before", "before"] },
      { net: "D", name: "conv1", last: 8, applications: ["before", "before", "after"] },
    ] as const;
    expect(program.nets.flatMap((n) => n.vars).filter((v) => v.name.endsWith("/sn_u")).map((v) => `${v.name} [${v.shape}]`)).toEqual(layers.map((l) => `${l.net}/${l.name}/sn_u [1,${l.last}]`));
    for (let t = 1; t < ck.length; t++) {
      for (const l of layers) {
        const kernel = (i: number) => ck[i]!.get(`var:${l.net}/${l.name}/kernel`)!;
        const u = (i: number) => ck[i]!.get(`var:${l.net}/${l.name}/sn_u`)!.data;
        expect(kernel(t).shape.at(-1)).toBe(l.last);
        const n = kernel(t).data.length / l.last;
        let expected: ArrayLike<number> = u(t - 1);
        for (const when of l.applications) expected = powerStep(kernel(when === "before" ? t - 1 : t).data, n, l.last, expected).u;
        const got = u(t);
        expect(Math.hypot(...got)).toBeCloseTo(1, 6);
        Array.from(expected).forEach((x, j) => expect(Math.abs(got[j]! - x), `${l.net}/${l.name}/sn_u[${j}] at iteration ${t + 1}`).toBeLessThan(1e-5));
      }
    }
  });
});
