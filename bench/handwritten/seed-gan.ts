/**
 * The seed GAN (infoGAN's MNIST architecture, sigmoid cross-entropy losses, Adam with G's rate 5x D's)
 * written by hand in TensorFlow.js, without ganc: the baseline the compiled trainer is measured against.
 *
 * Same model as specs/gan.gan: G = FC1024-BN-ReLU, FC(7*7*128)-BN-ReLU, deconv 64 4x4/2-BN-ReLU,
 * deconv 1 4x4/2, sigmoid; D = conv 64 4x4/2-LReLU(0.2), conv 128 4x4/2-BN-LReLU, FC1024-BN-LReLU, FC1.
 * Weights N(0, 0.02) (truncated for the convolutions), biases 0; batch norm with decay 0.9, eps 1e-5 in
 * training mode in both steps, moving averages updated on every forward pass; z ~ U(-1, 1)^62.
 * One iteration = one D step then one G step, each with its own forward pass.
 *
 * The backend is the caller's: select it (tf.setBackend) before calling setup().
 */
import * as tf from "@tensorflow/tfjs";

export interface Trainer {
  /** One D step and one G step on the next batch. Synchronous: nothing is read back from the device. */
  iterate(): void;
  /** Last losses, read back from the device (for checks; not called while timing). */
  losses(): Promise<{ d: number; g: number }>;
  dispose(): void;
}

export interface SetupOptions {
  /** Training images, 28*28 values in [0, 1] per image, row-major. */
  images: Float32Array;
  seed?: number;
}

const Z_DIM = 62;
const STD = 0.02;
const BN_DECAY = 0.9;
const BN_EPS = 1e-5;
const LRELU = 0.2;

interface BatchNorm {
  gamma: tf.Variable;
  beta: tf.Variable;
  movingMean: tf.Variable;
  movingVar: tf.Variable;
}

export async function setup(batch: number, opts: SetupOptions): Promise<Trainer> {
  let seed = opts.seed ?? 0;
  const nextSeed = () => ++seed;
  const all: tf.Variable[] = [];
  const weight = (name: string, shape: number[], truncated = false) => {
    const init = truncated ? tf.truncatedNormal(shape, 0, STD, "float32", nextSeed()) : tf.randomNormal(shape, 0, STD, "float32", nextSeed());
    const v = tf.variable(init, true, name);
    init.dispose();
    all.push(v);
    return v;
  };
  const filled = (name: string, shape: number[], value: number, trainable = true) => {
    const v = tf.variable(tf.fill(shape, value), trainable, name);
    all.push(v);
    return v;
  };
  const bn = (name: string, n: number): BatchNorm => ({
    gamma: filled(`${name}/gamma`, [n], 1),
    beta: filled(`${name}/beta`, [n], 0),
    movingMean: filled(`${name}/moving_mean`, [n], 0, false),
    movingVar: filled(`${name}/moving_var`, [n], 1, false),
  });

  // Generator.
  const gW1 = weight("hw_g/fc1/w", [Z_DIM, 1024]);
  const gB1 = filled("hw_g/fc1/b", [1024], 0);
  const gBn1 = bn("hw_g/bn1", 1024);
  const gW2 = weight("hw_g/fc2/w", [1024, 7 * 7 * 128]);
  const gB2 = filled("hw_g/fc2/b", [7 * 7 * 128], 0);
  const gBn2 = bn("hw_g/bn2", 7 * 7 * 128);
  const gK3 = weight("hw_g/deconv3/w", [4, 4, 64, 128]); // [h, w, out, in] for conv2dTranspose
  const gB3 = filled("hw_g/deconv3/b", [64], 0);
  const gBn3 = bn("hw_g/bn3", 64);
  const gK4 = weight("hw_g/deconv4/w", [4, 4, 1, 64]);
  const gB4 = filled("hw_g/deconv4/b", [1], 0);
  const gVars = [gW1, gB1, gBn1.gamma, gBn1.beta, gW2, gB2, gBn2.gamma, gBn2.beta, gK3, gB3, gBn3.gamma, gBn3.beta, gK4, gB4];

  // Discriminator.
  const dK1 = weight("hw_d/conv1/w", [4, 4, 1, 64], true);
  const dB1 = filled("hw_d/conv1/b", [64], 0);
  const dK2 = weight("hw_d/conv2/w", [4, 4, 64, 128], true);
  const dB2 = filled("hw_d/conv2/b", [128], 0);
  const dBn2 = bn("hw_d/bn2", 128);
  const dW3 = weight("hw_d/fc3/w", [7 * 7 * 128, 1024]);
  const dB3 = filled("hw_d/fc3/b", [1024], 0);
  const dBn3 = bn("hw_d/bn3", 1024);
  const dW4 = weight("hw_d/fc4/w", [1024, 1]);
  const dB4 = filled("hw_d/fc4/b", [1], 0);
  const dVars = [dK1, dB1, dK2, dB2, dBn2.gamma, dBn2.beta, dW3, dB3, dBn3.gamma, dBn3.beta, dW4, dB4];

  /** Batch norm in training mode: batch statistics, moving averages updated (outside the loss). */
  function batchNorm(x: tf.Tensor, p: BatchNorm): tf.Tensor {
    const axes = x.rank === 4 ? [0, 1, 2] : [0];
    const { mean, variance } = tf.moments(x, axes);
    tf.tidy(() => {
      p.movingMean.assign(tf.add(tf.mul(p.movingMean, BN_DECAY), tf.mul(mean, 1 - BN_DECAY)));
      p.movingVar.assign(tf.add(tf.mul(p.movingVar, BN_DECAY), tf.mul(variance, 1 - BN_DECAY)));
    });
    return tf.batchNorm(x, mean, variance, p.beta, p.gamma, BN_EPS);
  }

  function G(z: tf.Tensor2D): tf.Tensor4D {
    let h: tf.Tensor = tf.relu(batchNorm(tf.add(tf.matMul(z, gW1), gB1), gBn1));
    h = tf.relu(batchNorm(tf.add(tf.matMul(h as tf.Tensor2D, gW2), gB2), gBn2));
    h = tf.reshape(h, [-1, 7, 7, 128]);
    const n = h.shape[0]!;
    h = tf.relu(batchNorm(tf.add(tf.conv2dTranspose(h as tf.Tensor4D, gK3 as tf.Tensor4D, [n, 14, 14, 64], 2, "same"), gB3), gBn3));
    h = tf.add(tf.conv2dTranspose(h as tf.Tensor4D, gK4 as tf.Tensor4D, [n, 28, 28, 1], 2, "same"), gB4);
    return tf.sigmoid(h) as tf.Tensor4D;
  }

  /** Returns the logit [n, 1]. */
  function D(x: tf.Tensor4D): tf.Tensor2D {
    let h: tf.Tensor = tf.leakyRelu(tf.add(tf.conv2d(x, dK1 as tf.Tensor4D, 2, "same"), dB1), LRELU);
    h = tf.leakyRelu(batchNorm(tf.add(tf.conv2d(h as tf.Tensor4D, dK2 as tf.Tensor4D, 2, "same"), dB2), dBn2), LRELU);
    h = tf.reshape(h, [h.shape[0]!, -1]);
    h = tf.leakyRelu(batchNorm(tf.add(tf.matMul(h as tf.Tensor2D, dW3), dB3), dBn3), LRELU);
    return tf.add(tf.matMul(h as tf.Tensor2D, dW4), dB4) as tf.Tensor2D;
  }

  const bce = (logits: tf.Tensor, target: number) =>
    tf.losses.sigmoidCrossEntropy(target === 1 ? tf.onesLike(logits) : tf.zerosLike(logits), logits) as tf.Scalar;

  const optD = tf.train.adam(2e-4, 0.5, 0.999, 1e-8);
  const optG = tf.train.adam(1e-3, 0.5, 0.999, 1e-8);

  // Data: a shuffled pass over the images per epoch. Each batch gets its own buffer: the cpu backend
  // keeps the array it is given instead of copying it.
  const pixels = 28 * 28;
  const count = Math.floor(opts.images.length / pixels);
  if (count < batch) throw new Error(`need at least ${batch} images, got ${count}`);
  const order = Uint32Array.from({ length: count }, (_, i) => i);
  let cursor = count;
  let rand = (opts.seed ?? 0) * 2654435761 + 1;
  const uniformInt = (n: number) => {
    rand = (Math.imul(rand, 1664525) + 1013904223) >>> 0;
    return rand % n;
  };
  function nextImages(): tf.Tensor4D {
    if (cursor + batch > count) {
      for (let i = count - 1; i > 0; i--) {
        const j = uniformInt(i + 1);
        [order[i], order[j]] = [order[j]!, order[i]!];
      }
      cursor = 0;
    }
    const xBuf = new Float32Array(batch * pixels);
    for (let i = 0; i < batch; i++) {
      const k = order[cursor + i]!;
      xBuf.set(opts.images.subarray(k * pixels, (k + 1) * pixels), i * pixels);
    }
    cursor += batch;
    return tf.tensor4d(xBuf, [batch, 28, 28, 1]);
  }

  let lastD: tf.Scalar | null = null;
  let lastG: tf.Scalar | null = null;

  function iterate(): void {
    const x = nextImages();
    const z = tf.randomUniform([batch, Z_DIM], -1, 1, "float32", nextSeed()) as tf.Tensor2D;
    lastD?.dispose();
    lastG?.dispose();
    lastD = optD.minimize(() => {
      const fake = G(z);
      return tf.add(bce(D(x), 1), bce(D(fake), 0));
    }, true, dVars);
    lastG = optG.minimize(() => bce(D(G(z)), 1), true, gVars);
    x.dispose();
    z.dispose();
  }

  return {
    iterate,
    async losses() {
      return { d: (await lastD!.data())[0]!, g: (await lastG!.data())[0]! };
    },
    dispose() {
      lastD?.dispose();
      lastG?.dispose();
      optD.dispose();
      optG.dispose();
      for (const v of all) v.dispose();
    },
  };
}
