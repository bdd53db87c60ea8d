import type * as TF from "@tensorflow/tfjs";

/**
 * The gradient max and min register for tfjs's Maximum and Minimum kernels: dy masked by which operand
 * won (ties go to `a`, as in tfjs), summed over the axes an operand was broadcast along. tfjs's own skips
 * that sum, so max(eps, x) with a per-sample eps of shape [batch, 1, 1, 1] against an image gets an
 * image-shaped gradient for eps, and the tape fails or adds it into the wrong shape.
 */
export const extremumGradient =
  (tf: typeof TF, kernelName: string, aWins: (a: TF.Tensor, b: TF.Tensor) => TF.Tensor, bWins: (a: TF.Tensor, b: TF.Tensor) => TF.Tensor): TF.GradConfig => ({
    kernelName,
    inputsToSave: ["a", "b"],
    gradFunc: (dy, saved) => {
      const [a, b] = saved as [TF.Tensor, TF.Tensor];
      const out = tf.broadcast_util.assertAndGetBroadcastShape(a.shape, b.shape);
      const reduced = (g: TF.Tensor, shape: number[]) => {
        const axes = tf.broadcast_util.getReductionAxes(shape, out);
        return tf.reshape(axes.length ? tf.sum(g, axes) : g, shape);
      };
      return {
        a: () => tf.tidy(() => reduced(tf.mul(dy as TF.Tensor, tf.cast(aWins(a, b), "float32")), a.shape)),
        b: () => tf.tidy(() => reduced(tf.mul(dy as TF.Tensor, tf.cast(bWins(a, b), "float32")), b.shape)),
      };
    },
  });
