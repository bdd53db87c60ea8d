/**
 * The conditioning layers (`embed`, `chunk`, `cbn`, `dot`): the layer-by-layer code the trainer writes,
 * run by tfjs (float32) with its gradients, against the same nets written out in float64 arithmetic here
 * and differentiated by central differences, on cpu and wasm. A conditional generator in training mode
 * (batch statistics, spectral norm on one cbn's maps) and in sampling mode (moving statistics); a
 * projection discriminator under an R1-style penalty (second derivatives through embed, dot and add).
 */
import * as tf from "@tensorflow/tfjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ident } from "../../src/codegen/writer.ts";
import { layerModule } from "../../src/layers/index.ts";
import { checkSpec } from "../../src/parser/check/index.ts";
import { completeExample } from "../../src/parser/codes.ts";
import { parseSpec } from "../../src/parser/index.ts";
import * as ops from "../../src/runtime/ops.ts";
import { selectBackend } from "../../src/runtime/backend.ts";
import type { NetIR } from "../../src/ir/types.ts";

const K = 3; // classes
const N = 4; // samples
const EPS = 1e-5;

const G_NET = `net G(z, y) {
  embed(y, 3) -> e
  chunk(z, 1, 2), concat(e) -> c
  chunk(z, 0, 2), dense 3 bias=false, cbn(c), tanh
  dense 8 bias=false, reshape [2, 2, 2], cbn(c, sn=true), flatten
  dense 2 bias=false
}`;
const D_NET = `net D(x, y) {
  dense 3, tanh -> h
  dense 1 -> lin
  embed(y, 3, sn=true), dot(h), add(lin) -> logit
}`;
const SPEC = `noise y: categorical(${K})
${G_NET}
${D_NET}
fake = G(z, y)
loss d = bce_logits(D(real, y).logit, ones) + bce_logits(D(fake, y).logit, zeros)
loss g = bce_logits(D(fake, y).logit, ones)`;

function netsOf(text: string): Map<string, NetIR> {
  const full = completeExample({ text });
  const parsed = parseSpec(full, "conditioning.gan");
  const checked = checkSpec(parsed.spec!, full);
  expect(checked.diagnostics.map((d) => d.message)).toEqual([]);
  return new Map(checked.program!.nets.map((n) => [n.name, n]));
}

type Fn = (inputs: tf.Tensor[], vars: Record<string, tf.Tensor>, mode: ops.Mode) => tf.Tensor;

/** The net's forward pass as the --no-opt trainer writes it, as a JS function of its inputs and variables. */
function compiled(net: NetIR): Fn {
  const locals = new Map<string, string>(net.params.map((p) => [p.name, ident(p.name)]));
  const lines = [`let h = ${ident(net.params[0]!.name)};`];
  for (const info of net.layers) {
    lines.push(layerModule(info.layer).code(info.layer, { net, info, local: (n) => locals.get(n)! }).replace(/ as tf\.\w+/g, "").replace(/([\w\])])!(?!=)/g, "$1")); // TypeScript's casts and non-null marks off
    if (info.tap) {
      locals.set(info.tap, `tap_${info.tap}`);
      lines.push(`const tap_${info.tap} = h;`);
    }
  }
  lines.push("return h;");
  const names = net.vars.map((v) => ident(v.name));
  const fn = new Function("tf", "rt", "mode", ...net.params.map((p) => ident(p.name)), ...names, lines.join("\n")) as (...a: unknown[]) => tf.Tensor;
  return (inputs, vars, mode) => fn(tf, ops, mode, ...inputs, ...net.vars.map((v) => vars[v.name]!));
}

// ---- float64 arithmetic ----------------------------------------------------------------------------------

type M = number[][];
const mm = (a: M, w: M): M => a.map((r) => w[0]!.map((_, j) => r.reduce((s, v, k) => s + v * w[k]![j]!, 0)));
const l2 = (v: number[]) => {
  const n = Math.sqrt(v.reduce((s, x) => s + x * x, 0));
  return v.map((x) => x / (n + 1e-12));
};
/** The power iteration's v and u for kernel w [n, out] and u [1, out] (held fixed, as the trainer's stopGradient does). */
function snVectors(w: M, u: number[]): { v: number[]; un: number[] } {
  const v = l2(w.map((row) => row.reduce((s, x, j) => s + x * u[j]!, 0)));
  const un = l2(w[0]!.map((_, j) => w.reduce((s, row, i) => s + v[i]! * row[j]!, 0)));
  return { v, un };
}
/** w / sigma with sigma = v w un^T. */
function snApply(w: M, { v, un }: { v: number[]; un: number[] }): M {
  let sigma = 0;
  w.forEach((row, i) => row.forEach((x, j) => (sigma += v[i]! * x * un[j]!)));
  return w.map((row) => row.map((x) => x / sigma));
}
/** Batch norm without scale and offset of channels-last values: rows[i][p][ch], statistics over samples and positions. */
function bnTrain(rows: number[][][]): { y: number[][][]; mean: number[]; variance: number[] } {
  const chs = rows[0]![0]!.length;
  const all = rows.flat();
  const mean = Array.from({ length: chs }, (_, c) => all.reduce((s, p) => s + p[c]!, 0) / all.length);
  const variance = Array.from({ length: chs }, (_, c) => all.reduce((s, p) => s + (p[c]! - mean[c]!) ** 2, 0) / all.length);
  return { y: bnWith(rows, mean, variance), mean, variance };
}
const bnWith = (rows: number[][][], mean: number[], variance: number[]) => rows.map((ps) => ps.map((p) => p.map((x, c) => (x - mean[c]!) / Math.sqrt(variance[c]! + EPS))));
/** cbn's affine part: y * (1 + c wg) + c wb, per sample. */
function condAffine(nrm: number[][][], c: M, wg: M, wb: M): number[][][] {
  const g = mm(c, wg);
  const b = mm(c, wb);
  return nrm.map((ps, i) => ps.map((p) => p.map((x, ch) => x * (1 + g[i]![ch]!) + b[i]![ch]!)));
}

interface GWeights {
  E: M; W1: M; G1: M; B1: M; W2: M; G2: M; B2: M; W3: M;
}
const G_ORDER = ["E", "W1", "G1", "B1", "W2", "G2", "B2", "W3"] as const;

/** G in float64; `stats`: the moving statistics to use (sampling mode), else the batch's. */
function gReference(z: M, y: M, w: GWeights, sn: { g: ReturnType<typeof snVectors>; b: ReturnType<typeof snVectors> }, stats?: { m1: number[]; v1: number[]; m2: number[]; v2: number[] }) {
  const e = mm(y, w.E);
  const c = z.map((r, i) => [r[2]!, r[3]!, ...e[i]!]);
  const a = mm(z.map((r) => [r[0]!, r[1]!]), w.W1).map((r) => [r]);
  const bn1 = stats ? { y: bnWith(a, stats.m1, stats.v1), mean: stats.m1 } : bnTrain(a);
  const o1 = condAffine(bn1.y, c, w.G1, w.B1).map((ps) => ps[0]!.map(Math.tanh));
  // dense 8 then reshape [2, 2, 2]: flat index p*2 + ch, positions p = 0..3
  const b = mm(o1, w.W2).map((r) => [0, 1, 2, 3].map((p) => [r[p * 2]!, r[p * 2 + 1]!]));
  const bn2 = stats ? { y: bnWith(b, stats.m2, stats.v2), mean: stats.m2 } : bnTrain(b);
  const o2 = condAffine(bn2.y, c, snApply(w.G2, sn.g), snApply(w.B2, sn.b)).map((ps) => ps.flat());
  return { out: mm(o2, w.W3), mean1: bn1.mean };
}

interface DWeights {
  W1: M; b1: number[]; Wl: M; bl: number[]; E: M;
}
const D_ORDER = ["W1", "b1", "Wl", "bl", "E"] as const;

/** D's logit per sample and its input gradient, in float64. */
function dReference(x: M, y: M, w: DWeights, sn: ReturnType<typeof snVectors>): { logit: number[]; dx: M } {
  const h = mm(x, w.W1).map((r) => r.map((v, j) => Math.tanh(v + w.b1[j]!)));
  const e = mm(y, snApply(w.E, sn));
  const logit = h.map((r, i) => r.reduce((s, v, j) => s + v * (e[i]![j]! + w.Wl[j]![0]!), 0) + w.bl[0]!);
  const dx = x.map((row, i) => row.map((_, k) => h[i]!.reduce((s, hv, j) => s + w.W1[k]![j]! * (1 - hv * hv) * (e[i]![j]! + w.Wl[j]![0]!), 0)));
  return { logit, dx };
}

// ---- the tests -------------------------------------------------------------------------------------------

let seed = 11;
const rnd = () => ((seed = (seed * 16807) % 2147483647) / 2147483647) * 2 - 1;
const matrix = (r: number, c: number, s = 1): M => Array.from({ length: r }, () => Array.from({ length: c }, () => Math.fround(rnd() * s)));
const labels = (): M => Array.from({ length: N }, (_, i) => Array.from({ length: K }, (_, k) => ((2 * i + 1) % K === k ? 1 : 0)));
const h = 1e-6;
const central = (f: (d: number) => number) => (f(h) - f(-h)) / (2 * h);
/** `ws` with element [r][c] of weight `key` moved by d. */
function poke<T extends object>(ws: T, key: keyof T, r: number, c: number, d: number): T {
  const w = ws[key] as M | number[];
  const moved = Array.isArray(w[0]) ? (w as M).map((row, ri) => row.map((v, ci) => (ri === r && ci === c ? v + d : v))) : (w as number[]).map((v, ci) => (ci === c ? v + d : v));
  return { ...ws, [key]: moved };
}
function expectClose(got: number, want: number, what: string, rel = 1e-4) {
  expect(Math.abs(got - want), `${what}: ${got} vs ${want}`).toBeLessThan(rel * Math.max(1, Math.abs(want)));
}

for (const backend of ["cpu", "wasm"] as const) {
  describe(`conditioning layers in the layer-by-layer trainer on ${backend}`, () => {
    let previous: string;
    beforeAll(async () => {
      previous = tf.getBackend();
      await selectBackend(backend, { log: () => {} });
    });
    afterAll(async () => {
      if (previous) await tf.setBackend(previous);
    });
    const nets = netsOf(SPEC);
    const G = nets.get("G")!;
    const D = nets.get("D")!;

    it("the nets check with the variables and shapes of the layers", () => {
      expect(G.vars.map((v) => `${v.name} [${v.shape.join(", ")}]${v.trainable ? "" : " fixed"}`)).toEqual([
        "G/embed1/kernel [3, 3]",
        "G/dense1/kernel [2, 3]",
        "G/cbn1/gain [5, 3]",
        "G/cbn1/bias [5, 3]",
        "G/cbn1/moving_mean [3] fixed",
        "G/cbn1/moving_variance [3] fixed",
        "G/dense2/kernel [3, 8]",
        "G/cbn2/gain [5, 2]",
        "G/cbn2/bias [5, 2]",
        "G/cbn2/gain_sn_u [1, 2] fixed",
        "G/cbn2/bias_sn_u [1, 2] fixed",
        "G/cbn2/moving_mean [2] fixed",
        "G/cbn2/moving_variance [2] fixed",
        "G/dense3/kernel [8, 2]",
      ]);
      expect(G.layers.map((l) => `${l.name} [${l.outShape.join(", ")}]`).slice(0, 5)).toEqual(["embed1 [3]", "chunk1 [2]", "concat1 [5]", "chunk2 [2]", "dense1 [3]"]);
      expect(G.hasBatchnorm).toBe(true);
      expect(D.layers.map((l) => `${l.name} [${l.outShape.join(", ")}]`).slice(-3)).toEqual(["embed1 [3]", "dot1 [1]", "add1 [1]"]);
    });

    it("G in training mode: forward, moving averages, and every gradient match float64 central differences", () => {
      expect(tf.getBackend()).toBe(backend);
      const z = matrix(N, 4);
      const y = labels();
      const w: GWeights = { E: matrix(K, 3), W1: matrix(2, 3), G1: matrix(5, 3, 0.5), B1: matrix(5, 3, 0.5), W2: matrix(3, 8), G2: matrix(5, 2, 0.5), B2: matrix(5, 2, 0.5), W3: matrix(8, 2) };
      const uG = matrix(1, 2)[0]!;
      const uB = matrix(1, 2)[0]!;
      const sn = { g: snVectors(w.G2, uG), b: snVectors(w.B2, uB) };
      const outW = [[1.5, -0.7], [0.3, 1.1], [-0.9, 0.4], [0.6, 0.8]];
      const loss = (zz: M, ww: GWeights) => gReference(zz, y, ww, sn).out.reduce((s, r, i) => s + r[0]! * outW[i]![0]! + r[1]! * outW[i]![1]!, 0);

      const fixed: Record<string, tf.Variable> = {
        "G/cbn1/moving_mean": tf.variable(tf.zeros([3])),
        "G/cbn1/moving_variance": tf.variable(tf.ones([3])),
        "G/cbn2/gain_sn_u": tf.variable(tf.tensor2d([uG])),
        "G/cbn2/bias_sn_u": tf.variable(tf.tensor2d([uB])),
        "G/cbn2/moving_mean": tf.variable(tf.zeros([2])),
        "G/cbn2/moving_variance": tf.variable(tf.ones([2])),
      };
      const trainable = ["G/embed1/kernel", "G/dense1/kernel", "G/cbn1/gain", "G/cbn1/bias", "G/dense2/kernel", "G/cbn2/gain", "G/cbn2/bias", "G/dense3/kernel"];
      const f = compiled(G);
      const run = (zt: tf.Tensor, ...wt: tf.Tensor[]) => {
        // the power iteration's u is state the training pass updates: every pass starts from the same u
        fixed["G/cbn2/gain_sn_u"]!.assign(tf.tensor2d([uG]));
        fixed["G/cbn2/bias_sn_u"]!.assign(tf.tensor2d([uB]));
        return f([zt, tf.tensor2d(y)], { ...fixed, ...Object.fromEntries(trainable.map((n, i) => [n, wt[i]!])) }, "train");
      };
      const wTensors = G_ORDER.map((k) => tf.tensor2d(w[k]));
      const out = run(tf.tensor2d(z), ...wTensors).arraySync() as M;
      const ref = gReference(z, y, w, sn);
      out.forEach((r, i) => r.forEach((v, j) => expectClose(v, ref.out[i]![j]!, `out[${i}][${j}]`, 1e-5)));
      // training mode moved cbn1's moving mean a tenth of the way to the batch mean
      (fixed["G/cbn1/moving_mean"]!.arraySync() as number[]).forEach((v, j) => expectClose(v, 0.1 * ref.mean1[j]!, `moving_mean[${j}]`, 1e-5));

      const wts = tf.tensor2d(outW);
      const grads = tf.grads((zt: tf.Tensor, ...wt: tf.Tensor[]) => tf.sum(tf.mul(run(zt, ...wt), wts)))([tf.tensor2d(z), ...wTensors]);
      const gz = grads[0]!.arraySync() as M;
      z.forEach((row, i) => row.forEach((_, k) => expectClose(gz[i]![k]!, central((d) => loss(z.map((r, ii) => r.map((v, kk) => (ii === i && kk === k ? v + d : v))), w)), `dz[${i}][${k}]`)));
      G_ORDER.forEach((key, wi) => {
        const g = grads[wi + 1]!.arraySync() as M;
        let nonzero = 0;
        w[key].forEach((row, r) =>
          row.forEach((_, c) => {
            const num = central((d) => loss(z, poke(w, key, r, c, d)));
            expectClose(g[r]![c]!, num, `d${key}[${r}][${c}]`);
            if (Math.abs(num) > 1e-6) nonzero++;
          }),
        );
        expect(nonzero, `${key} has gradients`).toBeGreaterThan(0);
      });
      tf.dispose([...Object.values(fixed), ...grads, ...wTensors, wts]);
    });

    it("G in sampling mode uses the moving statistics", () => {
      const z = matrix(N, 4);
      const y = labels();
      const w: GWeights = { E: matrix(K, 3), W1: matrix(2, 3), G1: matrix(5, 3, 0.5), B1: matrix(5, 3, 0.5), W2: matrix(3, 8), G2: matrix(5, 2, 0.5), B2: matrix(5, 2, 0.5), W3: matrix(8, 2) };
      const uG = matrix(1, 2)[0]!;
      const uB = matrix(1, 2)[0]!;
      const stats = { m1: matrix(1, 3)[0]!, v1: matrix(1, 3)[0]!.map((v) => Math.fround(1 + Math.abs(v))), m2: matrix(1, 2)[0]!, v2: matrix(1, 2)[0]!.map((v) => Math.fround(0.5 + Math.abs(v))) };
      const vars: Record<string, tf.Tensor> = {
        "G/embed1/kernel": tf.tensor2d(w.E), "G/dense1/kernel": tf.tensor2d(w.W1), "G/cbn1/gain": tf.tensor2d(w.G1), "G/cbn1/bias": tf.tensor2d(w.B1),
        "G/cbn1/moving_mean": tf.variable(tf.tensor1d(stats.m1)), "G/cbn1/moving_variance": tf.variable(tf.tensor1d(stats.v1)),
        "G/dense2/kernel": tf.tensor2d(w.W2), "G/cbn2/gain": tf.tensor2d(w.G2), "G/cbn2/bias": tf.tensor2d(w.B2),
        "G/cbn2/gain_sn_u": tf.variable(tf.tensor2d([uG])), "G/cbn2/bias_sn_u": tf.variable(tf.tensor2d([uB])),
        "G/cbn2/moving_mean": tf.variable(tf.tensor1d(stats.m2)), "G/cbn2/moving_variance": tf.variable(tf.tensor1d(stats.v2)),
        "G/dense3/kernel": tf.tensor2d(w.W3),
      };
      const out = compiled(G)([tf.tensor2d(z), tf.tensor2d(y)], vars, "infer").arraySync() as M;
      const ref = gReference(z, y, w, { g: snVectors(w.G2, uG), b: snVectors(w.B2, uB) }, stats).out;
      out.forEach((r, i) => r.forEach((v, j) => expectClose(v, ref[i]![j]!, `out[${i}][${j}]`, 1e-5)));
      // sampling leaves the moving statistics alone
      expect(Array.from(vars["G/cbn1/moving_mean"]!.dataSync())).toEqual(Array.from(Float32Array.from(stats.m1)));
      tf.dispose(Object.values(vars));
    });

    it("projection D under an input-gradient penalty: logits, input gradients and the penalty's weight gradients (second derivatives)", () => {
      const x = matrix(N, 2);
      const y = labels();
      const w: DWeights = { W1: matrix(2, 3), b1: matrix(1, 3, 0.3)[0]!, Wl: matrix(3, 1), bl: matrix(1, 1, 0.3)[0]!, E: matrix(K, 3) };
      const u = matrix(1, 3)[0]!;
      const sn = snVectors(w.E, u);
      const outW = [1.5, -0.7, 0.3, 1.1];
      // loss = sum_i outW_i logit_i + sum_i |d logit_i / d x_i|^2
      const loss = (ww: DWeights) => {
        const r = dReference(x, y, ww, sn);
        return r.logit.reduce((s, l, i) => s + outW[i]! * l, 0) + r.dx.flat().reduce((s, g) => s + g * g, 0);
      };
      const uVar = tf.variable(tf.tensor2d([u]));
      const f = compiled(D);
      const run = (xt: tf.Tensor, wt: tf.Tensor[]) =>
        f([xt, tf.tensor2d(y)], { "D/dense1/kernel": wt[0]!, "D/dense1/bias": wt[1]!, "D/dense2/kernel": wt[2]!, "D/dense2/bias": wt[3]!, "D/embed1/kernel": wt[4]!, "D/embed1/sn_u": uVar }, "infer");
      const wTensors = [tf.tensor2d(w.W1), tf.tensor1d(w.b1), tf.tensor2d(w.Wl), tf.tensor1d(w.bl), tf.tensor2d(w.E)];
      const ref = dReference(x, y, w, sn);
      const xt = tf.tensor2d(x);
      (run(xt, wTensors).arraySync() as M).forEach((r, i) => expectClose(r[0]!, ref.logit[i]!, `logit[${i}]`, 1e-5));
      const dx = tf.grad((xx: tf.Tensor) => tf.sum(run(xx, wTensors)))(xt).arraySync() as M;
      dx.forEach((r, i) => r.forEach((v, k) => expectClose(v, ref.dx[i]![k]!, `dx[${i}][${k}]`, 1e-5)));

      const grads = tf.grads((...wt: tf.Tensor[]) => {
        const logit = run(xt, wt);
        const g = tf.grad((xx: tf.Tensor) => tf.sum(run(xx, wt)))(xt);
        return tf.add(tf.sum(tf.mul(tf.reshape(logit, [-1]), tf.tensor1d(outW))), tf.sum(tf.square(g)));
      })(wTensors);
      D_ORDER.forEach((key, wi) => {
        const g = grads[wi]!.arraySync() as M | number[];
        const ww = w[key];
        let nonzero = 0;
        (Array.isArray(ww[0]) ? (ww as M) : [ww as number[]]).forEach((row, r) =>
          row.forEach((_, c) => {
            const num = Array.isArray(ww[0]) ? central((d) => loss(poke(w, key, r, c, d))) : central((d) => loss(poke(w, key, 0, c, d)));
            const got = Array.isArray(ww[0]) ? (g as M)[r]![c]! : (g as number[])[c]!;
            expectClose(got, num, `d${key}[${r}][${c}]`);
            if (Math.abs(num) > 1e-6) nonzero++;
          }),
        );
        expect(nonzero, `${key} has gradients`).toBeGreaterThan(0);
      });
      tf.dispose([uVar, xt, ...wTensors, ...grads]);
    });
  });
}
