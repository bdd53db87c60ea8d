import * as tf from "@tensorflow/tfjs";

/*
 * tf.fused.conv2d and tf.fused.matMul with a bias (linear activation), with gradients computed only for
 * the inputs a backward pass asks for.
 *
 * tfjs writes its fused ops with tf.customGrad, whose gradient function returns the gradients of all
 * inputs at once: every backward pass through a fused layer computes the weight gradient, the bias
 * gradient and the input gradient, whichever are needed. Layer by layer that costs a filter gradient
 * (Conv2DBackpropFilter) or a weight product per layer where only the input gradient is wanted (the
 * first backward pass of a gradient penalty, grad(D(xhat), xhat); G's step through a D it does not train),
 * and an input gradient of the first layer whose input is data. Here the same kernel runs forward with the
 * same inputs and attributes, and the backward pass is recorded with one gradient function per input, as
 * tfjs's registered gradients are: the tape calls only those it needs. Each is the expression tfjs's fused
 * gradient evaluates (conv2DBackpropInput / conv2DBackpropFilter, matMul of the 3-D operands, the bias
 * gradient summed over the broadcast axes), so values and gradients are bit for bit those of tf.fused.*,
 * and the gradients are differentiable again (second derivatives, test/runtime/lazy-bias.test.ts).
 */

interface KernelFuncParams {
  forwardFunc: (backend: tf.KernelBackend, save: (tensors: tf.Tensor[]) => void) => tf.Tensor;
  backwardsFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => Record<string, () => tf.Tensor>;
  inputs: Record<string, tf.Tensor>;
}

const runKernelFunc = (p: KernelFuncParams): tf.Tensor => (tf.engine() as unknown as { runKernelFunc(p: KernelFuncParams): tf.Tensor }).runKernelFunc(p);

/** The bias gradient as tfjs's getFusedBiasGradient computes it: dy summed over the axes the bias is broadcast along. */
function biasGrad(biasShape: readonly number[], dy: tf.Tensor): tf.Tensor {
  const axes = tf.backend_util.getReductionAxes(biasShape as number[], dy.shape);
  return tf.reshape(axes.length > 0 ? tf.sum(dy, axes) : dy, biasShape as number[]);
}

/** tf.fused.conv2d({ x, filter, strides, pad, bias }) (NHWC, no dilation, linear), its gradients per input. */
export function conv2dBias(x: tf.Tensor4D, filter: tf.Tensor4D, bias: tf.Tensor, strides: number | [number, number], pad: "same" | "valid"): tf.Tensor4D {
  const attrs = { strides, pad, dataFormat: "NHWC", dilations: [1, 1], dimRoundingMode: undefined, activation: "linear", leakyreluAlpha: undefined };
  const biasShape = bias.shape;
  return runKernelFunc({
    inputs: { x, filter, bias },
    forwardFunc: (_backend, save) => {
      save([x, filter]);
      return tf.engine().runKernel("FusedConv2D", { x, filter, bias }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor;
    },
    backwardsFunc: (dy, [xs, fs]) => ({
      x: () => tf.conv2dTranspose(dy as tf.Tensor4D, fs as tf.Tensor4D, xs!.shape as [number, number, number, number], strides, pad),
      filter: () => conv2dBackpropFilter(xs as tf.Tensor4D, dy as tf.Tensor4D, fs!.shape as [number, number, number, number], strides, pad),
      bias: () => biasGrad(biasShape, dy),
    }),
  }) as tf.Tensor4D;
}

/** tfjs's conv2DBackpropFilter op (not exported by tfjs): the Conv2DBackpropFilter kernel, with its registered gradient. */
function conv2dBackpropFilter(x: tf.Tensor4D, dy: tf.Tensor4D, filterShape: [number, number, number, number], strides: number | [number, number], pad: "same" | "valid"): tf.Tensor4D {
  return tf.engine().runKernel("Conv2DBackpropFilter", { x, dy }, { strides, pad, dataFormat: "NHWC", dimRoundingMode: undefined, filterShape } as unknown as tf.NamedAttrMap) as tf.Tensor4D;
}

/** tf.fused.matMul({ a, b, bias }) for 2-D a [n, k] and b [k, m] (linear), its gradients per input. */
export function matMulBias(a: tf.Tensor2D, b: tf.Tensor2D, bias: tf.Tensor): tf.Tensor2D {
  const [n, k] = a.shape;
  const m = b.shape[1];
  // the 3-D operands as tfjs's fused matMul makes them (Reshapes on the tape, whose gradients reshape back)
  const a3 = tf.reshape(a, [1, n, k]) as tf.Tensor3D;
  const b3 = tf.reshape(b, [1, k, m]) as tf.Tensor3D;
  const biasShape = bias.shape;
  return runKernelFunc({
    inputs: { a: a3, b: b3, bias },
    forwardFunc: (_backend, save) => {
      save([a3, b3]);
      const y = tf.engine().runKernel("_FusedMatMul", { a: a3, b: b3, bias }, { transposeA: false, transposeB: false, activation: "linear", leakyreluAlpha: 0.2 }) as tf.Tensor;
      return tf.reshape(y, [n, m]);
    },
    backwardsFunc: (dy, [as, bs]) => {
      const dy3 = () => tf.reshape(dy, [1, n, m]) as tf.Tensor3D;
      return {
        a: () => tf.matMul(dy3(), bs as tf.Tensor3D, false, true),
        b: () => tf.matMul(as as tf.Tensor3D, dy3(), true, false),
        bias: () => biasGrad(biasShape, dy3()),
      };
    },
  }) as tf.Tensor2D;
}
