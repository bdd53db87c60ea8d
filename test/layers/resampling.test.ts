import * as fs from "node:fs";
import * as path from "node:path";
import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import { selectBackend } from "../../src/runtime/backend.ts";
import * as rt from "../../src/runtime/index.ts";
import { compileText } from "../../src/compile.ts";
import { ROOT } from "../helpers.ts";

/*
 * The resampling layers (average pooling, bilinear upsampling, global sum and average) as the trainer
 * runs them (the calls each layer module's `code` writes), on cpu and wasm:
 *   - forward against float64 arithmetic written out here, independently of the runtime's formulation;
 *   - the input gradient of <r, f(x)> against the same float64 map (the layers are linear, so the
 *     gradient's entry i is <r, f64(e_i)>);
 *   - the second derivative a gradient penalty takes through them: the gradient with respect to a
 *     weight w of P(w) = sum(grad_x D(x; w)^2), D(x; w) = sum(v * tanh(f(x * w))), against central
 *     differences of P (float32: step 1e-3 leaves ~1e-4 rounding error on these O(1) values; 1e-2 of
 *     the largest entry lets no wrong derivative through).
 * Bilinear upsampling is also checked against tf.image.resizeBilinear(alignCorners=false,
 * halfPixelCenters=true), the PyTorch F.interpolate(mode="bilinear", align_corners=False) convention.
 */

type F64 = { data: Float64Array; shape: [number, number, number, number] };

/** TensorFlow's average pooling, directly: each window averages the positions of it inside the image. */
function avgPool64(x: F64, k: number, s: number, padding: "same" | "valid"): F64 {
  const [b, h, w, c] = x.shape;
  const out = (n: number) => (padding === "same" ? Math.ceil(n / s) : Math.floor((n - k) / s) + 1);
  const before = (n: number) => (padding === "same" ? Math.floor(Math.max((out(n) - 1) * s + k - n, 0) / 2) : 0);
  const oh = out(h);
  const ow = out(w);
  const y = new Float64Array(b * oh * ow * c);
  for (let n = 0; n < b; n++)
    for (let i = 0; i < oh; i++)
      for (let j = 0; j < ow; j++)
        for (let ch = 0; ch < c; ch++) {
          let sum = 0;
          let cnt = 0;
          for (let di = 0; di < k; di++)
            for (let dj = 0; dj < k; dj++) {
              const p = i * s - before(h) + di;
              const q = j * s - before(w) + dj;
              if (p < 0 || p >= h || q < 0 || q >= w) continue;
              sum += x.data[((n * h + p) * w + q) * c + ch]!;
              cnt++;
            }
          y[((n * oh + i) * ow + j) * c + ch] = sum / cnt;
        }
  return { data: y, shape: [b, oh, ow, c] };
}

/** PyTorch's upsample_bilinear2d with align_corners=False, as its reference implementation writes it. */
function bilinear64(x: F64, f: number): F64 {
  const [b, h, w, c] = x.shape;
  const src = (o: number, n: number) => {
    const r = Math.max((o + 0.5) / f - 0.5, 0);
    const i0 = Math.floor(r);
    const i1 = i0 < n - 1 ? i0 + 1 : i0;
    return [i0, i1, r - i0] as const;
  };
  const y = new Float64Array(b * h * f * w * f * c);
  const at = (n: number, p: number, q: number, ch: number) => x.data[((n * h + p) * w + q) * c + ch]!;
  for (let n = 0; n < b; n++)
    for (let i = 0; i < h * f; i++)
      for (let j = 0; j < w * f; j++)
        for (let ch = 0; ch < c; ch++) {
          const [p0, p1, lp] = src(i, h);
          const [q0, q1, lq] = src(j, w);
          y[((n * h * f + i) * w * f + j) * c + ch] =
            (1 - lp) * ((1 - lq) * at(n, p0, q0, ch) + lq * at(n, p0, q1, ch)) + lp * ((1 - lq) * at(n, p1, q0, ch) + lq * at(n, p1, q1, ch));
        }
  return { data: y, shape: [b, h * f, w * f, c] };
}

function globalPool64(x: F64, avg: boolean): { data: Float64Array; shape: number[] } {
  const [b, h, w, c] = x.shape;
  const y = new Float64Array(b * c);
  for (let n = 0; n < b; n++)
    for (let p = 0; p < h * w; p++) for (let ch = 0; ch < c; ch++) y[n * c + ch]! += x.data[(n * h * w + p) * c + ch]! / (avg ? h * w : 1);
  return { data: y, shape: [b, c] };
}

interface Case {
  name: string;
  shape: [number, number, number, number];
  run(x: tf.Tensor4D): tf.Tensor;
  ref(x: F64): { data: Float64Array; shape: number[] };
}

const cases: Case[] = [
  ...(
    [
      [2, 2, "valid", [2, 6, 4, 3]],
      [2, 2, "same", [2, 5, 7, 2]],
      [3, 1, "same", [2, 5, 4, 2]],
      [3, 2, "valid", [1, 7, 6, 2]],
      [3, 2, "same", [2, 6, 5, 2]],
      [4, 3, "same", [1, 7, 8, 1]],
      [2, 3, "same", [1, 7, 8, 2]],
      [2, 3, "valid", [1, 8, 7, 1]],
    ] as const
  ).map(([k, s, p, shape]): Case => ({
    name: `avgpool ${k} stride=${s} padding=${p} on ${shape.join("x")}`,
    shape: [...shape],
    run: (x) => rt.avgPool(x, k, s, p),
    ref: (x) => avgPool64(x, k, s, p),
  })),
  ...([2, 3] as const).map(
    (f): Case => ({ name: `upsample ${f} mode=bilinear`, shape: [2, 3, 4, 2], run: (x) => rt.upsampleBilinear(x, f), ref: (x) => bilinear64(x, f) }),
  ),
  { name: "global_sum", shape: [2, 3, 4, 3], run: (x) => tf.sum(x, [1, 2]), ref: (x) => globalPool64(x, false) },
  { name: "global_avg", shape: [2, 3, 4, 3], run: (x) => tf.mean(x, [1, 2]), ref: (x) => globalPool64(x, true) },
];

function values(n: number, seed: number): Float64Array {
  let a = seed >>> 0;
  return Float64Array.from({ length: n }, () => {
    a = (Math.imul(a, 1664525) + 1013904223) >>> 0;
    return Math.round((a / 2 ** 32 - 0.5) * 2 ** 12) / 2 ** 10; // exact in float32
  });
}

const size = (s: readonly number[]) => s.reduce((p, q) => p * q, 1);

function close(actual: ArrayLike<number>, expected: ArrayLike<number>, rel: number) {
  expect(actual.length).toBe(expected.length);
  const scale = Math.max(...Array.from(expected, Math.abs), 1e-30);
  let worst = 0;
  for (let i = 0; i < expected.length; i++) worst = Math.max(worst, Math.abs(actual[i]! - expected[i]!));
  expect(worst / scale).toBeLessThanOrEqual(rel);
}

for (const backend of ["cpu", "wasm"] as const) {
  describe(`resampling layers on ${backend}`, () => {
    beforeAll(async () => {
      await selectBackend(backend, { log: () => {} });
    });

    for (const c of cases) {
      it(`${c.name}: forward and input gradient equal float64 arithmetic`, () => {
        const xs = values(size(c.shape), 7);
        const ref = c.ref({ data: xs, shape: c.shape });
        const r = values(size(ref.shape), 11);
        tf.tidy(() => {
          const x = tf.tensor4d(Float32Array.from(xs), c.shape);
          const y = c.run(x);
          expect(y.shape).toEqual(ref.shape);
          close(y.dataSync(), ref.data, 1e-6);
          const g = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(c.run(t as tf.Tensor4D), tf.tensor(Float32Array.from(r), ref.shape))))(x);
          // The layer is linear: d<r, f(x)>/dx_i = <r, f(e_i)>.
          const expected = Float64Array.from({ length: xs.length }, (_, i) => {
            const e = new Float64Array(xs.length);
            e[i] = 1;
            const fe = c.ref({ data: e, shape: c.shape }).data;
            return fe.reduce((acc, v, j) => acc + v * r[j]!, 0);
          });
          close(g.dataSync(), expected, 1e-6);
        });
      });

      it(`${c.name}: a gradient penalty's second derivative matches central differences`, () => {
        tf.tidy(() => {
          const x = tf.tensor4d(Float32Array.from(values(size(c.shape), 3)), c.shape);
          const outShape = c.run(x).shape;
          const v = tf.tensor(Float32Array.from(values(size(outShape), 5)), outShape);
          const penalty = (w: tf.Tensor) => {
            const gx = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(v, tf.tanh(c.run(tf.mul(t, w) as tf.Tensor4D)))))(x);
            return tf.sum(tf.square(gx));
          };
          const w0 = Float32Array.from(values(c.shape[3], 9), (a) => 1 + a / 2);
          const analytic = tf.grad(penalty)(tf.tensor(w0)).dataSync();
          const H = 1e-3;
          const numeric = Array.from(w0, (_, i) => {
            const at = (d: number) => {
              const w = Float32Array.from(w0);
              w[i]! += d;
              return penalty(tf.tensor(w)).dataSync()[0]!;
            };
            return (at(H) - at(-H)) / (2 * H);
          });
          expect(Math.max(...Array.from(analytic, Math.abs))).toBeGreaterThan(1e-3);
          close(analytic, numeric, 1e-2);
        });
      });
    }

    it("bilinear upsampling is tf.image.resizeBilinear with half-pixel centers, not tfjs's default", () => {
      tf.tidy(() => {
        const x = tf.tensor4d(Float32Array.from(values(2 * 3 * 5 * 2, 13)), [2, 3, 5, 2]);
        const ours = rt.upsampleBilinear(x, 2).dataSync();
        close(ours, tf.image.resizeBilinear(x, [6, 10], false, true).dataSync(), 1e-6);
        const plain = tf.image.resizeBilinear(x, [6, 10], false, false).dataSync();
        expect(Math.max(...Array.from(ours, (a, i) => Math.abs(a - plain[i]!)))).toBeGreaterThan(1e-2);
      });
    });

    it("average pooling is tf.avgPool for every padding", () => {
      tf.tidy(() => {
        const x = tf.tensor4d(Float32Array.from(values(2 * 7 * 6 * 2, 17)), [2, 7, 6, 2]);
        for (const [k, s, p] of [[2, 2, "valid"], [3, 2, "same"], [3, 1, "same"], [3, 2, "valid"], [2, 3, "same"]] as const)
          close(rt.avgPool(x, k, s, p).dataSync(), tf.avgPool(x, k, s, p).dataSync(), 1e-6);
      });
    });
  });
}

describe("both spec forms", () => {
  it("the YAML twin of the resampling fixture (some layers in mapping form) resolves to the same nets", () => {
    const nets = (file: string) => {
      const r = compileText(fs.readFileSync(path.join(ROOT, file), "utf8"), file);
      expect(r.diagnostics.filter((d) => d.severity === "error")).toEqual([]);
      // Source lines differ between the forms; everything else must not.
      return JSON.parse(JSON.stringify(r.program!.nets, (k, v) => (k === "line" || k === "span" ? undefined : v)));
    };
    const dsl = nets("test/fixtures/resample-layers.gan");
    expect(nets("test/fixtures/resample-layers.gan.yaml")).toEqual(dsl);
    const ops = dsl.flatMap((n: { layers: { layer: { op: string } }[] }) => n.layers.map((l) => l.layer.op));
    expect(ops).toEqual(expect.arrayContaining(["avgpool", "upsample", "global_sum", "global_avg"]));
  });
});
