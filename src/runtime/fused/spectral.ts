import * as tf from "@tensorflow/tfjs";
import { spectralNormParts } from "../ops.ts";
import { customOp, view, type Arena } from "./engine.ts";

/*
 * rt.spectralNorm in training mode as one op on the gradient tape, for the kernels of a fused net.
 *
 * Its forward pass is rt.spectralNorm's ops (the same values, the same update of u). On the tape, tfjs would
 * record the power-iteration step too and send zeros back through it (stopGradient's gradient) into the
 * kernel's gradient: about 60 kernels per kernel and application, for nothing. What reaches the kernel is
 * written out here with the operations tfjs's gradients use, in their order:
 *
 *   normalized = kernel / sigma:   dA = dy / sigma,  dsigma = -(sum(dy * kernel) / square(sigma))   (RealDiv)
 *   sigma = sum((v W) * u'):        d(v W) = dsigma * u'                     (Sum, Multiply; u' held constant)
 *   v W, W = kernel as [n, out]:    dW = v^T d(v W)                          (MatMul's gradient, v constant)
 *   dkernel = dA + dW               (the tape adds the reshape's path to the division's)
 *
 * The op takes the kernel twice and gives dA and dW as the two inputs' gradients, so that the tape adds them
 * to the kernel's gradient one after the other, as it adds those of the layer-by-layer trainer's ops: with
 * two applications in a step (D(real), D(fake)), ((dA2 + dW2) + dA1) + dW1, not (dA2 + dW2) + (dA1 + dW1).
 *
 * The zeros the power-iteration step would add change no value (x + 0 = x; only a -0 could become +0).
 */
export function spectralNormOp(kernel: tf.Variable, u: tf.Variable, arena: Arena): tf.Tensor {
  let vv: tf.Tensor | null = null;
  let un: tf.Tensor | null = null;
  let sigma: tf.Tensor | null = null;
  return customOp(
    `sn ${kernel.name}`,
    [kernel, kernel],
    () => {
      const p = spectralNormParts(kernel, u, "train");
      vv = arena.keep(p.vv);
      un = arena.keep(p.un);
      sigma = arena.keep(p.sigma);
      return [p.normalized];
    },
    ([dy]) => {
      const dA = tf.div(dy!, sigma!);
      const dSigma = tf.neg(tf.div(tf.sum(tf.mul(dy!, kernel)), tf.square(sigma!)));
      const dVW = tf.mul(dSigma, un!);
      const dW = tf.matMul(vv!, dVW, true, false);
      return [dA, view(dW, kernel.shape)];
    },
  )[0]!;
}
