import * as tf from "@tensorflow/tfjs";
import { biasActivation, Primitives, type TrainingKernelFunc } from "./primitives.ts";

/**
 * BatchMatMul that never hands a transposed operand to the backend. The wasm kernel only takes its
 * XNNPACK path for plain products (and packs `b` as the weights, once per `b` tensor); with
 * transposeA or transposeB set, which every backprop through a dense layer does, it runs a scalar
 * loop several times slower. So the transposes are materialised and the product run plainly, in
 * whichever of two equivalent forms moves less memory:
 *
 *   plain:   C   = op(A) . op(B)                  (copy the transposed operands, pack op(B))
 *   swapped: C^T = op(B)^T . op(A)^T, then C^T^T  (op(B)^T is B itself when transposeB, likewise A;
 *                                                  pack op(A)^T, transpose the [N, M] result)
 *
 * e.g. dx = dy . W^T of a 6272x1024 dense layer: plain copies and packs all of W; swapped only
 * touches dy and the 64x6272 result.
 */
export function makeBatchMatMul(backendName: string, stock: tf.KernelFunc): TrainingKernelFunc {
  return ({ inputs, backend, attrs }) => {
    const { a, b } = inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
    const { transposeA, transposeB } = attrs as unknown as tf.BatchMatMulAttrs;
    if (!transposeA && !transposeB) {
      return stock({ inputs, backend, attrs }) as tf.TensorInfo;
    }
    const ra = a.shape.length;
    const rb = b.shape.length;
    const m = transposeA ? a.shape[ra - 1]! : a.shape[ra - 2]!;
    const k = transposeA ? a.shape[ra - 2]! : a.shape[ra - 1]!;
    const n = transposeB ? b.shape[rb - 2]! : b.shape[rb - 1]!;
    const plainCost = (transposeA ? m * k : 0) + (transposeB ? k * n : 0) + k * n;
    const swappedCost = (transposeB ? 0 : k * n) + (transposeA ? 0 : m * k) + m * k + m * n;

    const p = new Primitives(backend, backendName);
    const owned: tf.TensorInfo[] = [];
    const plainProduct = (x: tf.TensorInfo, y: tf.TensorInfo): tf.TensorInfo =>
      stock({ inputs: { a: x, b: y }, backend, attrs: { ...attrs, transposeA: false, transposeB: false } }) as tf.TensorInfo;
    try {
      if (plainCost <= swappedCost) {
        const a2 = transposeA ? swapLastTwo(p, a, owned) : a;
        const b2 = transposeB ? swapLastTwo(p, b, owned) : b;
        return plainProduct(a2, b2);
      }
      const bT = transposeB ? b : swapLastTwo(p, b, owned); // op(B)^T
      const aT = transposeA ? a : swapLastTwo(p, a, owned); // op(A)^T
      const cT = plainProduct(bT, aT);
      owned.push(cT);
      const c = swapLastTwo(p, cT, owned);
      owned.splice(owned.indexOf(c), 1);
      return c;
    } finally {
      p.release(...owned);
    }
  };
}

/** [...batch, r, c] -> [...batch, c, r], materialised. Intermediates go to `owned`, as does the result. */
function swapLastTwo(p: Primitives, x: tf.TensorInfo, owned: tf.TensorInfo[]): tf.TensorInfo {
  const rank = x.shape.length;
  const outer = x.shape.slice(0, rank - 2);
  const [r, c] = x.shape.slice(rank - 2) as [number, number];
  const batch = outer.reduce((acc, d) => acc * d, 1);
  const x3 = p.reshape(x, [batch, r, c]);
  owned.push(x3);
  const t3 = p.transpose(x3, [0, 2, 1]);
  owned.push(t3);
  const t = p.reshape(t3, [...outer, c, r]);
  owned.push(t);
  return t;
}

/**
 * _FusedMatMul with a transposed operand as the pack's BatchMatMul (above) followed by the
 * backend's own Add and activation kernels. The stock wasm kernel is slow there (the scalar loop)
 * and, with transposeB and a bias, wrong: tfjs-backend-wasm 4.22 returns [[11, 22], [24, 25]] for
 * [[1, 2, 3], [4, 5, 6]] . [[1, 0, 0], [0, 1, 0]]^T + [10, 20] (test/runtime/kernels.test.ts).
 * Plain products keep the stock kernel.
 */
export function makeFusedMatMul(backendName: string, stock: tf.KernelFunc, batchMatMul: tf.KernelFunc): TrainingKernelFunc {
  return ({ inputs, backend, attrs }) => {
    const { a, b, bias, preluActivationWeights } = inputs as {
      a: tf.TensorInfo;
      b: tf.TensorInfo;
      bias?: tf.TensorInfo;
      preluActivationWeights?: tf.TensorInfo;
    };
    const { transposeA, transposeB, activation, leakyreluAlpha } = attrs as unknown as tf.BatchMatMulAttrs & {
      activation?: string;
      leakyreluAlpha?: number;
    };
    if (!transposeA && !transposeB) return stock({ inputs, backend, attrs }) as tf.TensorInfo;
    const y = batchMatMul({ inputs: { a, b }, backend, attrs: { transposeA, transposeB } }) as tf.TensorInfo;
    return biasActivation(new Primitives(backend, backendName), y, bias, activation, leakyreluAlpha, preluActivationWeights);
  };
}
