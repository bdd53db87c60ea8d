import * as fs from "node:fs";
import * as path from "node:path";
import { pathToFileURL } from "node:url";
import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-wasm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ALL_PASSES, NO_PASSES, type OptSet } from "../../src/codegen/opt.ts";
import { compileText } from "../../src/compile.ts";
import type { ExprNode, NetIR, ProgramIR } from "../../src/ir/types.ts";
import { selectBackend } from "../../src/runtime/backend.ts";
import { ROOT } from "../helpers.ts";
import { fixedAugmentKey, harness, type FixedRun, type FixedTensor } from "./fixed-run.ts";
import { diffAugDraws, parsePolicy } from "../../src/functions/diffaug.ts";
import { Rng } from "../../src/runtime/rng.ts";
import { diffaug64 } from "../functions/diffaug64.ts";
import { crossover } from "../../src/functions/mix.ts";
import { bce, forward, inputGradient, mean, noiseValues, norm, pullaway, relu, rows, softmaxCe, sum, uniform, type Weights } from "./reference64.ts";

/*
 * Every loss term of every spec in specs/, as the compiled trainer computes it, against the same term
 * written out here as float64 arithmetic.
 *
 * How: each spec's text is compiled as it is, except that its networks are swapped for small dense ones
 * whose outputs this file computes exactly (reference64.ts): G(z) = sigmoid(dense 784) reshaped to the
 * image (dense 3072 to 32x32x3 for biggan_lite), D(x) = dense 1 on lrelu(dense 4) (the `features` tap; tanh under a gradient penalty, so that the
 * penalty depends on the points where it is taken), an auto-encoder D for EBGAN and BEGAN,
 * Q = dense 10 or 12; ring8's nets are small already and stay. Every data, noise, value, loss, step,
 * after-step action and logged value of the spec is compiled unchanged. The trainer runs one iteration
 * in this process with the runtime's session swapped for FixedRun (fixed-run.ts): weights, batch and
 * noise are fixed values chosen here, the optimizers do nothing, and every loss and logged value each step
 * (and measure()) returns is read back. Both trainers are checked: the optimized one (fused nets, loss
 * forms, hoisting, reused forward passes) and the layer-by-layer one (`--no-opt`).
 *
 * Tolerance: |compiled - float64| <= 1e-5 * max(|float64|, 1e-3). Inputs and weights are float32 values, so
 * both sides start from the same numbers and only float32 rounding separates them (about 1e-7 relative
 * per operation); the floor of 1e-3 (an absolute 1e-8) is for terms that are near 0.
 */

const REL = 1e-5;
const FLOOR = 1e-3;

/**
 * One run of one spec: its batch size, the seed of its fixed values, initial states. Each spec runs at
 * batch 6; EBGAN also at batch 128, where its margin max(1, batch / 64) is 2 and lies above err(G(z)) (at
 * batch 6 it lies below); BEGAN also with k near 0, where the update of k is clipped at 0. Hinge's values
 * come from another seed, under which D's logits lie on both sides of both margins (see the last test).
 */
interface Case {
  spec: string;
  batch: number;
  seed: string;
  states?: Record<string, number>;
  what?: string;
}

const SPECS = fs.readdirSync(path.join(ROOT, "specs")).filter((f) => f.endsWith(".gan")).map((f) => f.slice(0, -4)).sort();

// ---- the small networks ----------------------------------------------------------------------------------

const IMAGE = "dense 784, sigmoid, reshape [28, 28, 1]";
/** Specs on 32x32 color images (mnist_color), and the output their G ends in: tanh as the DCGAN paper's, sigmoid where the data's [0, 1] range is matched directly. */
const COLOR_IMAGE: Record<string, string> = {
  dcgan: "dense 3072, tanh, reshape [32, 32, 3]",
  dcgan_diffaug: "dense 3072, tanh, reshape [32, 32, 3]",
  sngan_resnet: "dense 3072, sigmoid, reshape [32, 32, 3]",
  sagan: "dense 3072, sigmoid, reshape [32, 32, 3]",
  biggan_lite: "dense 3072, sigmoid, reshape [32, 32, 3]",
  // G reads a stack of 8 styles [8, 4] (from the small mapping net below)
  stylegan2_lite: "flatten, dense 3072, sigmoid, reshape [32, 32, 3]",
};
const CRITIC = "flatten, dense 4, lrelu 0.2 -> features, dense 1 -> logit";
/** Under a gradient penalty the critic is smooth, so its input gradient depends on where it is taken (x̂, x_p, x). */
const SMOOTH_CRITIC = "flatten, dense 4, tanh, dense 1 -> logit";
const PENALIZED = new Set(["wgan_gp", "dragan", "r1", "stylegan2_lite"]);
const AUTOENCODER = `flatten, dense 4 -> code, ${IMAGE}`;

/** The body that replaces net `name` of `spec` (null: the spec's own net is kept). */
function smallNet(spec: string, name: string): string | null {
  if (spec === "ring8") return null;
  if (name === "G") return COLOR_IMAGE[spec] ?? IMAGE;
  if (name === "D") return spec === "ebgan" || spec === "began" ? AUTOENCODER : PENALIZED.has(spec) ? SMOOTH_CRITIC : CRITIC;
  if (name === "Q") return spec === "infogan" ? "dense 12" : "dense 10";
  // stylegan2_lite's mapping net: truncate() in its samples needs the track_avg at its end
  if (name === "M" && spec === "stylegan2_lite") return "dense 4, track_avg";
  throw new Error(`no small net for ${spec}'s ${name}`);
}

/** The spec's text with each net's body swapped (a concat of the net's other inputs is kept first). */
function withSmallNets(spec: string, text: string): string {
  const NET = /^net (\w+)\(([^)]*)\) \{\n[\s\S]*?^\}/gm;
  let swapped = 0;
  const out = text.replace(NET, (whole, name: string, params: string) => {
    const body = smallNet(spec, name);
    if (body === null) return whole;
    swapped++;
    const others = params.split(",").map((s) => s.trim()).slice(1);
    return `net ${name}(${params}) {\n${others.length ? `  concat(${others.join(", ")})\n` : ""}  ${body}\n}`;
  });
  if (spec !== "ring8") expect(swapped, `${spec}: nets swapped`).toBeGreaterThanOrEqual(2);
  // Everything but the nets' bodies is the spec's text as it is.
  expect(out.replace(NET, "net $1($2) {}")).toBe(text.replace(NET, "net $1($2) {}"));
  return out;
}

// ---- fixed values ----------------------------------------------------------------------------------------

/** Weights: uniform in +-gain/sqrt(fan-in) for kernels, +-0.3 for biases; D's gain makes logits reach beyond +-1. */
function weightValues(base: string, name: string, shape: readonly number[]): Float32Array {
  const n = shape.reduce((a, b) => a * b, 1);
  const seed = `${base}/${name}`;
  if (name.endsWith("/bias")) return uniform(seed, n, -0.3, 0.3);
  if (name.endsWith("/avg")) return uniform(seed, n, -0.5, 0.5); // track_avg's running average (read by samples only)
  if (!name.endsWith("/kernel")) throw new Error(`unexpected variable ${name}`);
  const gain = name.startsWith("D/") ? 4 : 3;
  const s = gain / Math.sqrt(shape[0]!);
  return uniform(seed, n, -s, s);
}

/** Images in [0, 1] from dim to bright (sample i's pixels are uniform in [0, (i + 1) / batch]), so D's logits spread. */
function images(seed: string, batch: number, per: number): Float32Array {
  const x = uniform(seed, batch * per, 0, 1);
  for (let i = 0; i < batch; i++) for (let j = 0; j < per; j++) x[i * per + j] = Math.fround((x[i * per + j]! * (i + 1)) / batch);
  return x;
}

interface Fixed {
  batch: Record<string, FixedTensor>;
  weights: Map<string, Float32Array>;
}

function fixedValues(c: Case, p: ProgramIR): Fixed {
  const { batch: n, seed } = c;
  const d = p.data;
  const per = d.shape.reduce((a, b) => a * b, 1);
  const batch: Record<string, FixedTensor> = {
    // MNIST pixels lie in [0, 1]; ring8 points within about +-2.5
    [d.name]: { data: d.source === "ring8" ? uniform(`${seed}/data`, n * per, -2.5, 2.5) : images(`${seed}/data`, n, per), shape: [n, ...d.shape] },
  };
  const labels = new Float32Array(n * d.numClasses);
  for (let i = 0; i < n; i++) labels[i * d.numClasses + ((3 * i + 1) % d.numClasses)] = 1;
  batch[`${d.name}_label`] = { data: labels, shape: [n, d.numClasses] };
  for (const z of p.noise) batch[z.name] = noiseValues(z, n, `${seed}/noise/${z.name}`);
  const weights = new Map<string, Float32Array>();
  for (const net of p.nets) for (const v of net.vars) weights.set(v.name, weightValues(seed, v.name, v.shape));
  return { batch, weights };
}

// ---- running the compiled trainer ------------------------------------------------------------------------

fs.mkdirSync(path.join(ROOT, ".cache"), { recursive: true });
const work = fs.mkdtempSync(path.join(ROOT, ".cache", "loss-terms-"));
afterAll(() => fs.rmSync(work, { recursive: true, force: true }));
let counter = 0;

interface Ran {
  program: ProgramIR;
  fixed: Fixed;
  run: FixedRun;
  code: string;
}

/**
 * Edits of a spec's schedule before its nets are swapped: stylegan2_lite's lazy R1 runs every 16
 * iterations, so in the one iteration run here it runs every iteration instead (its loss is the same).
 */
const SCHEDULE_EDITS: Record<string, (text: string) => string> = {
  stylegan2_lite: (t) => t.replace("every(16, d_reg, adjust=true)", "every(1, d_reg, adjust=true)"),
};

/** The spec's text with small nets, compiled (with `runtimeImport` when given). */
function compileCase(c: Case, opts: { runtimeImport?: string; passes?: OptSet } = {}) {
  const raw = fs.readFileSync(path.join(ROOT, "specs", `${c.spec}.gan`), "utf8");
  const edited = (SCHEDULE_EDITS[c.spec] ?? ((t: string) => t))(raw);
  if (SCHEDULE_EDITS[c.spec]) expect(edited).not.toBe(raw);
  const text = withSmallNets(c.spec, edited);
  const r = compileText(text, `specs/${c.spec}.gan`, opts);
  expect(r.diagnostics.filter((x) => x.severity === "error").map((x) => x.message)).toEqual([]);
  return r;
}

/** Compiles the case's spec, runs one iteration of its trainer on FixedRun, returns what it recorded. */
async function runTrainer(c: Case, passes: OptSet): Promise<Ran> {
  const dir = path.join(work, `${c.spec}-${++counter}`);
  fs.mkdirSync(dir, { recursive: true });
  const runtime = path.relative(dir, path.join(ROOT, "test/variants/fixed-run.ts")).split(path.sep).join("/");
  const r = compileCase(c, { runtimeImport: runtime, passes });
  const program = r.program!;
  const file = path.join(dir, "trainer.ts");
  fs.writeFileSync(file, r.code!.replace(/\nrt\.runIfMain\(import\.meta\.url, main\);\n$/, "\n"));
  const values = fixedValues(c, program);
  harness.setup = {
    batchSize: c.batch,
    batches: [values.batch],
    states: c.states,
    variable: (name) => {
      const w = values.weights.get(name);
      if (!w) throw new Error(`no value for ${name}`);
      return w;
    },
  };
  const mod = (await import(pathToFileURL(file).href)) as { main: (argv: string[]) => Promise<number> };
  expect(await mod.main([])).toBe(0);
  return { program, fixed: values, run: harness.last!, code: r.code! };
}

// ---- the float64 side ------------------------------------------------------------------------------------

/** What a reference needs: the batch as float64 rows, and each net's forward pass on given weights. */
class Ctx {
  readonly real: number[][];
  readonly label: number[][];
  readonly noise: Record<string, number[][]>;
  readonly batch: number;
  readonly k: number;
  constructor(readonly p: ProgramIR, readonly fixed: Fixed, readonly w: Weights, c: Case, readonly step = "d") {
    this.batch = c.batch;
    this.k = c.states?.k ?? 0;
    this.real = rows(fixed.batch[p.data.name]!.data, c.batch);
    this.label = rows(fixed.batch[`${p.data.name}_label`]!.data, c.batch);
    this.noise = Object.fromEntries(p.noise.map((n) => [n.name, rows(fixed.batch[n.name]!.data, c.batch)]));
  }
  net(name: string): NetIR {
    return this.p.nets.find((n) => n.name === name)!;
  }
  /** The net's taps (`out` included) for each sample; `inputs` in the net's parameter order. */
  apply(name: string, ...inputs: number[][][]): Record<string, number[][]> {
    const traces = forward(this.net(name), inputs, this.w);
    const taps: Record<string, number[][]> = {};
    for (const key of Object.keys(traces[0]!.taps)) taps[key] = traces.map((t) => t.taps[key]!);
    return taps;
  }
  logit(...inputs: number[][][]): number[] {
    return this.apply("D", ...inputs).logit!.map((r) => r[0]!);
  }
  /** Per sample, the gradient of D's logit with respect to its input. */
  inputGrad(xs: number[][]): number[][] {
    return inputGradient(this.net("D"), xs, this.w);
  }
  /**
   * diffaug(value, policy) as this step computes it: the draws of the call site (this step and the call's
   * node, found by the name of its image argument), then DiffAugment in float64 (test/functions/diffaug64.ts).
   */
  diffaug(of: string, xs: number[][]): number[][] {
    const call = this.p.nodes.find((n) => n.op === "call" && n.fn === "diffaug" && this.p.nodes[n.args[0]!]!.name === of) as ExprNode & { op: "call" };
    const policy = (this.p.nodes[call.args[1]!] as ExprNode & { op: "const" }).value;
    const [h, w, c] = this.p.data.shape as [number, number, number];
    const draws = diffAugDraws(Rng.fromState(fixedAugmentKey(`${this.step}:${call.id}`)), xs.length, h, w, policy);
    return diffaug64(xs, h, w, c, ["color", "translation", "cutout"].filter((op) => policy & (parsePolicy(op) as number)).join(","), draws);
  }
  /** ||D(x) - x|| over the whole batch, over the batch size (EBGAN's and BEGAN's error). */
  err(xs: number[][]): number {
    const out = this.apply("D", xs).out!;
    return norm(out.map((r, i) => r.map((v, j) => v - xs[i]![j]!))) / this.batch;
  }
}

/** Lines of a spec whose value the reference below writes out. */
type Reference = (c: Ctx) => Record<string, number>;

/** The seed GAN's terms on logits of real and generated data. */
const ganTerms = (lr: number[], lf: number[]) => ({ d_real: bce(lr, 1), d_fake: bce(lf, 0), d: bce(lr, 1) + bce(lf, 0), g: bce(lf, 1) });
/** WGAN's critic terms. */
const wganTerms = (lr: number[], lf: number[]) => ({ d_real: -mean(lr), d_fake: mean(lf), g: -mean(lf) });
/** mean((||grad|| - 1)^2) over the samples. */
const penalty = (grads: number[][]) => mean(grads.map((g) => (Math.sqrt(sum(g.map((x) => x * x))) - 1) ** 2));
/** log(1 + exp(x)) in float64, without overflow. */
const softplus = (x: number) => Math.max(x, 0) + Math.log1p(Math.exp(-Math.abs(x)));
/** Per sample a + t (b - a), t one number per sample. */
const between = (a: number[][], b: number[][], t: number[][]) => a.map((r, i) => r.map((x, j) => x + t[i]![0]! * (b[i]![j]! - x)));

const REFERENCE: Record<string, Reference> = {
  gan: (c) => ganTerms(c.logit(c.real), c.logit(c.apply("G", c.noise.z!).out!)),
  ring8: (c) => ganTerms(c.logit(c.real), c.logit(c.apply("G", c.noise.z!).out!)),
  cgan: (c) => {
    const fake = c.apply("G", c.noise.z!, c.label).out!;
    return ganTerms(c.logit(c.real, c.label), c.logit(fake, c.label));
  },
  lsgan: (c) => {
    const lr = c.logit(c.real);
    const lf = c.logit(c.apply("G", c.noise.z!).out!);
    const dReal = mean(lr.map((l) => (l - 1) ** 2));
    const dFake = mean(lf.map((l) => l ** 2));
    return { d_real: dReal, d_fake: dFake, d: 0.5 * (dReal + dFake), g: mean(lf.map((l) => (l - 1) ** 2)) };
  },
  wgan: (c) => {
    const t = wganTerms(c.logit(c.real), c.logit(c.apply("G", c.noise.z!).out!));
    return { ...t, d: t.d_real + t.d_fake };
  },
  wgan_gp: (c) => {
    const fake = c.apply("G", c.noise.z!).out!;
    const t = wganTerms(c.logit(c.real), c.logit(fake));
    const xhat = between(c.real, fake, c.noise.a!);
    const gp = penalty(c.inputGrad(xhat));
    return { ...t, gp, d: t.d_real + t.d_fake + 0.25 * gp };
  },
  dragan: (c) => {
    const fake = c.apply("G", c.noise.z!).out!;
    const t = ganTerms(c.logit(c.real), c.logit(fake));
    const all = c.real.flat();
    const m = mean(all);
    const std = Math.sqrt(mean(all.map((x) => (x - m) ** 2)));
    const xp = c.real.map((r, i) => r.map((x, j) => x + 0.5 * std * c.noise.u![i]![j]!));
    const gp = penalty(c.inputGrad(between(c.real, xp, c.noise.a!)));
    return { ...t, gp, d: t.d + 0.25 * gp };
  },
  hinge: (c) => {
    const lr = c.logit(c.real);
    const lf = c.logit(c.apply("G", c.noise.z!).out!);
    const dReal = mean(lr.map((l) => relu(1 - l)));
    const dFake = mean(lf.map((l) => relu(1 + l)));
    return { d_real: dReal, d_fake: dFake, d: dReal + dFake, g: -mean(lf) };
  },
  // the SNGAN and SAGAN specs: the hinge loss (their ResNets are swapped for the small nets like every spec's)
  sngan_resnet: (c) => REFERENCE.hinge!(c),
  sagan: (c) => REFERENCE.hinge!(c),
  biggan_lite: (c) => {
    // hinge, with D judging each image with its class: real.label for the data, G's drawn class yf for G's
    const lr = c.logit(c.real, c.label);
    const lf = c.logit(c.apply("G", c.noise.z!, c.noise.yf!).out!, c.noise.yf!);
    const dReal = mean(lr.map((l) => relu(1 - l)));
    const dFake = mean(lf.map((l) => relu(1 + l)));
    return { d_real: dReal, d_fake: dFake, d: dReal + dFake, g: -mean(lf) };
  },
  stylegan2_lite: (c) => {
    // fake = G(mix(M(z), M(z2), 8, 0.9)): the crossover this step's mix() draws from its call site's key
    const w1 = c.apply("M", c.noise.z!).out!;
    const w2 = c.apply("M", c.noise.z2!).out!;
    const call = c.p.nodes.find((n) => n.op === "call" && n.fn === "mix")!;
    const cut = crossover(Rng.fromState(fixedAugmentKey(`${c.step}:${call.id}`)), 8, 0.9);
    const ws = w1.map((a, i) => Array.from({ length: 8 }, (_, l) => (l < cut ? a : w2[i]!)).flat());
    const lr = c.logit(c.real);
    const lf = c.logit(c.apply("G", ws).out!);
    const r1 = sum(c.inputGrad(c.real).map((g) => sum(g.map((x) => x * x)))) / c.batch;
    return { d: mean(lf.map(softplus)) + mean(lr.map((l) => softplus(-l))), r1: 0.005 * r1, g: mean(lf.map((l) => softplus(-l))) };
  },
  rsgan: (c) => {
    const lr = c.logit(c.real);
    const lf = c.logit(c.apply("G", c.noise.z!).out!);
    const realVsFake = lr.map((l) => l - mean(lf));
    const fakeVsReal = lf.map((l) => l - mean(lr));
    return { d: bce(realVsFake, 1) + bce(fakeVsReal, 0), g: bce(fakeVsReal, 1) + bce(realVsFake, 0) };
  },
  dcgan: (c) => {
    const scaled = c.real.map((r) => r.map((x) => 2 * x - 1));
    return ganTerms(c.logit(scaled), c.logit(c.apply("G", c.noise.z!).out!));
  },
  // The same terms on augmented images; step g draws its own augmentation of the fakes, so its d_fake
  // (and g) differ from step d's.
  dcgan_diffaug: (c): Record<string, number> => {
    const scaled = c.real.map((r) => r.map((x) => 2 * x - 1));
    const fake = c.apply("G", c.noise.z!).out!;
    const lf = c.logit(c.diffaug("fake", fake));
    const t = ganTerms(c.logit(c.diffaug("scaled", scaled)), lf);
    return c.step === "d" ? { d_real: t.d_real, d_fake: t.d_fake, d: t.d } : { g: t.g };
  },
  r1: (c) => {
    const t = ganTerms(c.logit(c.real), c.logit(c.apply("G", c.noise.z!).out!));
    const r1 = sum(c.inputGrad(c.real).map((g) => sum(g.map((x) => x * x)))) / c.batch;
    return { ...t, r1, d: t.d + 5 * r1 };
  },
  acgan: (c) => {
    const fake = c.apply("G", c.noise.z!, c.label).out!;
    const real = c.apply("D", c.real);
    const gen = c.apply("D", fake);
    const t = ganTerms(real.logit!.map((r) => r[0]!), gen.logit!.map((r) => r[0]!));
    const qReal = softmaxCe(c.apply("Q", real.features!).out!, c.label);
    const qFake = softmaxCe(c.apply("Q", gen.features!).out!, c.label);
    return { ...t, q_real: qReal, q_fake: qFake, q: qReal + qFake };
  },
  infogan: (c) => {
    const fake = c.apply("G", c.noise.z!, c.noise.c!, c.noise.cc!).out!;
    const gen = c.apply("D", fake);
    const t = ganTerms(c.logit(c.real), gen.logit!.map((r) => r[0]!));
    const code = c.apply("Q", gen.features!).out!;
    const qDisc = softmaxCe(code.map((r) => r.slice(0, 10)), c.noise.c!);
    const qCont = 2 * mean(code.flatMap((r, i) => [0, 1].map((j) => (r[10 + j]! - c.noise.cc![i]![j]!) ** 2)));
    return { ...t, q_disc: qDisc, q_cont: qCont, q: qDisc + qCont };
  },
  ebgan: (c) => {
    const fake = c.apply("G", c.noise.z!).out!;
    const margin = Math.max(1, c.batch / 64);
    const errReal = c.err(c.real);
    const errFake = c.err(fake);
    const pt = pullaway(c.apply("D", fake).code!);
    return { d: errReal + Math.max(margin - errFake, 0), pt, g: errFake + 0.1 * pt };
  },
  began: (c) => {
    const fake = c.apply("G", c.noise.z!).out!;
    const errReal = c.err(c.real);
    const errFake = c.err(fake);
    return {
      d: errReal - c.k * errFake,
      g: errFake,
      M: errReal + Math.abs(0.75 * errReal - errFake),
      // after g: k = clip(k + 0.001 * (0.75 * err_real - err_fake), 0, 1)
      "state k": Math.min(Math.max(c.k + 0.001 * (0.75 * errReal - errFake), 0), 1),
    };
  },
};

const weightsOf = (fixed: Fixed): Weights => (name) => fixed.weights.get(name)!;

/** WGAN's D after `after d: clip_weights(D, -0.01, 0.01)`: what step g sees. */
const clipped = (fixed: Fixed, p: ProgramIR): Weights => {
  const trainable = new Set(p.nets.find((n) => n.name === "D")!.vars.filter((v) => v.trainable).map((v) => v.name));
  return (name) => {
    const w = fixed.weights.get(name)!;
    return trainable.has(name) ? w.map((x) => Math.min(Math.max(x, Math.fround(-0.01)), Math.fround(0.01))) : w;
  };
};

function expectClose(actual: number, expected: number, what: string) {
  expect(Number.isFinite(expected), `${what}: reference ${expected}`).toBe(true);
  expect(Math.abs(actual - expected), `${what}: compiled ${actual}, float64 ${expected}`).toBeLessThanOrEqual(REL * Math.max(Math.abs(expected), FLOOR));
}

/**
 * Checks every value the trainer recorded against the reference: records come in schedule order (one per
 * step), then measure()'s. `refFor(step)` is the reference as that step sees the weights. Returns the names checked.
 */
function checkRecords(ran: Ran, refFor: (step: string) => Record<string, number>, label: string): Set<string> {
  const p = ran.program;
  const order = [...p.train.schedule.flatMap((s) => Array.from({ length: s.repeat }, () => s.step))];
  const checked = new Set<string>();
  ran.run.records.forEach((rec, i) => {
    const step = order[i] ?? "measure";
    const ref = refFor(step);
    for (const [name, value] of Object.entries(rec.values)) {
      expect(ref, `${label}: the reference has no '${name}' (${step})`).toHaveProperty(name);
      expectClose(value, ref[name]!, `${label}, ${name} in ${step}`);
      checked.add(name);
    }
  });
  const measured = ran.code.includes("function measure(");
  expect(ran.run.records.length, `${label}: records`).toBe(order.length + (measured ? 1 : 0));
  // Every step ran and asked its optimizer to apply gradients (a step on another step's optimizer, as a lazy
  // R1 on D's, applies through that step's).
  const owner = (step: string) => p.steps.find((s) => s.name === step)!.optimizerOf ?? step;
  for (const s of p.steps.filter((x) => !x.optimizerOf)) expect(ran.run.applied[s.name], `${label}: step ${s.name} applied`).toBe(order.filter((x) => owner(x) === s.name).length);
  return checked;
}

const TRAINERS: [string, OptSet][] = [
  ["optimized", ALL_PASSES],
  ["layer by layer", NO_PASSES],
];

const CASES: Case[] = [
  ...SPECS.map((spec): Case => ({ spec, batch: 6, seed: spec === "hinge" ? "hinge/1" : spec, states: spec === "began" ? { k: 0.375 } : undefined })),
  { spec: "ebgan", batch: 128, seed: "ebgan", what: "batch 128, margin 2 above err(G(z))" },
  { spec: "began", batch: 6, seed: "began", states: { k: 0.0005 }, what: "k = 0.0005, its update clipped at 0" },
];
const caseName = (c: Case) => `${c.spec}${c.what ? ` (${c.what})` : ""}`;

/** The reference values of a case (as step d sees the weights) and the fixed values they come from. */
function reference(c: Case, p: ProgramIR, fixed: Fixed, w: Weights = weightsOf(fixed), step = "d") {
  return REFERENCE[c.spec]!(new Ctx(p, fixed, w, c, step));
}

describe("loss terms of the compiled trainers against float64", () => {
  it("covers every spec in specs/", () => {
    expect(SPECS.length).toBeGreaterThanOrEqual(14);
    for (const s of SPECS) expect(Object.keys(REFERENCE), `a reference for specs/${s}.gan`).toContain(s);
  });

  for (const backend of ["cpu", "wasm"] as const) {
    describe(`on ${backend}`, () => {
      let previous: string;
      beforeAll(async () => {
        previous = tf.getBackend();
        await selectBackend(backend, { log: () => {} });
      });
      afterAll(async () => {
        tf.disposeVariables();
        if (previous) await tf.setBackend(previous);
      });

      for (const c of CASES) {
        for (const [trainer, passes] of TRAINERS) {
          it(`${caseName(c)}, ${trainer} trainer: every loss and logged value`, async () => {
            const ran = await runTrainer(c, passes);
            try {
              const p = ran.program;
              // The optimized trainer's nets and constant-target losses are the runtime's fused ops; the other's are not.
              if (passes === ALL_PASSES) expect(ran.code).toContain("rt.fused.FusedNet");
              else expect(ran.code).not.toContain("rt.fused.");
              const plain = reference(c, p, ran.fixed);
              const afterClip = c.spec === "wgan" ? reference(c, p, ran.fixed, clipped(ran.fixed, p)) : plain;
              const label = `${caseName(c)}, ${trainer}, ${backend}`;
              const checked = checkRecords(ran, (step) => (c.spec === "wgan" && step !== "d" ? afterClip : c.spec === "dcgan_diffaug" || c.spec === "stylegan2_lite" ? reference(c, p, ran.fixed, weightsOf(ran.fixed), step) : plain), label);
              // Every loss and every logged value of the spec was computed and compared.
              const logged = p.train.log.filter((n) => p.values[n] !== undefined);
              expect([...checked].sort()).toEqual([...new Set([...p.losses.map((l) => l.name), ...logged])].sort());
              for (const s of p.states) expectClose(ran.run.read(s.name)[0]!, plain[`state ${s.name}`]!, `${label}: state ${s.name} after the iteration`);
              if (c.spec === "wgan") {
                // The clip bound on D's weights, so step g saw other weights than step d (d_fake, which both
                // steps record, differs between them).
                expect(ran.fixed.weights.get("D/dense1/kernel")!.some((x) => Math.abs(x) > 0.02)).toBe(true);
                expect(Array.from(ran.run.read("D/dense1/kernel"))).toEqual(Array.from(clipped(ran.fixed, p)("D/dense1/kernel")));
                expect(Math.abs(afterClip.d_fake! - plain.d_fake!)).toBeGreaterThan(1e-3);
              }
            } finally {
              ran.run.dispose();
            }
          });
        }
      }
    });
  }

  it("the fixed values put samples on both sides of every kink: hinge's margins, EBGAN's margin, BEGAN's clip and abs", () => {
    // Preconditions of the comparisons above: were every sample on one side of a relu, max, clip or abs,
    // the comparison could not tell the kink from a straight line.
    const ctx = (c: Case) => {
      const p = compileCase(c).program!;
      const fixed = fixedValues(c, p);
      return new Ctx(p, fixed, weightsOf(fixed), c);
    };
    const [hinge, ebgan6, began, ebgan128, beganClipped] = [CASES.find((c) => c.spec === "hinge")!, CASES.find((c) => c.spec === "ebgan")!, CASES.find((c) => c.spec === "began")!, CASES.at(-2)!, CASES.at(-1)!];
    const h = ctx(hinge);
    const lr = h.logit(h.real);
    const lf = h.logit(h.apply("G", h.noise.z!).out!);
    expect(lr.some((l) => l > 1) && lr.some((l) => l < 1), `D(real) logits ${lr}`).toBe(true);
    expect(lf.some((l) => l < -1) && lf.some((l) => l > -1), `D(fake) logits ${lf}`).toBe(true);

    // EBGAN: max(margin - err(G(z)), 0) is 0 at batch 6 (margin 1) and positive at batch 128 (margin 2).
    const errFake = (c: Case) => {
      const e = ctx(c);
      return e.err(e.apply("G", e.noise.z!).out!);
    };
    expect(errFake(ebgan6)).toBeGreaterThan(1);
    expect(ebgan128.batch / 64).toBe(2);
    expect(errFake(ebgan128)).toBeLessThan(2);

    // BEGAN: 0.75 err(x) - err(G(z)) < 0 (so M's abs flips its sign); k + 0.001 times it stays in [0, 1]
    // from k = 0.375 and falls below 0 (clipped) from k = 0.0005.
    const b = ctx(began);
    const delta = 0.75 * b.err(b.real) - b.err(b.apply("G", b.noise.z!).out!);
    expect(delta).toBeLessThan(0);
    expect(began.states!.k! + 0.001 * delta).toBeGreaterThan(0);
    expect(beganClipped.states!.k! + 0.001 * delta).toBeLessThan(0);
    expect(beganClipped.spec).toBe("began");
    expect(ebgan128.spec).toBe("ebgan");
  });
});
