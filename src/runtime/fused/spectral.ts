import * as tf from "@tensorflow/tfjs";
import { GANC_SN_GRAD, GANC_SN_NORMALIZE, SN_ONE_GRADIENT_BACKENDS } from "../kernels/names.ts";
import { spectralNormParts, spectralNormVectors, spectralSigma } from "../ops.ts";
import { customOp, tapeRecording, view, type Arena } from "./engine.ts";

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
 *
 * On the backends of SN_ONE_GRADIENT_BACKENDS (webgpu) the op takes the kernel once and gives dA + dW as its one
 * gradient, from one kernel: the order of additions differs from the tape's there, in the last bits.
 */
export function spectralNormOp(kernel: tf.Variable, u: tf.Variable, arena: Arena): tf.Tensor {
  let vv: tf.Tensor | null = null;
  let un: tf.Tensor | null = null;
  let sigma: tf.Tensor | null = null;
  const one = SN_ONE_GRADIENT_BACKENDS.has(tf.getBackend()) && tf.getKernel(GANC_SN_GRAD, tf.getBackend()) !== undefined;
  return customOp(
    `sn ${kernel.name}`,
    one ? [kernel] : [kernel, kernel],
    () => {
      let p: { normalized: tf.Tensor; vv: tf.Tensor; un: tf.Tensor; sigma: tf.Tensor };
      if (tf.getKernel(GANC_SN_NORMALIZE, tf.getBackend()) !== undefined) {
        // the power step, v W, then ganc's kernel for the sum and the division (the same float32 operations); where
        // the power step hands out v W itself (webgpu, whose results are float32 roundings anyway), that product
        const { w, vv: v, un: uu, vw } = spectralNormVectors(kernel, u, "train", { wantVw: true });
        const [normalized, s] = tf.engine().runKernel(GANC_SN_NORMALIZE, { kernel, s: vw ?? tf.matMul(v, w), un: uu }, {}) as tf.Tensor[];
        p = { normalized: normalized!, vv: v, un: uu, sigma: s! };
      } else p = spectralNormParts(kernel, u, "train");
      vv = arena.keep(p.vv);
      un = arena.keep(p.un);
      sigma = arena.keep(p.sigma);
      return [p.normalized];
    },
    ([dy]) => {
      // ganc's kernel for the float32 steps where the backend has it and no tape records this backward pass (a second
      // derivative through it takes the ops, which have gradients; the kernel has none)
      let dA: tf.Tensor;
      let dVW: tf.Tensor;
      const taped = tapeRecording();
      if (one && !taped) {
        // dA + dW in one dispatch (kernels/webgpu/spectral.ts)
        const [dK] = tf.engine().runKernel(GANC_SN_GRAD, { dy: dy!, kernel, sigma: sigma!, un: un!, vv: vv! }, { sum: true }) as tf.Tensor[];
        return [dK!];
      }
      let dWk: tf.Tensor | undefined;
      if (tf.getKernel(GANC_SN_GRAD, tf.getBackend()) !== undefined && !taped) {
        // (webgpu's kernel also takes v and writes dW = v^T d(v W) with dA: one dispatch for both)
        [dA, dVW, dWk] = tf.engine().runKernel(GANC_SN_GRAD, { dy: dy!, kernel, sigma: sigma!, un: un!, vv: vv! }, {}) as [tf.Tensor, tf.Tensor, tf.Tensor?];
      } else {
        // Under a tape, sigma again from the kernel with the forward pass's ops (the same value), so that the tape sees
        // it depend on the kernel as rt.spectralNorm's does: held as the forward pass's constant, a second derivative
        // in the kernel would miss that term (about 1% off in sn-kernels.test.ts).
        const sg = taped ? spectralSigma(tf.reshape(kernel, [-1, kernel.shape[kernel.rank - 1]!]), vv!, un!) : sigma!;
        dA = tf.div(dy!, sg);
        const dSigma = tf.neg(tf.div(tf.sum(tf.mul(dy!, kernel)), tf.square(sg)));
        dVW = tf.mul(dSigma, un!);
      }
      if (dWk !== undefined) return [dA, dWk];
      const dW = tf.matMul(vv!, dVW, true, false);
      const dWk2 = taped ? tf.reshape(dW, kernel.shape) : view(dW, kernel.shape);
      return one ? [tf.add(dA, dWk2)] : [dA, dWk2];
    },
  )[0]!;
}
