import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-wasm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { diffAugDraws, parsePolicy } from "../../src/functions/diffaug.ts";
import { selectBackend } from "../../src/runtime/backend.ts";
import * as rt from "../../src/runtime/ops.ts";
import { keyState, Rng } from "../../src/runtime/rng.ts";
import { diffaug64 } from "./diffaug64.ts";

/*
 * diffaug (src/functions/diffaug.ts) against DiffAugment written out in float64 from the authors' code
 * (diffaug64.ts) on the same draws: the forward pass, the gradient with respect to the images, and the
 * second derivative a gradient penalty through it needs (R1 on augmented reals), on cpu and wasm.
 *
 * Tolerances: the forward pass is a few float32 operations on O(1) values (eps 6e-8 each), so 1e-5
 * absolute. Derivatives are compared with central differences of the float64 function, whose error is far
 * below float32's; 1e-4 of the largest derivative covers float32 rounding in the analytic side, while a
 * wrong shift, mask or factor is off by O(1).
 */

const ALL = "color,translation,cutout";
const draws = (key: string, n: number, h: number, w: number, policy: string) => diffAugDraws(Rng.fromState(keyState(key)), n, h, w, parsePolicy(policy) as number);

/** Images with values in [-1, 1] from a fixed key. */
function images(key: string, n: number, per: number): number[][] {
  const rng = Rng.fromState(keyState(key));
  return Array.from({ length: n }, () => Array.from({ length: per }, () => Math.fround(rng.uniform() * 2 - 1)));
}

describe("diffaug's draws", () => {
  it("follow the reference's distributions: brightness, saturation, contrast; shifts up to 1/8 of each side; cutout centers", () => {
    const n = 4000;
    const d = draws("dist", n, 32, 24, ALL);
    const range = (a: ArrayLike<number>) => [Math.min(...Array.from(a)), Math.max(...Array.from(a))];
    const [bl, bh] = range(d.brightness);
    expect(bl).toBeGreaterThanOrEqual(-0.5);
    expect(bl).toBeLessThan(-0.49);
    expect(bh).toBeLessThan(0.5);
    expect(bh).toBeGreaterThan(0.49);
    expect(range(d.saturation)[0]).toBeGreaterThanOrEqual(0);
    expect(range(d.saturation)[1]).toBeLessThan(2);
    expect(range(d.contrast)[0]).toBeGreaterThanOrEqual(0.5);
    expect(range(d.contrast)[1]).toBeLessThan(1.5);
    // int(32 / 8 + 0.5) = 4 rows, int(24 / 8 + 0.5) = 3 columns, every shift in between taken
    expect(new Set(d.dy)).toEqual(new Set([-4, -3, -2, -1, 0, 1, 2, 3, 4]));
    expect(new Set(d.dx)).toEqual(new Set([-3, -2, -1, 0, 1, 2, 3]));
    // cutout 16 x 12 (even): centers in [0, 32] and [0, 24]
    expect(new Set(d.cy).size).toBe(33);
    expect(Math.max(...d.cy)).toBe(32);
    expect(new Set(d.cx).size).toBe(25);
    for (let i = 0; i < n; i++) {
      const [top, bottom, left, right] = Array.from(d.cut.subarray(4 * i, 4 * i + 4));
      expect(top).toBe(Math.max(d.cy[i]! - 8, 0));
      expect(bottom).toBe(Math.min(d.cy[i]! + 8, 32));
      expect(left).toBe(Math.max(d.cx[i]! - 6, 0));
      expect(right).toBe(Math.min(d.cx[i]! + 6, 24));
    }
  });

  it("an odd cutout size centers on [0, side)", () => {
    const d = draws("odd", 2000, 10, 10, "cutout"); // int(5.5) = 5
    expect(Math.max(...d.cy)).toBe(9);
    expect(new Set(d.cy).size).toBe(10);
  });

  it("are a pure function of the key: the same key repeats them, another key does not", () => {
    expect(draws("k1", 16, 8, 8, ALL)).toEqual(draws("k1", 16, 8, 8, ALL));
    expect(Array.from(draws("k2", 16, 8, 8, ALL).brightness)).not.toEqual(Array.from(draws("k1", 16, 8, 8, ALL).brightness));
    expect(keyState("diffaug/0/5/0/d:4")).toEqual(keyState("diffaug/0/5/0/d:4"));
    expect(keyState("diffaug/0/5/0/d:4")).not.toEqual(keyState("diffaug/0/5/0/g:4"));
  });

  it("parses policies: any subset of the three, in any order; an unknown word is named", () => {
    expect(parsePolicy("color,translation,cutout")).toBe(7);
    expect(parsePolicy("cutout, color")).toBe(5);
    expect(parsePolicy("translation")).toBe(2);
    expect(parsePolicy("color,flip")).toEqual({ unknown: "flip", start: 6 });
    expect(parsePolicy("color, cutuot")).toEqual({ unknown: "cutuot", start: 7 });
  });
});

for (const backend of ["cpu", "wasm"] as const) {
  describe(`diffaug on ${backend}`, () => {
    let previous: string;
    beforeAll(async () => {
      previous = tf.getBackend();
      await selectBackend(backend, { log: () => {} });
    });
    afterAll(async () => {
      if (previous) await tf.setBackend(previous);
    });

    const shapes: [number, number, number, number][] = [
      [3, 12, 10, 3],
      [2, 32, 32, 3],
      [2, 9, 7, 1],
    ];
    for (const policy of ["color", "translation", "cutout", ALL, "cutout,translation"]) {
      for (const [n, h, w, c] of shapes) {
        it(`forward pass of "${policy}" on [${n}, ${h}, ${w}, ${c}] equals the float64 reference on the same draws`, () => {
          const x = images(`x/${policy}/${h}`, n, h * w * c);
          const key = keyState(`fwd/${policy}/${h}`);
          const got = tf.tidy(() => rt.diffAugment(tf.tensor4d(x.flat(), [n, h, w, c]), policy, key).arraySync() as number[][][][]);
          const want = diffaug64(x, h, w, c, policy, diffAugDraws(Rng.fromState(key), n, h, w, parsePolicy(policy) as number));
          let maxErr = 0;
          got.forEach((img, b) => img.flat(2).forEach((v, i) => (maxErr = Math.max(maxErr, Math.abs(v - want[b]![i]!)))));
          expect(maxErr).toBeLessThan(1e-5);
          // It changed something (a test of the identity would pass a no-op).
          expect(want.some((img, b) => img.some((v, i) => Math.abs(v - x[b]![i]!) > 1e-3))).toBe(true);
        });
      }
    }

    for (const policy of [ALL, "translation,cutout"]) it(`gradient of "${policy}" with respect to the images equals central differences of the float64 reference`, () => {
      const [n, h, w, c] = [2, 8, 8, 3];
      const per = h * w * c;
      const x = images("grad/x", n, per);
      const v = images("grad/v", n, per);
      const key = keyState("grad/key");
      const d = diffAugDraws(Rng.fromState(key), n, h, w, parsePolicy(policy) as number);
      const f64 = (xs: number[][]) => diffaug64(xs, h, w, c, policy, d).reduce((s, img, b) => s + img.reduce((t, y, i) => t + v[b]![i]! * Math.tanh(y), 0), 0);
      const got = tf.tidy(() => {
        const vt = tf.tensor4d(v.flat(), [n, h, w, c]);
        return tf.grad((xt: tf.Tensor) => tf.sum(tf.mul(vt, tf.tanh(rt.diffAugment(xt, policy, key)))))(tf.tensor4d(x.flat(), [n, h, w, c])).dataSync();
      });
      const eps = 1e-6;
      const num: number[] = [];
      for (let b = 0; b < n; b++)
        for (let i = 0; i < per; i++) {
          const up = x.map((r) => [...r]);
          const down = x.map((r) => [...r]);
          up[b]![i]! += eps;
          down[b]![i]! -= eps;
          num.push((f64(up) - f64(down)) / (2 * eps));
        }
      const scale = Math.max(...num.map(Math.abs));
      expect(scale).toBeGreaterThan(0.1);
      num.forEach((g, i) => expect(Math.abs(got[i]! - g), `element ${i}`).toBeLessThan(1e-4 * scale));
      if (policy === ALL) return;
      // Without color (whose contrast mixes every pixel through the image mean), the pixels that cutout
      // and the translation's border cut off have a gradient of exactly 0, and only those.
      expect(num.filter((g) => g === 0).length).toBeGreaterThan(0);
      num.forEach((g, i) => expect(got[i] === 0, `element ${i}`).toBe(g === 0));
    });

    it("second derivative: a penalty on the gradient through diffaug (R1 on augmented images) has the right gradient in D's weight", () => {
      // P(theta) = sum over x of (d/dx sum(v * tanh(theta * diffaug(x))))^2, differentiated in theta.
      const [n, h, w, c] = [2, 6, 6, 2];
      const per = h * w * c;
      const x = images("gp/x", n, per);
      const v = images("gp/v", n, per);
      const key = keyState("gp/key");
      const d = diffAugDraws(Rng.fromState(key), n, h, w, 7);
      const theta0 = 0.8;
      const aug = diffaug64(x, h, w, c, ALL, d);
      // d/dx_i of sum(v tanh(theta y(x))) with y affine in x: sum_j v_j theta (1 - tanh^2(theta y_j)) dy_j/dx_i,
      // dy_j/dx_i from central differences of the (affine) float64 reference.
      const jac: number[][][] = x.map((img, b) =>
        img.map((_, i) => {
          const up = x.map((r) => [...r]);
          up[b]![i]! += 1;
          const down = x.map((r) => [...r]);
          down[b]![i]! -= 1;
          const yu = diffaug64(up, h, w, c, ALL, d)[b]!;
          const yd = diffaug64(down, h, w, c, ALL, d)[b]!;
          return yu.map((u, j) => (u - yd[j]!) / 2);
        }),
      );
      const penalty = (theta: number) =>
        x.reduce((s, img, b) => s + img.reduce((t, _, i) => {
          const g = jac[b]![i]!.reduce((acc, dy, j) => acc + v[b]![j]! * theta * (1 - Math.tanh(theta * aug[b]![j]!) ** 2) * dy, 0);
          return t + g * g;
        }, 0), 0);
      const eps = 1e-5;
      const want = (penalty(theta0 + eps) - penalty(theta0 - eps)) / (2 * eps);
      const got = tf.tidy(() => {
        const xt = tf.tensor4d(x.flat(), [n, h, w, c]);
        const vt = tf.tensor4d(v.flat(), [n, h, w, c]);
        const p = (theta: tf.Tensor) => tf.sum(tf.square(rt.gradOf((xx) => tf.mul(vt, tf.tanh(tf.mul(theta, rt.diffAugment(xx, ALL, key)))), xt)));
        return tf.grad(p)(tf.scalar(theta0)).dataSync()[0]!;
      });
      expect(Math.abs(want)).toBeGreaterThan(0.1);
      expect(Math.abs(got - want)).toBeLessThan(1e-4 * Math.abs(want));
    });

    it("the same key gives the same augmentation bit for bit; no tensors leak", () => {
      const x = tf.tensor4d(images("same", 2, 8 * 8 * 3).flat(), [2, 8, 8, 3]);
      const before = tf.memory().numTensors;
      const a = tf.tidy(() => rt.diffAugment(x, ALL, keyState("s")).dataSync());
      const b = tf.tidy(() => rt.diffAugment(x, ALL, keyState("s")).dataSync());
      const other = tf.tidy(() => rt.diffAugment(x, ALL, keyState("t")).dataSync());
      expect(Array.from(a)).toEqual(Array.from(b));
      expect(Array.from(a)).not.toEqual(Array.from(other));
      expect(tf.memory().numTensors).toBe(before);
      x.dispose();
    });
  });
}
