import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import { selectBackend } from "../../src/runtime/backend.ts";
import "../../src/runtime/ops.ts"; // registers the runtime's gradients, Tile's among them

/** tfjs's own Tile gradient, written out: zeros, plus one slice of dy per repetition in row-major order. */
function sliceLoopGrad(dy: tf.Tensor, xShape: number[], reps: number[]): tf.Tensor {
  return tf.tidy(() => {
    let acc = tf.zeros(xShape);
    const total = reps.reduce((p, r) => p * r, 1);
    for (let flat = 0; flat < total; flat++) {
      let rest = flat;
      const rep = reps.map((_, i) => {
        const inner = reps.slice(i + 1).reduce((p, r) => p * r, 1);
        const k = Math.floor(rest / inner);
        rest %= inner;
        return k;
      });
      acc = tf.add(acc, tf.slice(dy, rep.map((k, i) => k * xShape[i]!), xShape));
    }
    return acc;
  });
}

for (const backend of ["wasm", "cpu"] as const) {
  describe(`Tile's gradient on ${backend}`, () => {
    beforeAll(async () => {
      await selectBackend(backend, { log: () => {} });
    });

    const cases: Array<{ x: number[]; reps: number[] }> = [
      { x: [1, 1, 1, 5], reps: [6, 3, 2, 1] }, // a batch statistic tiled over a batch, as batch norm does
      { x: [2, 3], reps: [3, 2] },
      { x: [4], reps: [5] },
      { x: [2, 1, 3], reps: [1, 4, 2] },
    ];
    for (const c of cases) {
      it(`x ${c.x.join("x")} tiled ${c.reps.join("x")}: ${backend === "wasm" ? "bit for bit tfjs's slice loop" : "tfjs's slice loop to 1e-6"}`, () => {
        tf.tidy(() => {
          const x = tf.randomNormal(c.x, 0, 1, "float32", 1);
          const dyShape = c.x.map((a, i) => a * c.reps[i]!);
          const dy = tf.mul(tf.randomNormal(dyShape, 0, 1, "float32", 2), tf.scalar(1e3));
          const g = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.tile(t, c.reps), dy)))(x);
          const ref = sliceLoopGrad(dy, c.x, c.reps);
          expect(g.shape).toEqual(c.x);
          if (backend === "wasm") expect(Array.from(g.dataSync())).toEqual(Array.from(ref.dataSync()));
          else {
            const a = g.dataSync();
            const b = ref.dataSync();
            const scale = Math.max(...Array.from(b, Math.abs));
            a.forEach((v, i) => expect(Math.abs(v - b[i]!)).toBeLessThanOrEqual(1e-6 * scale));
          }
        });
      });
    }

    it("is differentiable again (a penalty's second derivative goes through it)", () => {
      tf.tidy(() => {
        const x = tf.randomNormal([1, 3], 0, 1, "float32", 3);
        // f(x) = sum(tile(x)^3); df/dx = 4 * 3x^2 (tiled 2x2 = 4 copies); d/dx sum(df/dx) = 24x
        const dfdx = (t: tf.Tensor) => tf.grad((u: tf.Tensor) => tf.sum(tf.pow(tf.tile(u, [2, 2]), 3)))(t);
        const second = tf.grad((t: tf.Tensor) => tf.sum(dfdx(t)))(x);
        const expected = tf.mul(x, 24).dataSync();
        Array.from(second.dataSync()).forEach((v, i) => expect(v).toBeCloseTo(expected[i]!, 4));
      });
    });
  });
}
