/**
 * modconv (StyleGAN2's modulated convolution) as the trainer runs it (rt.modConv, what the layer's `code`
 * writes), on cpu and wasm, against its per-sample definition written out here in float64: each sample n
 * gets its own kernel W''[n] = W / sqrt(k*k*in) * s[n, i] (times d[n, o] with demodulation), with
 * s = w A / sqrt(wdim) + b, and is convolved with it in plain loops ('same' padding), then the bias added.
 *   - forward, with and without demodulation;
 *   - the gradients of <r, y> with respect to the image, the style vector w, the convolution weight, the
 *     affine weight and bias and the output bias, against central differences of the float64 definition;
 *   - an R1 penalty's second derivative: P = sum((grad_x sum(v * tanh(y)))^2), its gradient with respect to
 *     every weight and to w, against central differences of P written in float64 (grad_x by hand: the
 *     transposed per-sample convolution).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import * as tf from "@tensorflow/tfjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { checkText } from "../../src/check.ts";
import { compileText } from "../../src/compile.ts";
import { layerModule } from "../../src/layers/index.ts";
import { selectBackend } from "../../src/runtime/backend.ts";
import * as rt from "../../src/runtime/index.ts";
import { ROOT } from "../helpers.ts";

interface Dims {
  n: number;
  h: number;
  w: number;
  cin: number;
  cout: number;
  k: number;
  wdim: number;
}

/** Every tensor of the layer, flat, row-major in tfjs's layouts (x NHWC, kernel [k, k, in, out]). */
interface Params {
  x: Float64Array;
  style: Float64Array; // [n, wdim]
  kernel: Float64Array; // [k, k, in, out]
  affine: Float64Array; // [wdim, in]
  affineBias: Float64Array; // [in]
  bias: Float64Array; // [out]
}
type Key = keyof Params;
const KEYS: Key[] = ["x", "style", "kernel", "affine", "affineBias", "bias"];

/** Each sample's modulated (and demodulated) kernel, [n][kh][kw][i][o] flat. */
function perSampleKernels(p: Params, d: Dims, demod: boolean): Float64Array {
  const { n, cin, cout, k, wdim } = d;
  const gain = 1 / Math.sqrt(k * k * cin);
  const out = new Float64Array(n * k * k * cin * cout);
  for (let b = 0; b < n; b++) {
    const s = Array.from({ length: cin }, (_, i) => {
      let acc = p.affineBias[i]!;
      for (let j = 0; j < wdim; j++) acc += (p.style[b * wdim + j]! * p.affine[j * cin + i]!) / Math.sqrt(wdim);
      return acc;
    });
    for (let q = 0; q < k * k; q++) for (let i = 0; i < cin; i++) for (let o = 0; o < cout; o++) out[((b * k * k + q) * cin + i) * cout + o] = p.kernel[(q * cin + i) * cout + o]! * gain * s[i]!;
    if (demod)
      for (let o = 0; o < cout; o++) {
        let sq = 0;
        for (let q = 0; q < k * k; q++) for (let i = 0; i < cin; i++) sq += out[((b * k * k + q) * cin + i) * cout + o]! ** 2;
        const f = 1 / Math.sqrt(sq + 1e-8);
        for (let q = 0; q < k * k; q++) for (let i = 0; i < cin; i++) out[((b * k * k + q) * cin + i) * cout + o]! *= f;
      }
  }
  return out;
}

/** The grouped definition: sample b convolved with its own kernel, 'same' padding, plus the bias. */
function modconv64(p: Params, d: Dims, demod: boolean): Float64Array {
  const { n, h, w, cin, cout, k } = d;
  const W = perSampleKernels(p, d, demod);
  const pad = (k - 1) / 2;
  const y = new Float64Array(n * h * w * cout);
  for (let b = 0; b < n; b++)
    for (let r = 0; r < h; r++)
      for (let c = 0; c < w; c++)
        for (let o = 0; o < cout; o++) {
          let acc = p.bias[o]!;
          for (let kh = 0; kh < k; kh++)
            for (let kw = 0; kw < k; kw++) {
              const rr = r + kh - pad;
              const cc = c + kw - pad;
              if (rr < 0 || rr >= h || cc < 0 || cc >= w) continue;
              for (let i = 0; i < cin; i++) acc += p.x[((b * h + rr) * w + cc) * cin + i]! * W[((b * k * k + kh * k + kw) * cin + i) * cout + o]!;
            }
          y[((b * h + r) * w + c) * cout + o] = acc;
        }
  return y;
}

/** R1's P = sum((d/dx sum(v * tanh(y)))^2) in float64, grad_x written out as the transposed per-sample convolution. */
function r1Penalty64(p: Params, d: Dims, demod: boolean, v: Float64Array): number {
  const { n, h, w, cin, cout, k } = d;
  const y = modconv64(p, d, demod);
  const g = y.map((yi, j) => v[j]! * (1 - Math.tanh(yi) ** 2));
  const W = perSampleKernels(p, d, demod);
  const pad = (k - 1) / 2;
  const dx = new Float64Array(p.x.length);
  for (let b = 0; b < n; b++)
    for (let r = 0; r < h; r++)
      for (let c = 0; c < w; c++)
        for (let o = 0; o < cout; o++)
          for (let kh = 0; kh < k; kh++)
            for (let kw = 0; kw < k; kw++) {
              const rr = r + kh - pad;
              const cc = c + kw - pad;
              if (rr < 0 || rr >= h || cc < 0 || cc >= w) continue;
              for (let i = 0; i < cin; i++) dx[((b * h + rr) * w + cc) * cin + i]! += g[((b * h + r) * w + c) * cout + o]! * W[((b * k * k + kh * k + kw) * cin + i) * cout + o]!;
            }
  return dx.reduce((a, z) => a + z * z, 0);
}

/** Deterministic values exact in float32. */
function values(len: number, seed: number, scale = 1): Float64Array {
  let a = seed >>> 0;
  return Float64Array.from({ length: len }, () => {
    a = (Math.imul(a, 1664525) + 1013904223) >>> 0;
    return (Math.round((a / 2 ** 32 - 0.5) * 2 ** 12) / 2 ** 11) * scale;
  });
}

function paramsFor(d: Dims, seed: number): Params {
  return {
    x: values(d.n * d.h * d.w * d.cin, seed),
    style: values(d.n * d.wdim, seed + 1),
    kernel: values(d.k * d.k * d.cin * d.cout, seed + 2, 2),
    affine: values(d.wdim * d.cin, seed + 3, 2),
    affineBias: values(d.cin, seed + 4).map((a) => 1 + a / 2),
    bias: values(d.cout, seed + 5, 0.5),
  };
}

const shapes = (d: Dims): Record<Key, number[]> => ({
  x: [d.n, d.h, d.w, d.cin],
  style: [d.n, d.wdim],
  kernel: [d.k, d.k, d.cin, d.cout],
  affine: [d.wdim, d.cin],
  affineBias: [d.cin],
  bias: [d.cout],
});

/** rt.modConv on float32 tensors of the parameters. */
function run(t: Record<Key, tf.Tensor>, demod: boolean): tf.Tensor {
  return rt.modConv(t.x as tf.Tensor4D, t.style, t.kernel, t.affine, t.affineBias, t.bias, demod);
}

/** Central differences of f with respect to every element of parameter `key`. */
function numericGrad(p: Params, key: Key, f: (q: Params) => number, h: number): Float64Array {
  return Float64Array.from(p[key], (_, j) => {
    const at = (delta: number) => {
      const moved = Float64Array.from(p[key]);
      moved[j]! += delta;
      return f({ ...p, [key]: moved });
    };
    return (at(h) - at(-h)) / (2 * h);
  });
}

function close(actual: ArrayLike<number>, expected: ArrayLike<number>, rel: number, what: string) {
  expect(actual.length, what).toBe(expected.length);
  const scale = Math.max(...Array.from(expected, Math.abs), 1e-30);
  let worst = 0;
  for (let i = 0; i < expected.length; i++) worst = Math.max(worst, Math.abs(actual[i]! - expected[i]!));
  expect(worst / scale, `${what}: worst difference ${worst} at scale ${scale}`).toBeLessThanOrEqual(rel);
}

const cases: { name: string; d: Dims; demod: boolean }[] = [
  { name: "3x3, demodulated", d: { n: 2, h: 4, w: 3, cin: 3, cout: 2, k: 3, wdim: 4 }, demod: true },
  { name: "3x3, not demodulated", d: { n: 2, h: 3, w: 4, cin: 2, cout: 3, k: 3, wdim: 3 }, demod: false },
  { name: "1x1 toRGB (not demodulated)", d: { n: 3, h: 2, w: 2, cin: 4, cout: 3, k: 1, wdim: 2 }, demod: false },
  { name: "1x1, demodulated", d: { n: 2, h: 2, w: 3, cin: 3, cout: 2, k: 1, wdim: 3 }, demod: true },
];

for (const backend of ["cpu", "wasm"] as const) {
  describe(`modconv on ${backend}`, () => {
    let previous: string;
    beforeAll(async () => {
      previous = tf.getBackend();
      await selectBackend(backend, { log: () => {} });
    });
    afterAll(async () => {
      if (previous) await tf.setBackend(previous);
    });

    for (const c of cases) {
      it(`${c.name}: forward and the gradients of x, w, the conv weight, the affine weight and bias and the bias equal the per-sample definition in float64`, () => {
        expect(tf.getBackend()).toBe(backend);
        const p = paramsFor(c.d, 7);
        const sh = shapes(c.d);
        const ref = modconv64(p, c.d, c.demod);
        const r = values(ref.length, 31);
        tf.tidy(() => {
          const t = Object.fromEntries(KEYS.map((k) => [k, tf.tensor(Float32Array.from(p[k]), sh[k])])) as Record<Key, tf.Tensor>;
          const y = run(t, c.demod);
          expect(y.shape).toEqual([c.d.n, c.d.h, c.d.w, c.d.cout]);
          close(y.dataSync(), ref, 2e-6, "forward");
          const rT = tf.tensor(Float32Array.from(r), y.shape);
          const grads = tf.grads((...ts: tf.Tensor[]) => tf.sum(tf.mul(run(Object.fromEntries(KEYS.map((k, i) => [k, ts[i]!])) as Record<Key, tf.Tensor>, c.demod), rT)))(KEYS.map((k) => t[k]));
          const loss = (q: Params) => modconv64(q, c.d, c.demod).reduce((a, yi, j) => a + yi * r[j]!, 0);
          KEYS.forEach((k, i) => {
            const num = numericGrad(p, k, loss, 1e-6);
            expect(Math.max(...Array.from(num, Math.abs)), `${k} has a gradient`).toBeGreaterThan(1e-3);
            close(grads[i]!.dataSync(), num, 1e-5, `d/d${k}`);
          });
        });
      });
    }

    for (const c of [cases[0]!, cases[1]!]) {
      it(`${c.name}: an R1 penalty's second derivative (through grad_x) matches central differences of the float64 penalty`, () => {
        const p = paramsFor(c.d, 3);
        const sh = shapes(c.d);
        const v = values(c.d.n * c.d.h * c.d.w * c.d.cout, 17);
        tf.tidy(() => {
          const vT = tf.tensor(Float32Array.from(v), [c.d.n, c.d.h, c.d.w, c.d.cout]);
          const x = tf.tensor(Float32Array.from(p.x), sh.x);
          const others = KEYS.slice(1);
          const penalty = (...ts: tf.Tensor[]) => {
            const gx = tf.grad((xx: tf.Tensor) => tf.sum(tf.mul(vT, tf.tanh(run({ x: xx, ...(Object.fromEntries(others.map((k, i) => [k, ts[i]!])) as Record<Exclude<Key, "x">, tf.Tensor>) }, c.demod)))))(x);
            return tf.sum(tf.square(gx));
          };
          const ts = others.map((k) => tf.tensor(Float32Array.from(p[k]), sh[k]));
          close(penalty(...ts).dataSync(), [r1Penalty64(p, c.d, c.demod, v)], 1e-5, "penalty");
          const grads = tf.grads(penalty)(ts);
          others.forEach((k, i) => {
            const num = numericGrad(p, k, (q) => r1Penalty64(q, c.d, c.demod, v), 1e-6);
            expect(Math.max(...Array.from(num, Math.abs)), `${k} has a second-order gradient`).toBeGreaterThan(1e-3);
            close(grads[i]!.dataSync(), num, 2e-4, `dP/d${k}`);
          });
        });
      });
    }
  });
}

describe("modconv in a spec", () => {
  const spec = (g: string) => `data real: mnist(batch=8)
noise z: normal(0, 1, [4])
net G(z) {
  dense 6, lrelu 0.2 -> w
  from(w), dense 7*7*5, reshape [7, 7, 5]
  ${g}
}
net D(x) {
  conv 4 kernel=4 stride=2, lrelu 0.2
  flatten, dense 1 -> logit
}
fake = G(z)
loss d = bce_logits(D(real).logit, ones) + bce_logits(D(fake).logit, zeros)
loss g = bce_logits(D(fake).logit, ones)
step d: adam(lr=1e-3) minimize d over D
step g: adam(lr=1e-3) minimize g over G
`;
  it("declares the stored weights at unit variance, the affine bias at 1, and writes rt.modConv reading the style", () => {
    const r = checkText(spec("modconv(8, 3, w), lrelu 0.2, upsample 4 mode=bilinear, modulated_conv(1, k=1, style=w, demod=false, bias=false), sigmoid"), "s.gan");
    expect(r.diagnostics.filter((d) => d.severity === "error")).toEqual([]);
    const G = r.program!.nets.find((n) => n.name === "G")!;
    expect(G.vars.filter((v) => v.name.includes("modconv")).map((v) => `${v.name} [${v.shape.join(", ")}] ${JSON.stringify(v.init)}`)).toEqual([
      'G/modconv1/kernel [3, 3, 5, 8] {"kind":"normal","mean":0,"std":1}',
      'G/modconv1/affine [6, 5] {"kind":"normal","mean":0,"std":1}',
      'G/modconv1/affine_bias [5] {"kind":"ones"}',
      'G/modconv1/bias [8] {"kind":"zeros"}',
      'G/modconv2/kernel [1, 1, 8, 1] {"kind":"normal","mean":0,"std":1}',
      'G/modconv2/affine [6, 8] {"kind":"normal","mean":0,"std":1}',
      'G/modconv2/affine_bias [8] {"kind":"ones"}',
    ]);
    const layers = G.layers.filter((l) => l.layer.op === "modconv");
    expect(layers.map((l) => l.outShape)).toEqual([[7, 7, 8], [28, 28, 1]]);
    const code = layers.map((info) => layerModule(info.layer).code(info.layer, { net: G, info, local: (n) => `L_${n}` }));
    expect(code).toEqual([
      'h = rt.modConv(h as tf.Tensor4D, L_w, G_modconv1_kernel, G_modconv1_affine, G_modconv1_affine_bias, G_modconv1_bias, true);',
      'h = rt.modConv(h as tf.Tensor4D, L_w, G_modconv2_kernel, G_modconv2_affine, G_modconv2_affine_bias, null, false);',
    ]);
  });

  it("inside a block, reads the style the instance is given", () => {
    const text = spec("Syn(8, w), Syn(4, w)\n  modconv(1, 1, w, demod=false), sigmoid").replace("net G(z) {", "block Syn(ch, s) {\n  upsample 2 mode=bilinear, modconv(ch, 3, s), lrelu 0.2\n}\nnet G(z) {");
    const r = checkText(text, "s.gan");
    expect(r.diagnostics.filter((d) => d.severity === "error")).toEqual([]);
    const G = r.program!.nets.find((n) => n.name === "G")!;
    expect(G.layers.filter((l) => l.layer.op === "modconv").map((l) => `${l.name} ${(l.layer as { style: string }).style} ${l.outShape.join("x")}`)).toEqual(["syn1/modconv1 w 14x14x8", "syn2/modconv1 w 28x28x4", "modconv1 w 28x28x1"]);
  });

  it("init= sets the stored convolution weight's initializer", () => {
    const r = checkText(spec("modconv(1, 3, w, init=normal(0, 0.5)), upsample 4"), "s.gan");
    expect(r.diagnostics.filter((d) => d.severity === "error")).toEqual([]);
    expect(r.program!.nets.find((n) => n.name === "G")!.vars.find((v) => v.name === "G/modconv1/kernel")!.init).toEqual({ kind: "normal", mean: 0, std: 0.5 });
  });

  it("no style, a style that is not a vector, an even kernel, an invalid filter count and a flat input are errors at the layer", () => {
    const codes = (g: string) => checkText(spec(g), "s.gan").diagnostics.filter((d) => d.severity === "error").map((d) => d.code);
    expect(codes("modconv 1 kernel=3, upsample 4")).toEqual(["E0190"]);
    expect(codes("modconv(1, 3, 2), upsample 4")).toEqual(["E0190"]);
    expect(codes("modconv(1, 3, z), upsample 4")).toEqual([]); // a net input of the right rank is a style too
    expect(codes("reshape [7, 7, 5] -> m\n  modconv(1, 3, m), upsample 4")).toEqual(["E0191"]);
    expect(codes("modconv(1, 4, w), upsample 4")).toEqual(["E0192"]);
    expect(codes("modconv(0, 3, w), upsample 4")).toEqual(["E0501"]);
    expect(codes("modconv(1, 3, ww), upsample 4")).toEqual(["E0160"]);
    expect(codes("flatten, modconv(1, 3, w)")).toEqual(["E0201"]);
  });
});

describe("the skip-generator fixture", () => {
  it("compiles for tfjs and for PyTorch (each modconv a mod_conv call of the Python trainer)", () => {
    const f = "test/fixtures/modconv-skip.gan";
    const text = fs.readFileSync(path.join(ROOT, f), "utf8");
    expect(compileText(text, f).code).toContain("rt.modConv(");
    const r = compileText(text, f, { target: "pytorch" });
    expect(r.diagnostics.filter((d) => d.severity === "error")).toEqual([]);
    const calls = r.code!.split("\n").filter((l) => /^\s+h = mod_conv\(/.test(l));
    const layers = r.program!.nets.flatMap((n) => n.layers).filter((l) => l.layer.op === "modconv").length;
    expect(layers).toBe(6);
    expect(calls.length).toBe(layers);
  });

  it("its .gan and YAML forms check to the same nets (layers, taps, shapes, variables)", () => {
    const nets = (f: string) => {
      const r = checkText(fs.readFileSync(path.join(ROOT, f), "utf8"), f);
      expect(r.diagnostics).toEqual([]);
      return r.program!.nets.map((n) => ({ name: n.name, vars: n.vars, layers: n.layers.map((l) => ({ name: l.name, layer: l.layer, out: l.outShape, tap: l.tap })) }));
    };
    const gan = nets("test/fixtures/modconv-skip.gan");
    const G = gan.find((n) => n.name === "G")!;
    expect(G.layers.filter((l) => l.layer.op === "modconv").map((l) => `${l.name} ${l.out.join("x")} demod=${(l.layer as { demod: boolean }).demod}`)).toEqual([
      "modconv1 14x14x8 demod=true",
      "modconv2 14x14x8 demod=true",
      "modconv3 14x14x1 demod=false",
      "modconv4 28x28x8 demod=true",
      "modconv5 28x28x8 demod=true",
      "modconv6 28x28x1 demod=false",
    ]);
    expect(nets("test/fixtures/modconv-skip.gan.yaml")).toEqual(gan);
  });
});
