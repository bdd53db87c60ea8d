import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import { selectBackend } from "../../src/runtime/backend.ts";
import "../../src/runtime/ops.ts"; // registers the runtime's gradients, Maximum's and Minimum's among them

/**
 * max/min of operands of different shapes (a per-sample [batch, 1, 1, 1] weight against images, a scalar
 * against a batch): the gradient of each operand has its own shape, and matches central differences of
 * f = sum(w * op(a, b)^2) (second derivatives: of the sum of the first gradient).
 */
const cases: Array<{ a: number[]; b: number[] }> = [
  { a: [3, 1, 1, 1], b: [3, 2, 2, 1] },
  { a: [3, 2, 2, 1], b: [3, 1, 1, 1] },
  { a: [], b: [4, 3] },
  { a: [4, 1], b: [4, 3] },
  { a: [2, 3], b: [2, 3] },
];

/** Values on a grid of step 0.25 (exact in float32) so that no two elements of a and b come within h of a tie. */
function grid(shape: number[], seed: number): tf.Tensor {
  const n = shape.reduce((p, d) => p * d, 1);
  const v = Array.from({ length: n }, (_, i) => ((((i + 1) * 7919 * seed) % 17) - 8) * 0.25 + 0.125 * (seed % 2));
  return tf.tensor(v, shape);
}

/** Central differences of the scalar function f at x, element by element (float64 arithmetic on float32 values). */
function numericGrad(f: (x: tf.Tensor) => tf.Scalar, x: tf.Tensor, h: number): number[] {
  const base = Array.from(x.dataSync());
  return base.map((_, i) =>
    tf.tidy(() => {
      const at = (d: number) => f(tf.tensor(base.map((v, j) => (j === i ? v + d : v)), x.shape)).dataSync()[0]!;
      return (at(h) - at(-h)) / (2 * h);
    }),
  );
}

for (const backend of ["cpu", "wasm"] as const) {
  describe(`Maximum's and Minimum's gradients on ${backend}`, () => {
    beforeAll(async () => {
      await selectBackend(backend, { log: () => {} });
    });
    for (const [name, op] of [
      ["max", tf.maximum],
      ["min", tf.minimum],
    ] as const) {
      for (const c of cases) {
        it(`${name}([${c.a}], [${c.b}]): each operand's gradient has its shape and matches central differences`, () => {
          tf.tidy(() => {
            const a = grid(c.a, 3);
            const b = grid(c.b, 4);
            const out = tf.broadcast_util.assertAndGetBroadcastShape(c.a, c.b);
            const w = grid(out, 11);
            const f = (x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.mul(w, tf.square(op(x, y)))) as tf.Scalar;
            const [ga, gb] = tf.grads((x: tf.Tensor, y: tf.Tensor) => f(x, y))([a, b]);
            expect(ga!.shape).toEqual(c.a);
            expect(gb!.shape).toEqual(c.b);
            const na = numericGrad((x) => f(x, b), a, 1e-2);
            const nb = numericGrad((y) => f(a, y), b, 1e-2);
            Array.from(ga!.dataSync()).forEach((v, i) => expect(v).toBeCloseTo(na[i]!, 3));
            Array.from(gb!.dataSync()).forEach((v, i) => expect(v).toBeCloseTo(nb[i]!, 3));
            // at least one element of each side wins somewhere, so both gradients are exercised
            expect(Math.max(...Array.from(ga!.dataSync(), Math.abs))).toBeGreaterThan(0);
            expect(Math.max(...Array.from(gb!.dataSync(), Math.abs))).toBeGreaterThan(0);
          });
        });
        it(`${name}([${c.a}], [${c.b}]): second derivative (a penalty through it) matches central differences`, () => {
          tf.tidy(() => {
            const a = grid(c.a, 3);
            const b = grid(c.b, 4);
            const w = grid(tf.broadcast_util.assertAndGetBroadcastShape(c.a, c.b), 11);
            const firstA = (x: tf.Tensor) => tf.grad((u: tf.Tensor) => tf.sum(tf.mul(w, tf.square(op(u, b)))))(x);
            const penalty = (x: tf.Tensor) => tf.sum(tf.square(firstA(x))) as tf.Scalar;
            const second = tf.grad(penalty)(a);
            expect(second.shape).toEqual(c.a);
            const num = numericGrad(penalty, a, 1e-2);
            const scale = Math.max(1, ...num.map(Math.abs));
            Array.from(second.dataSync()).forEach((v, i) => expect(Math.abs(v - num[i]!)).toBeLessThanOrEqual(1e-3 * scale));
          });
        });
      }
    }
  });
}
