/**
 * SNGAN's CIFAR ResNet (specs/sngan_resnet.gan) written by hand in TensorFlow.js, without ganc: the
 * baseline the compiled trainer is measured against.
 *
 * G: z ~ N(0, 1)^128 -> FC(4*4*C_G) -> 3 up-blocks [BN, ReLU, nearest 2x up, conv3, BN, ReLU, conv3;
 * shortcut: up 2x, conv1] -> BN, ReLU, conv3 to 3 channels, sigmoid. D: an optimized first block
 * [conv3, ReLU, conv3, avgpool 2; shortcut: avgpool 2, conv1], a down block [ReLU, conv3, ReLU, conv3,
 * avgpool 2; shortcut: conv1, avgpool 2], two blocks keeping size [ReLU, conv3, ReLU, conv3; identity
 * shortcut], ReLU, sum over positions, FC 1. Spectral norm on every weight of D, one power iteration
 * per forward pass in training (u updated); glorot-uniform weights, zero biases, BN decay 0.9, eps 1e-5
 * with moving averages updated on every forward pass. Hinge loss, Adam(2e-4, 0, 0.9) for both.
 * One iteration = 5 D steps (each on its own batch of real images and z) then one G step (on the first
 * D step's z), as the spec's schedule [5*d, g] runs; each step with its own forward passes, G's fake for
 * a D step computed outside the gradient.
 *
 * C_G = 256 and C_D = 128 at width 1; `width` scales both (the benchmark's reduced configuration).
 * The backend is the caller's: select it (tf.setBackend) before calling setup().
 */
import * as tf from "@tensorflow/tfjs";

export interface Trainer {
  /** 5 D steps and one G step. Synchronous: nothing is read back from the device. */
  iterate(): void;
  /** Last losses, read back from the device (for checks; not called while timing). */
  losses(): Promise<{ d: number; g: number }>;
  dispose(): void;
}

export interface SetupOptions {
  /** Training images, 32*32*3 values in [0, 1] per image, row-major HWC. */
  images: Float32Array;
  /** Channel multiplier: G has round(256 * width) channels, D round(128 * width). Default 1. */
  width?: number;
  seed?: number;
}

const Z_DIM = 128;
const BN_DECAY = 0.9;
const BN_EPS = 1e-5;
const D_STEPS = 5;

interface BatchNorm {
  gamma: tf.Variable;
  beta: tf.Variable;
  movingMean: tf.Variable;
  movingVar: tf.Variable;
}

interface SnConv {
  w: tf.Variable;
  b: tf.Variable;
  u: tf.Variable;
}

export async function setup(batch: number, opts: SetupOptions): Promise<Trainer> {
  const width = opts.width ?? 1;
  const cg = Math.max(1, Math.round(256 * width));
  const cd = Math.max(1, Math.round(128 * width));
  let seed = opts.seed ?? 0;
  const nextSeed = () => ++seed;
  const all: tf.Variable[] = [];
  const glorot = (name: string, shape: number[]) => {
    const receptive = shape.slice(0, -2).reduce((a, b) => a * b, 1); // k*k for a conv kernel, 1 for a matrix
    const fin = receptive * shape[shape.length - 2]!;
    const fout = receptive * shape[shape.length - 1]!;
    const limit = Math.sqrt(6 / (fin + fout));
    const init = tf.randomUniform(shape, -limit, limit, "float32", nextSeed());
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
  const conv = (name: string, k: number, cin: number, cout: number) => ({ w: glorot(`${name}/w`, [k, k, cin, cout]), b: filled(`${name}/b`, [cout], 0) });
  const snConv = (name: string, k: number, cin: number, cout: number): SnConv => {
    const u = tf.randomNormal([1, cout], 0, 1, "float32", nextSeed());
    const uv = tf.variable(u, false, `${name}/u`);
    u.dispose();
    all.push(uv);
    return { ...conv(name, k, cin, cout), u: uv };
  };

  // Generator.
  const gFcW = glorot("hw_g/fc/w", [Z_DIM, 4 * 4 * cg]);
  const gFcB = filled("hw_g/fc/b", [4 * 4 * cg], 0);
  const gBlocks = [1, 2, 3].map((i) => ({
    bn1: bn(`hw_g/block${i}/bn1`, cg),
    c1: conv(`hw_g/block${i}/conv1`, 3, cg, cg),
    bn2: bn(`hw_g/block${i}/bn2`, cg),
    c2: conv(`hw_g/block${i}/conv2`, 3, cg, cg),
    sc: conv(`hw_g/block${i}/shortcut`, 1, cg, cg),
  }));
  const gBnOut = bn("hw_g/bn_out", cg);
  const gOut = conv("hw_g/conv_out", 3, cg, 3);
  const gVars = [gFcW, gFcB];
  for (const b of gBlocks) gVars.push(b.bn1.gamma, b.bn1.beta, b.c1.w, b.c1.b, b.bn2.gamma, b.bn2.beta, b.c2.w, b.c2.b, b.sc.w, b.sc.b);
  gVars.push(gBnOut.gamma, gBnOut.beta, gOut.w, gOut.b);

  // Discriminator.
  const d1 = { c1: snConv("hw_d/block1/conv1", 3, 3, cd), c2: snConv("hw_d/block1/conv2", 3, cd, cd), sc: snConv("hw_d/block1/shortcut", 1, 3, cd) };
  const d2 = { c1: snConv("hw_d/block2/conv1", 3, cd, cd), c2: snConv("hw_d/block2/conv2", 3, cd, cd), sc: snConv("hw_d/block2/shortcut", 1, cd, cd) };
  const d3 = { c1: snConv("hw_d/block3/conv1", 3, cd, cd), c2: snConv("hw_d/block3/conv2", 3, cd, cd) };
  const d4 = { c1: snConv("hw_d/block4/conv1", 3, cd, cd), c2: snConv("hw_d/block4/conv2", 3, cd, cd) };
  const dFc: SnConv = (() => {
    const u = tf.randomNormal([1, 1], 0, 1, "float32", nextSeed());
    const uv = tf.variable(u, false, "hw_d/fc/u");
    u.dispose();
    all.push(uv);
    return { w: glorot("hw_d/fc/w", [cd, 1]), b: filled("hw_d/fc/b", [1], 0), u: uv };
  })();
  const dSn: SnConv[] = [d1.c1, d1.c2, d1.sc, d2.c1, d2.c2, d2.sc, d3.c1, d3.c2, d4.c1, d4.c2, dFc];
  const dVars = dSn.flatMap((p) => [p.w, p.b]);

  /** Batch norm in training mode: batch statistics, moving averages updated (outside the loss). */
  function batchNorm(x: tf.Tensor, p: BatchNorm): tf.Tensor {
    const { mean, variance } = tf.moments(x, [0, 1, 2]);
    tf.tidy(() => {
      p.movingMean.assign(tf.add(tf.mul(p.movingMean, BN_DECAY), tf.mul(mean, 1 - BN_DECAY)));
      p.movingVar.assign(tf.add(tf.mul(p.movingVar, BN_DECAY), tf.mul(variance, 1 - BN_DECAY)));
    });
    return tf.batchNorm(x, mean, variance, p.beta, p.gamma, BN_EPS);
  }

  /** Identity whose gradient is zero (tfjs has no public stop_gradient). */
  const stopGradient = tf.customGrad(((x: tf.Tensor) => ({ value: tf.clone(x), gradFunc: (dy: tf.Tensor) => tf.zerosLike(dy) })) as never) as unknown as (x: tf.Tensor) => tf.Tensor;

  /** The weight divided by its largest singular value, estimated by one power iteration (u updated). */
  function sn(p: SnConv): tf.Tensor {
    const w = tf.reshape(p.w, [-1, p.w.shape[p.w.rank - 1]!]);
    const l2 = (t: tf.Tensor) => tf.div(t, tf.add(tf.norm(t), 1e-12));
    const v = stopGradient(l2(tf.matMul(p.u, w, false, true)));
    const u = stopGradient(l2(tf.matMul(v, w)));
    p.u.assign(u);
    const sigma = tf.sum(tf.mul(tf.matMul(v, w), u));
    return tf.div(p.w, sigma);
  }

  const conv2d = (x: tf.Tensor, w: tf.Tensor, b: tf.Tensor) => tf.add(tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, 1, "same"), b);
  const up2 = (x: tf.Tensor) => tf.image.resizeNearestNeighbor(x as tf.Tensor4D, [x.shape[1]! * 2, x.shape[2]! * 2]);
  const pool2 = (x: tf.Tensor) => tf.avgPool(x as tf.Tensor4D, 2, 2, "valid");

  function G(z: tf.Tensor2D): tf.Tensor4D {
    let h: tf.Tensor = tf.reshape(tf.add(tf.matMul(z, gFcW), gFcB), [-1, 4, 4, cg]);
    for (const b of gBlocks) {
      let m: tf.Tensor = up2(tf.relu(batchNorm(h, b.bn1)));
      m = conv2d(tf.relu(batchNorm(conv2d(m, b.c1.w, b.c1.b), b.bn2)), b.c2.w, b.c2.b);
      h = tf.add(conv2d(up2(h), b.sc.w, b.sc.b), m);
    }
    h = conv2d(tf.relu(batchNorm(h, gBnOut)), gOut.w, gOut.b);
    return tf.sigmoid(h) as tf.Tensor4D;
  }

  /** Returns the logit [n, 1]. */
  function D(x: tf.Tensor4D): tf.Tensor2D {
    // Optimized first block.
    let m = pool2(conv2d(tf.relu(conv2d(x, sn(d1.c1), d1.c1.b)), sn(d1.c2), d1.c2.b));
    let h: tf.Tensor = tf.add(conv2d(pool2(x), sn(d1.sc), d1.sc.b), m);
    // Down block.
    m = pool2(conv2d(tf.relu(conv2d(tf.relu(h), sn(d2.c1), d2.c1.b)), sn(d2.c2), d2.c2.b));
    h = tf.add(pool2(conv2d(h, sn(d2.sc), d2.sc.b)), m);
    // Two blocks with identity shortcuts.
    for (const b of [d3, d4]) h = tf.add(conv2d(tf.relu(conv2d(tf.relu(h), sn(b.c1), b.c1.b)), sn(b.c2), b.c2.b), h);
    h = tf.sum(tf.relu(h), [1, 2]);
    return tf.add(tf.matMul(h as tf.Tensor2D, sn(dFc)), dFc.b) as tf.Tensor2D;
  }

  const optD = tf.train.adam(2e-4, 0, 0.9, 1e-8);
  const optG = tf.train.adam(2e-4, 0, 0.9, 1e-8);

  // Data: a shuffled pass over the images per epoch; each batch gets its own buffer.
  const pixels = 32 * 32 * 3;
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
    return tf.tensor4d(xBuf, [batch, 32, 32, 3]);
  }

  let lastD: tf.Scalar | null = null;
  let lastG: tf.Scalar | null = null;
  const hinge = (t: tf.Tensor) => tf.mean(tf.relu(t)) as tf.Scalar;

  function iterate(): void {
    let z0: tf.Tensor2D | null = null;
    for (let i = 0; i < D_STEPS; i++) {
      const x = nextImages();
      const z = tf.randomNormal([batch, Z_DIM], 0, 1, "float32", nextSeed()) as tf.Tensor2D;
      const fake = tf.tidy(() => G(z));
      lastD?.dispose();
      lastD = optD.minimize(() => tf.add(hinge(tf.sub(1, D(x))), hinge(tf.add(1, D(fake)))), true, dVars);
      x.dispose();
      fake.dispose();
      if (i === 0) z0 = z;
      else z.dispose();
    }
    lastG?.dispose();
    lastG = optG.minimize(() => tf.neg(tf.mean(D(G(z0!)))) as tf.Scalar, true, gVars);
    z0!.dispose();
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
