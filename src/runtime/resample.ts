/*
 * Resampling layers written with ops whose gradients have gradients of their own (pad, slice, reshape,
 * matMul, transpose), so that a gradient penalty can differentiate through them twice: tfjs's AvgPoolGrad
 * and ResizeBilinearGrad kernels have no gradient.
 */
import * as tf from "@tensorflow/tfjs";
import { bilinearWeights } from "../layers/upsample.ts";
import { poolGeometry } from "../layers/avgpool.ts";

/** `factor`-fold bilinear upsampling along axis 1 of `x` [n, rest]: the interpolation matrix times x. */
function resizeAxis(x: tf.Tensor2D, n: number, factor: number): tf.Tensor2D {
  const a = tf.tensor2d(bilinearWeights(n, factor), [n * factor, n]);
  return tf.matMul(a, x);
}

/**
 * Bilinear upsampling by a whole factor, with half-pixel centers: tf.image.resizeBilinear(x, size,
 * alignCorners=false, halfPixelCenters=true), which is PyTorch's F.interpolate(mode="bilinear",
 * align_corners=False). Separable: one interpolation matrix per spatial axis.
 */
export function upsampleBilinear(x: tf.Tensor4D, factor: number): tf.Tensor4D {
  return tf.tidy(() => {
    const [b, h, w, c] = x.shape;
    const hf = h * factor;
    const wf = w * factor;
    const rows = resizeAxis(tf.reshape(tf.transpose(x, [1, 0, 2, 3]), [h, b * w * c]) as tf.Tensor2D, h, factor); // [hf, b*w*c]
    const cols = tf.reshape(tf.transpose(tf.reshape(rows, [hf, b, w, c]), [2, 1, 0, 3]), [w, b * hf * c]) as tf.Tensor2D;
    return tf.transpose(tf.reshape(resizeAxis(cols, w, factor), [wf, b, hf, c]), [1, 2, 0, 3]) as tf.Tensor4D;
  });
}

/**
 * Average pooling as tf.avgPool computes it (with padding 'same', a window averages only the positions
 * inside the image). Pools whose stride is their size and that tile the image are a reshape and a mean;
 * others sum one strided view of the (zero-padded) input per window offset and divide by the count.
 */
export function avgPool(x: tf.Tensor4D, size: number, stride: number, padding: "same" | "valid"): tf.Tensor4D {
  const [b, h, w, c] = x.shape;
  if (size === stride && h % size === 0 && w % size === 0)
    return tf.tidy(() => tf.mean(tf.reshape(x, [b, h / size, size, w / size, size, c]), [2, 4]) as tf.Tensor4D);
  const gh = poolGeometry(h, size, stride, padding);
  const gw = poolGeometry(w, size, stride, padding);
  return tf.tidy(() => {
    // Padded so that every window offset has out * stride positions after it.
    const padded = tf.pad(x, [[0, 0], [gh.before, gh.padded - h - gh.before], [gw.before, gw.padded - w - gw.before], [0, 0]]);
    const parts: tf.Tensor[] = [];
    for (let i = 0; i < size; i++)
      for (let j = 0; j < size; j++) {
        const win = tf.slice(padded, [0, i, j, 0], [b, gh.out * stride, gw.out * stride, c]);
        const strided = tf.slice(tf.reshape(win, [b, gh.out, stride, gw.out, stride, c]), [0, 0, 0, 0, 0, 0], [b, gh.out, 1, gw.out, 1, c]);
        parts.push(tf.reshape(strided, [b, gh.out, gw.out, c]));
      }
    const count = tf.tensor4d(outerCounts(gh.counts, gw.counts), [1, gh.out, gw.out, 1]);
    return tf.div(tf.addN(parts), count) as tf.Tensor4D;
  });
}

function outerCounts(a: readonly number[], b: readonly number[]): number[] {
  return a.flatMap((x) => b.map((y) => x * y));
}
