import { readFileSync } from "node:fs";
import * as tf from "@tensorflow/tfjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { selectBackend } from "../../src/runtime/backend.ts";
import { FusedAdam } from "../../src/runtime/fused/index.ts";
import { MODULE_FILE, renderModule } from "../../src/runtime/kernels/wasm/build.ts";
import { stridedReduceView } from "../../src/runtime/kernels/wasm/index.ts";
import { stockKernel } from "../../src/runtime/kernels/index.ts";
import { powerStep64, spectralNormParts } from "../../src/runtime/ops.ts";

it("the committed module is what ganc.wat assembles to (npm run build:wasm)", async () => {
  expect(readFileSync(MODULE_FILE, "utf8")).toBe(await renderModule());
});

// The same kernels on wasm (ganc.wat) and cpu (cpu_kernels.ts), each against its own backend's chain.
for (const backend of ["wasm", "cpu"] as const)
describe(`ganc's own kernels on ${backend}`, () => {
  beforeAll(async () => {
    await selectBackend(backend, { log: () => {} });
  });
  afterAll(() => tf.disposeVariables());

  it("GancAdam equals tf.train.adam bit for bit on 100k values of every magnitude, and frees nothing it should keep", () => {
    const n = 100_003; // not a multiple of 4: the scalar tail runs too
    const rand = tf.randomUniform([n], -1, 1, "float32", 3);
    // magnitudes from 1e-30 to 1e30 and exact zeros, where eps, underflow and sqrt matter
    const scales = tf.pow(10, tf.round(tf.randomUniform([n], -30, 30, "float32", 4)));
    const init = tf.mul(rand, scales);
    const a = tf.variable(init.clone(), true, `${backend}/wk/a`);
    const b = tf.variable(init.clone(), true, `${backend}/wk/b`);
    const ref = tf.train.adam(2e-4, 0.5, 0.999, 1e-8);
    const fused = new FusedAdam(2e-4, 0.5, 0.999, 1e-8);
    for (let t = 0; t < 5; t++) {
      const g = tf.tidy(() => {
        const raw = tf.mul(tf.randomNormal([n], 0, 1, "float32", 10 + t), scales);
        return tf.where(tf.less(tf.randomUniform([n], 0, 1, "float32", 20 + t), 0.05), tf.zerosLike(raw), raw);
      });
      ref.applyGradients({ [a.name]: g } as tf.NamedTensorMap as never);
      const before = tf.memory().numTensors;
      fused.applyGradients({ [b.name]: g });
      // the first step creates the two moment buffers; after that a step leaves the count as it was
      expect(tf.memory().numTensors).toBe(before + (t === 0 ? 2 : 0));
      g.dispose();
    }
    const av = a.dataSync();
    const bv = b.dataSync();
    let differing = 0;
    for (let i = 0; i < n; i++) if (!Object.is(av[i], bv[i])) differing++;
    expect(differing).toBe(0);
    const [refM, fusedM] = [ref, fused].map((o) => o as unknown as { accBeta2: tf.Variable });
    expect(Array.from(fusedM!.accBeta2.dataSync())).toEqual(Array.from(refM!.accBeta2.dataSync()));
    tf.dispose([rand, scales, init]);
  });

  const same = (a: tf.Tensor, b: tf.Tensor) => {
    const x = a.dataSync();
    const y = b.dataSync();
    expect(x.length).toBe(y.length);
    let differing = 0;
    for (let i = 0; i < x.length; i++) if (!Object.is(x[i], y[i])) differing++;
    expect(differing).toBe(0);
  };

  it("GancBnFactors equals tfjs's Add, Rsqrt and Multiply chain bit for bit", () => {
    tf.tidy(() => {
      // variances of several sizes (tails), tiny to huge, exact zeros among them
      const vs = [1031, 7, 64].map((n, i) =>
        tf.mul(tf.randomUniform([n], 0, 1, "float32", 40 + i), tf.pow(10, tf.round(tf.randomUniform([n], -12, 12, "float32", 50 + i)))),
      );
      vs[1] = tf.concat([tf.zeros([3]), vs[1]!.slice(3)]);
      const epsilons = [1e-5, 1e-3, 0.001];
      const inputs = Object.fromEntries(vs.map((v, i) => [`v${i}`, v]));
      const outs = tf.engine().runKernel("GancBnFactors", inputs, { epsilons } as unknown as tf.NamedAttrMap) as tf.Tensor[];
      expect(outs).toHaveLength(6);
      vs.forEach((v, i) => {
        const r = tf.rsqrt(tf.add(v, tf.scalar(epsilons[i]!)));
        same(outs[i]!, r);
        same(outs[3 + i]!, tf.mul(tf.mul(tf.mul(r, r), r), tf.scalar(-0.5)));
      });
    });
  });

  it("GancMovingAverages equals tfjs's Multiply and Add chain bit for bit, once and twice", () => {
    tf.tidy(() => {
      const sizes = [1030, 5, 64];
      const moving = sizes.map((n, i) => tf.randomNormal([n], 0, 3, "float32", 60 + i));
      const batch = sizes.map((n, i) => tf.randomNormal([n], 0, 3, "float32", 70 + i));
      const inputs: tf.NamedTensorMap = {};
      moving.forEach((m, i) => {
        inputs[`moving${i}`] = m;
        inputs[`batch${i}`] = batch[i]!;
      });
      for (const times of [1, 2]) {
        const decay = 0.99;
        const outs = tf.engine().runKernel("GancMovingAverages", inputs, { count: 3, decay, times } as unknown as tf.NamedAttrMap) as tf.Tensor[];
        moving.forEach((m, i) => {
          const b = tf.mul(batch[i]!, tf.scalar(1 - decay));
          let next = m;
          for (let t = 0; t < times; t++) next = tf.add(tf.mul(next, tf.scalar(decay)), b);
          same(outs[i]!, next);
        });
      }
    });
  });
});

describe("Sum and Mean over all axes but the last on wasm", () => {
  beforeAll(async () => {
    await selectBackend("wasm", { log: () => {} });
  });

  it("is bit for bit the stock kernel's transpose-and-sum, for every rank, odd widths and keepDims", () => {
    const rows = (x: tf.Tensor) => tf.reshape(tf.transpose(x, [x.rank - 1, ...Array.from({ length: x.rank - 1 }, (_, i) => i)]), [x.shape[x.rank - 1]!, -1]);
    for (const shape of [[64, 7, 7, 128], [3, 5, 7], [1, 1, 64, 1031], [9, 1], [2, 3, 4, 6]]) {
      tf.tidy(() => {
        const x = tf.mul(tf.randomNormal(shape, 0, 1, "float32", shape.length), tf.scalar(1e3));
        const leading = Array.from({ length: shape.length - 1 }, (_, i) => i);
        const ours = tf.sum(x, leading);
        const stock = tf.sum(rows(x), 1); // the stock kernel reduces an inner axis itself
        expect(ours.shape).toEqual([shape[shape.length - 1]]);
        expect(Array.from(ours.dataSync())).toEqual(Array.from(stock.dataSync()));
        expect(Array.from(tf.mean(x, leading).dataSync())).toEqual(Array.from(tf.mean(rows(x), 1).dataSync()));
        expect(tf.sum(x, leading, true).shape).toEqual([...leading.map(() => 1), shape[shape.length - 1]]);
        // a reduction over other axes still goes to the stock kernel and is right
        expect(tf.sum(x, shape.length - 1).shape).toEqual(shape.slice(0, -1));
      });
    }
  });
});

describe("Sum and Mean that keep the last axis, over strided views, on wasm", () => {
  beforeAll(async () => {
    await selectBackend("wasm", { log: () => {} });
  });

  // The stock kernel's own order: the reduced axes transposed inward (in their order), summed row by row.
  const stockReduce = (x: tf.Tensor, axes: number[], f: typeof tf.sum) => {
    const kept = x.shape.map((_, i) => i).filter((i) => !axes.includes(i));
    const t = tf.transpose(x, [...kept, ...axes]);
    return f(tf.reshape(t, [kept.reduce((p, i) => p * x.shape[i]!, 1), -1]), 1);
  };

  it("is bit for bit the stock kernel on 2x2 pooling views, upsampling gradients and mixed runs", () => {
    const cases: [number[], number[]][] = [
      [[16, 16, 2, 16, 2, 32], [2, 4]], // a 2x2 average pool of [16, 32, 32, 32]
      [[4, 8, 2, 8, 2, 64], [2, 4]], // the gradient of a nearest 2x upsampling
      [[3, 5, 3, 7, 3, 6], [2, 4]], // 3x3 windows, odd sizes
      [[2, 3, 4, 5, 7], [1, 2]], // one run of two axes inside
      [[6, 5, 7], [1]], // one reduced axis between two kept ones
      [[5, 2, 3, 2, 9], [0, 3]], // reduced first and in the middle
      [[2, 1, 3, 2, 1, 5], [1, 3, 4]], // size-1 axes among them
      [[4, 2, 3, 2, 3], [1, 3]], // 3 channels: the scalar tail only
      [[2, 4, 3, 4, 1031], [1, 3]], // a wide tail
    ];
    for (const [shape, axes] of cases) {
      tf.tidy(() => {
        const x = tf.mul(tf.randomNormal(shape, 0, 1, "float32", shape.length + axes[0]!), tf.scalar(1e3));
        const outShape = shape.filter((_, i) => !axes.includes(i));
        for (const f of [tf.sum, tf.mean]) {
          const ours = f(x, axes);
          expect(ours.shape, `${shape} over ${axes}`).toEqual(outShape);
          expect(Array.from(ours.dataSync()), `${f === tf.sum ? "sum" : "mean"} of ${shape} over ${axes}`).toEqual(Array.from(stockReduce(x, axes, f).dataSync()));
          expect(f(x, axes, true).shape).toEqual(shape.map((d, i) => (axes.includes(i) ? 1 : d)));
        }
      });
    }
  });

  it("takes the pooling view and leaves other reductions to the stock kernel", () => {
    expect(stridedReduceView([16, 16, 2, 16, 2, 32], [2, 4])).toEqual([256, 2, 16, 2, 32]);
    expect(stridedReduceView([64, 7, 7, 128], [0, 1, 2])).toEqual([1, 3136, 1, 1, 128]);
    expect(stridedReduceView([6, 5, 7], [1])).toEqual([6, 5, 1, 1, 7]);
    expect(stridedReduceView([2, 1, 3, 2, 1, 5], [1, 3, 4])).toEqual([6, 2, 1, 1, 5]);
    expect(stridedReduceView([4, 5], [1])).toBeNull(); // the last axis
    expect(stridedReduceView([2, 3, 4, 5, 6, 7, 8], [1, 3, 5])).toBeNull(); // three runs
    expect(stridedReduceView([2, 1, 3], [1])).toBeNull(); // nothing to sum
  });
});

describe("FusedBatchNorm over the last axis on wasm", () => {
  beforeAll(async () => {
    await selectBackend("wasm", { log: () => {} });
  });

  it("is bit for bit the stock kernel, with and without offset and scale, odd channel counts, every magnitude", () => {
    const cases: [number[], boolean, boolean, number][] = [
      [[16, 8, 8, 64], true, true, 1e-5],
      [[4096, 32], true, false, 1e-3],
      [[5, 7, 6], false, true, 1e-5], // 6 channels: one vector and a tail of 2
      [[9, 3], false, false, 2e-5], // the tail only
      [[2, 3, 3, 1031], true, true, 1e-5],
    ];
    for (const [shape, withOffset, withScale, eps] of cases) {
      tf.tidy(() => {
        const c = shape[shape.length - 1]!;
        const seed = shape.length + c;
        const x = tf.mul(tf.randomNormal(shape, 0.3, 2, "float32", seed), tf.exp(tf.randomUniform(shape, -8, 8, "float32", seed + 1)));
        const mean = tf.randomNormal([c], 0, 1, "float32", seed + 2);
        const variance = tf.mul(tf.abs(tf.randomNormal([c], 0, 1, "float32", seed + 3)), tf.exp(tf.randomUniform([c], -12, 6, "float32", seed + 4)));
        const offset = withOffset ? tf.randomNormal([c], 0, 1, "float32", seed + 5) : undefined;
        const scale = withScale ? tf.randomNormal([c], 1, 0.5, "float32", seed + 6) : undefined;
        const ours = tf.batchNorm(x, mean, variance, offset, scale, eps);
        // x flattened: the last axis is no longer the channels, so the stock kernel runs (its statistics
        // repeat every c elements, the same arithmetic)
        const stock = tf.batchNorm(tf.reshape(x, [-1]), mean, variance, offset, scale, eps);
        expect(ours.shape).toEqual(shape);
        expect(Array.from(ours.dataSync()), `${shape}`).toEqual(Array.from(stock.dataSync()));
      });
    }
  });
});

describe("batch norm in training as two kernels on wasm (GancBatchNormTrain, GancBatchNormGrad)", () => {
  beforeAll(async () => {
    await selectBackend("wasm", { log: () => {} });
  });

  // shape, with gamma, with beta, epsilon: odd channel counts (a vector and a tail, the tail only), ranks 2-4
  const cases: [number[], boolean, boolean, number][] = [
    [[16, 8, 8, 64], true, true, 1e-5],
    [[4096, 32], true, false, 1e-3],
    [[5, 7, 6], false, true, 1e-5],
    [[9, 3], false, false, 2e-5],
    [[2, 3, 3, 1031], true, true, 1e-5],
  ];
  const inputs = (shape: number[], withGamma: boolean, withBeta: boolean) => {
    const c = shape[shape.length - 1]!;
    const seed = 7 * shape.length + c;
    // values of every magnitude, around a mean far from 0 (centring matters)
    const x = tf.add(tf.mul(tf.randomNormal(shape, 0.3, 2, "float32", seed), tf.exp(tf.randomUniform(shape, -6, 6, "float32", seed + 1))), 3);
    const gamma = withGamma ? tf.randomNormal([c], 1, 0.5, "float32", seed + 2) : null;
    const beta = withBeta ? tf.randomNormal([c], 0, 1, "float32", seed + 3) : null;
    const dy = tf.mul(tf.randomNormal(shape, 0, 1, "float32", seed + 4), tf.exp(tf.randomUniform(shape, -4, 4, "float32", seed + 5)));
    const into = tf.randomNormal(shape, 0, 1, "float32", seed + 6);
    return { c, x, gamma, beta, dy, into, axes: shape.slice(0, -1).map((_, i) => i), n: tf.util.sizeFromShape(shape) / c };
  };

  it("forward: y and the batch mean and variance are tf.moments' and tf.batchNorm's bit for bit (and no centred copy is made)", () => {
    for (const [shape, withGamma, withBeta, eps] of cases) {
      tf.tidy(() => {
        const { x, gamma, beta, axes } = inputs(shape, withGamma, withBeta);
        const ins: tf.NamedTensorMap = { x };
        if (gamma) ins.scale = gamma;
        if (beta) ins.offset = beta;
        const outs = tf.engine().runKernel("GancBatchNormTrain", ins, { varianceEpsilon: eps }) as tf.Tensor[];
        expect(outs.length).toBe(3);
        const [y, mean, variance] = outs;
        const m = tf.moments(x, axes);
        const refY = tf.batchNorm(x, m.mean, m.variance, beta ?? undefined, gamma ?? undefined, eps);
        expect(y!.shape).toEqual(shape);
        expect(Array.from(mean!.dataSync()), `mean ${shape}`).toEqual(Array.from(m.mean.dataSync()));
        expect(Array.from(variance!.dataSync()), `variance ${shape}`).toEqual(Array.from(m.variance.dataSync()));
        expect(Array.from(y!.dataSync()), `y ${shape}`).toEqual(Array.from(refY.dataSync()));
        // hosting the relu layer after it: the stock Relu of the same values, bit for bit (-0 and negatives to +0)
        const [yr, meanR] = tf.engine().runKernel("GancBatchNormTrain", ins, { varianceEpsilon: eps, activation: "relu" }) as tf.Tensor[];
        const bitsOf = (t: tf.Tensor) => Array.from(new Uint32Array((t.dataSync() as Float32Array).slice().buffer));
        expect(bitsOf(yr!), `relu(y) ${shape}`).toEqual(bitsOf(tf.relu(refY)));
        expect(bitsOf(yr!).filter((b) => b === 0).length, `relu(y) ${shape} has zeros`).toBeGreaterThan(0);
        expect(Array.from(meanR!.dataSync())).toEqual(Array.from(m.mean.dataSync()));
      });
    }
  });

  it("backward: dgamma, dbeta and dx are the chain of src/layers/batchnorm.ts bit for bit, with and without gamma, into and dx", () => {
    for (const [shape, withGamma, withBeta, eps] of cases) {
      for (const withInto of [false, true]) {
        tf.tidy(() => {
          const { x, gamma, dy, into, axes, n } = inputs(shape, withGamma, withBeta);
          const m = tf.moments(x, axes);
          const xc = tf.sub(x, m.mean);
          const r = tf.rsqrt(tf.add(m.variance, eps));
          const mh = tf.mul(tf.mul(tf.mul(r, r), r), -0.5);
          // the chain (batchNormLayer's backward), kernel by kernel
          const sum = (t: tf.Tensor) => tf.sum(t, axes);
          const dyG = gamma ? tf.mul(dy, gamma) : dy;
          const refDgamma = sum(tf.mul(dy, tf.mul(xc, r)));
          const refDbeta = sum(dy);
          const dx1 = gamma ? tf.mul(tf.mul(dy, r), gamma) : tf.mul(dy, r);
          const dvar = sum(tf.mul(tf.mul(mh, xc), dyG));
          const dxc = tf.mul(xc, tf.mul(tf.div(dvar, n), 2));
          const dx3 = tf.div(tf.add(sum(tf.mul(r, dyG)), sum(dxc)), -n);
          const refDx = tf.add(tf.add(withInto ? tf.add(into, dx1) : dx1, dxc), dx3);

          // the kernel gets x and the batch mean, and computes x - mean itself
          const ins: tf.NamedTensorMap = { dy, x, mean: m.mean, r, mh };
          if (gamma) ins.gamma = gamma;
          if (withInto) ins.into = into;
          const [dgamma, dbeta, dx] = tf.engine().runKernel("GancBatchNormGrad", ins, { needDx: true }) as tf.Tensor[];
          const label = `${shape}${gamma ? " gamma" : ""}${withInto ? " into" : ""}`;
          expect(Array.from(dgamma!.dataSync()), `dgamma ${label}`).toEqual(Array.from(refDgamma.dataSync()));
          expect(Array.from(dbeta!.dataSync()), `dbeta ${label}`).toEqual(Array.from(refDbeta.dataSync()));
          expect(dx!.shape).toEqual(shape);
          expect(Array.from(dx!.dataSync()), `dx ${label}`).toEqual(Array.from(refDx.dataSync()));

          const only = tf.engine().runKernel("GancBatchNormGrad", ins, { needDx: false }) as tf.Tensor[];
          expect(only.length).toBe(2);
          expect(Array.from(only[0]!.dataSync())).toEqual(Array.from(refDgamma.dataSync()));
          expect(Array.from(only[1]!.dataSync())).toEqual(Array.from(refDbeta.dataSync()));
        });
      }
    }
  });

  it("leaves no buffer behind: the scratch of both kernels is freed", () => {
    const { x, gamma, beta, dy, into } = inputs([4, 5, 5, 6], true, true);
    const r = tf.randomUniform([6], 0.5, 2, "float32", 1);
    const mh = tf.randomUniform([6], -1, 0, "float32", 2);
    const backend = tf.backend() as unknown as { numDataIds(): number };
    const ids = backend.numDataIds();
    const bytes = tf.memory().numBytes;
    const outs = tf.engine().runKernel("GancBatchNormTrain", { x, scale: gamma!, offset: beta! }, { varianceEpsilon: 1e-5 }) as tf.Tensor[];
    const grads = tf.engine().runKernel("GancBatchNormGrad", { dy, x, mean: outs[1]!, r, mh, gamma: gamma!, into }, { needDx: true }) as tf.Tensor[];
    const sums = tf.engine().runKernel("GancBatchNormGrad", { dy, x, mean: outs[1]!, r, mh }, { needDx: false }) as tf.Tensor[];
    expect(backend.numDataIds()).toBe(ids + 3 + 3 + 2);
    tf.dispose([...outs, ...grads, ...sums]);
    expect(backend.numDataIds()).toBe(ids);
    expect(tf.memory().numBytes).toBe(bytes);
    tf.dispose([x, gamma!, beta!, dy, into, r, mh]);
  });
});

describe("Exp on wasm (ganc.wat expf)", () => {
  beforeAll(async () => {
    await selectBackend("wasm", { log: () => {} });
  });

  it("is bit for bit the stock kernel: random bit patterns and values, every float in [1, 2) and near the overflow and underflow limits, specials, tails", () => {
    const backend = tf.backend();
    const stock = stockKernel("wasm", tf.Exp)!.kernelFunc;
    const rangeOf = (lo: number, hi: number) => {
      // every float32 from lo to hi (both > 0, or both < 0 with |lo| > |hi|: bit patterns are monotone in |x|)
      const f = new Float32Array(2);
      f[0] = lo;
      f[1] = hi;
      const u = new Uint32Array(f.buffer);
      const [a, b] = u[0]! <= u[1]! ? [u[0]!, u[1]!] : [u[1]!, u[0]!];
      const out = new Uint32Array(b - a + 1);
      for (let i = 0; i < out.length; i++) out[i] = a + i;
      return new Float32Array(out.buffer);
    };
    const random = new Uint32Array(1 << 21);
    let state = 12345;
    for (let i = 0; i < random.length; i++) {
      state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
      random[i] = state;
    }
    const uniform = Float32Array.from({ length: 1 << 21 }, (_, i) => ((i * 0.6180339887498949) % 1) * 220 - 110);
    const specials = Float32Array.from([0, -0, Infinity, -Infinity, NaN, 3.4028234663852886e38, -3.4028234663852886e38, 1e-45, -1e-45, 88, 88.72283172607422, 88.72283935546875, -103.97207641601562, -103.97208404541016, -87.33654022216797, 1, -1, 0.5]);
    const sets: [string, Float32Array][] = [
      ["random bit patterns", new Float32Array(random.buffer)],
      ["uniform in [-110, 110]", uniform],
      ["every float in [1, 2)", rangeOf(1, 1.9999998807907104)],
      ["every float in [87.5, 89]", rangeOf(87.5, 89)],
      ["every float in [-105, -102]", rangeOf(-102, -105)],
      ["specials", specials],
      ["a tail of 3", specials.subarray(0, 7)],
    ];
    for (const [name, values] of sets) {
      const x = tf.tensor1d(values);
      const run = (f: tf.KernelFunc) => {
        const out = f({ inputs: { x }, backend, attrs: {} }) as tf.TensorInfo;
        const bits = new Uint32Array((backend.readSync(out.dataId) as Float32Array).slice().buffer);
        backend.disposeData(out.dataId);
        return bits;
      };
      const ours = run(tf.getKernel(tf.Exp, "wasm")!.kernelFunc);
      const ref = run(stock);
      const isNaN = (u: number) => (u & 0x7f800000) === 0x7f800000 && (u & 0x7fffff) !== 0;
      let bad = 0;
      let first = "";
      for (let i = 0; i < values.length; i++) {
        if (ours[i] !== ref[i] && !(isNaN(ours[i]!) && isNaN(ref[i]!))) {
          if (bad++ === 0) first = `exp(${values[i]}): 0x${ours[i]!.toString(16)} against 0x${ref[i]!.toString(16)}`;
        }
      }
      expect(bad, `${name} (${values.length} values): ${first}`).toBe(0);
      x.dispose();
    }
  });

  it("agrees with float64 exp to float32 rounding (within 0.51 ulp)", () => {
    const xs = Float32Array.from({ length: 100_000 }, (_, i) => -100 + (i * 188.7) / 100_000);
    const got = tf.exp(tf.tensor1d(xs)).dataSync();
    let worst = 0;
    for (let i = 0; i < xs.length; i++) {
      const exact = Math.exp(xs[i]!);
      if (exact < 1.2e-38) continue; // subnormal results: absolute error instead
      const ulp = 2 ** (Math.floor(Math.log2(exact)) - 23);
      worst = Math.max(worst, Math.abs(got[i]! - exact) / ulp);
    }
    expect(worst).toBeLessThan(0.51);
  });
});

describe("relu's gradient on wasm (GancReluGrad)", () => {
  beforeAll(async () => {
    await selectBackend("wasm", { log: () => {} });
  });

  it("is Multiply(dy, Step(y, alpha)) bit for bit for relu (alpha 0) and leaky relu (0.2, 0.01): random bit patterns, zeros of both signs, infinities, NaNs, tails", () => {
    const specials = [0, -0, Infinity, -Infinity, NaN, 1e-45, -1e-45, 3.4028234663852886e38, -3.4028234663852886e38, 1, -1];
    // every pair of specials, then random bit patterns for both (every magnitude and sign, NaNs with payloads)
    const pairs = specials.flatMap((a) => specials.map((b) => [a, b] as const));
    let state = 777;
    const bits = () => (state = (Math.imul(state, 1664525) + 1013904223) >>> 0);
    const n = pairs.length + 100_003; // not a multiple of 4: the scalar tail runs too
    const dyBits = new Uint32Array(n);
    const yBits = new Uint32Array(n);
    const dyF = new Float32Array(dyBits.buffer);
    const yF = new Float32Array(yBits.buffer);
    pairs.forEach(([a, b], i) => {
      dyF[i] = a;
      yF[i] = b;
    });
    for (let i = pairs.length; i < n; i++) {
      dyBits[i] = bits();
      yBits[i] = bits();
    }
    for (const [len, alpha] of [[n, 0], [3, 0], [7, 0], [1, 0], [n, 0.2], [7, 0.2], [n, 0.01], [5, 0.01]] as const) {
      const dy = tf.tensor1d(dyF.subarray(0, len));
      const y = tf.tensor1d(yF.subarray(0, len));
      const ours = tf.engine().runKernel("GancReluGrad", { dy, y }, (alpha === 0 ? {} : { alpha }) as tf.NamedAttrMap) as tf.Tensor;
      const chain = tf.mul(dy, tf.step(y, alpha));
      const a = new Uint32Array((ours.dataSync() as Float32Array).slice().buffer);
      const b = new Uint32Array((chain.dataSync() as Float32Array).slice().buffer);
      let differing = 0;
      for (let i = 0; i < len; i++) if (a[i] !== b[i]) differing++;
      expect(differing).toBe(0);
      tf.dispose([dy, y, ours, chain]);
    }
  });

  /** The kernels an activation's fused backward runs on wasm and on cpu, and its gradient on each. */
  const backwardOn = async (module: "relu" | "leakyrelu", act: { kind: string; alpha?: number }, dy: tf.Tensor, y: tf.Tensor) => {
    const layers = await import("../../src/layers/index.ts");
    const { gancKernel, kernel, constant } = await import("../../src/runtime/fused/engine.ts");
    const grad = layers.activationModule(module).grad as (a: object, dy: tf.Tensor, y: tf.Tensor, env: object) => tf.Tensor;
    const run = () => {
      const seen: string[] = [];
      const spy = (name: string, inputs: Record<string, tf.Tensor>, attrs?: Record<string, unknown>) => (seen.push(name), kernel(name, inputs, attrs));
      const g = grad(act, dy, y, { tf, kernel: spy as typeof kernel, constant, gancKernel });
      const values = Array.from(g.dataSync());
      g.dispose();
      return { seen, values };
    };
    const wasm = run();
    await selectBackend("cpu", { log: () => {} });
    const cpu = run();
    await selectBackend("wasm", { log: () => {} });
    return { wasm, cpu };
  };

  it("is what relu's fused backward runs on wasm, and cpu keeps the chain", async () => {
    const dy = tf.tensor1d([1, -2, 3, -4, 5]);
    const y = tf.tensor1d([0, -0, 2, 1, NaN]);
    const { wasm, cpu } = await backwardOn("relu", { kind: "relu" }, dy, y);
    expect(wasm.seen).toEqual(["GancReluGrad"]);
    expect(wasm.values).toEqual([0, -0, 3, -4, NaN]);
    expect(cpu.seen).toEqual(["Step", "Multiply"]);
    expect(cpu.values).toEqual([0, -0, 3, -4, NaN]);
    tf.dispose([dy, y]);
  });

  it("is what leaky relu's fused backward runs on wasm, with its slope, and cpu keeps the chain", async () => {
    const dy = tf.tensor1d([1, -2, 3, -4, 5]);
    const y = tf.tensor1d([0, -0, 2, -1, NaN]);
    const expected = [Math.fround(0.25), Math.fround(-0.5), 3, -1, NaN];
    const { wasm, cpu } = await backwardOn("leakyrelu", { kind: "leakyrelu", alpha: 0.25 }, dy, y);
    expect(wasm.seen).toEqual(["GancReluGrad"]);
    expect(wasm.values).toEqual(expected);
    expect(cpu.seen).toEqual(["Step", "Multiply"]);
    expect(cpu.values).toEqual(expected);
    tf.dispose([dy, y]);
  });
});

describe("spectral norm's power-iteration step on wasm (GancPowerStep)", () => {
  beforeAll(async () => {
    await selectBackend("wasm", { log: () => {} });
  });

  it("is powerStep64 bit for bit: odd and even rows and columns, one column, magnitudes from 1e-20 to 1e20", () => {
    let seed = 7;
    const rand = () => ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 2 ** 32) - 0.5;
    for (const [n, out] of [[288, 32], [27, 32], [3, 32], [1, 1], [5, 1], [9, 7], [576, 64], [64, 3], [1, 8]] as const) {
      for (const scale of [1, 1e-20, 1e20]) {
        const w = Float32Array.from({ length: n * out }, () => rand() * scale * (1 + 100 * Math.abs(rand())));
        const u = Float32Array.from({ length: out }, () => rand());
        const ref = powerStep64(w, n, out, u);
        const [v, un] = tf.engine().runKernel("GancPowerStep", { w: tf.tensor2d(w, [n, out]), u: tf.tensor2d(u, [1, out]) }, {}) as tf.Tensor[];
        const bits = (a: Float32Array) => Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length));
        expect(v!.shape).toEqual([1, n]);
        expect(un!.shape).toEqual([1, out]);
        expect(bits(v!.dataSync() as Float32Array), `v for [${n}, ${out}] at ${scale}`).toEqual(bits(ref.v));
        expect(bits(un!.dataSync() as Float32Array), `u for [${n}, ${out}] at ${scale}`).toEqual(bits(ref.u));
        tf.dispose([v!, un!]);
      }
    }
  });

  it("is what rt.spectralNorm runs on wasm, and it leaves no buffer behind", () => {
    const kernel = tf.variable(tf.randomNormal([3, 3, 5, 6], 0, 1, "float32", 31), false, "wk/sn/kernel");
    const u0 = tf.randomNormal([1, 6], 0, 1, "float32", 32);
    const u = tf.variable(u0, false, "wk/sn/u");
    u0.dispose(); // (else the first assign to u leaves u0's buffer to u0)
    const step = powerStep64(kernel.dataSync() as Float32Array, 45, 6, u.dataSync().slice() as Float32Array);
    const buffers = () => (tf.backend() as unknown as { numDataIds(): number }).numDataIds(); // the kernel's scratch is backend data, not a tensor
    const before = [tf.memory().numTensors, buffers()];
    const vv = tf.tidy(() => spectralNormParts(kernel, u, "train").vv);
    expect(Array.from(vv.dataSync())).toEqual(Array.from(step.v));
    expect(Array.from(u.dataSync())).toEqual(Array.from(step.u));
    vv.dispose();
    expect([tf.memory().numTensors, buffers()]).toEqual(before);
    tf.dispose([kernel, u]);
  });
});

describe("Tile on wasm (block copies)", () => {
  beforeAll(async () => {
    await selectBackend("wasm", { log: () => {} });
  });

  it("is bit for bit the stock kernel for ranks 1-6, repeats of 1 and more on every axis, float32 (NaN payloads) and int32", () => {
    const backend = tf.backend();
    const stock = stockKernel("wasm", tf.Tile)!.kernelFunc;
    const cases: [number[], number[]][] = [
      [[1, 1, 1, 128], [64, 7, 7, 1]], // tfjs's batch-norm gradient
      [[1, 1, 1024], [1, 64, 1]],
      [[5], [3]],
      [[2, 3], [1, 1]],
      [[2, 3], [4, 1]],
      [[2, 3], [1, 5]],
      [[3, 1, 2], [2, 7, 3]],
      [[2, 2, 3, 1], [1, 3, 1, 4]],
      [[1, 2, 1, 2, 1], [3, 1, 2, 1, 5]],
      [[2, 1, 3, 1, 2, 1], [1, 2, 1, 3, 1, 2]],
      [[4, 0, 2], [2, 3, 1]],
    ];
    let state = 99;
    for (const [shape, reps] of cases) {
      for (const dtype of ["float32", "int32"] as const) {
        const n = shape.reduce((a, b) => a * b, 1);
        const bits = Uint32Array.from({ length: n }, () => (state = (Math.imul(state, 1664525) + 1013904223) >>> 0));
        if (n > 0) bits[0] = 0x7fa00001; // a signaling NaN's bits as float32: copied as they are
        const x = dtype === "float32" ? tf.tensor(new Float32Array(bits.buffer), shape, "float32") : tf.tensor(new Int32Array(bits.buffer), shape, "int32");
        const ours = tf.tile(x, reps);
        const theirs = stock({ inputs: { x } as never, backend, attrs: { reps } as never }) as tf.TensorInfo;
        const ref = tf.engine().makeTensorFromTensorInfo(theirs);
        expect(ours.shape, `${shape} x ${reps}`).toEqual(ref.shape);
        const a = new Uint32Array((ours.dataSync() as Float32Array | Int32Array).slice().buffer);
        const b = new Uint32Array((ref.dataSync() as Float32Array | Int32Array).slice().buffer);
        expect(Array.from(a), `${shape} x ${reps} ${dtype}`).toEqual(Array.from(b));
        tf.dispose([x, ours, ref]);
      }
    }
  });

  it("leaves other dtypes to the stock kernel", () => {
    const x = tf.tensor([true, false], [2], "bool");
    expect(Array.from(tf.tile(x, [3]).dataSync())).toEqual([1, 0, 1, 0, 1, 0]);
  });
});

describe("Greater with a scalar and Select of one shape on wasm", () => {
  beforeAll(async () => {
    await selectBackend("wasm", { log: () => {} });
  });
  const backend = () => tf.backend();
  const randomBits = (n: number, seed: number) => {
    let state = seed;
    const u = Uint32Array.from({ length: n }, () => (state = (Math.imul(state, 1664525) + 1013904223) >>> 0));
    // zeros of both signs, infinities, NaNs (one with a payload) and the scalars below among them
    const specials = [0, 0x80000000, 0x7f800000, 0xff800000, 0x7fc00000, 0x7fa00001, 0x3f000000, 0xbf000000, 0x00000001];
    specials.forEach((b, i) => (u[(i * 7919) % n] = b));
    return new Float32Array(u.buffer);
  };
  const bitsOf = (t: tf.TensorInfo) => {
    const v = (tf.engine().makeTensorFromTensorInfo(t).dataSync() as Float32Array | Uint8Array).slice();
    return Array.from(v instanceof Uint8Array ? v : new Uint32Array(v.buffer));
  };

  it("Greater(x, scalar) is the stock kernel's, for tails of every length and scalars 0, -0, 0.5, NaN and infinity", () => {
    const stock = stockKernel("wasm", tf.Greater)!.kernelFunc;
    for (const n of [1, 15, 16, 17, 100_003]) {
      for (const sv of [0, -0, 0.5, NaN, Infinity, -Infinity]) {
        const a = tf.tensor1d(randomBits(n, n + 1));
        for (const b of [tf.scalar(sv), tf.tensor1d([sv])]) {
          const ours = tf.engine().runKernel(tf.Greater, { a, b }) as tf.Tensor;
          expect(ours.dtype).toBe("bool");
          const theirs = stock({ inputs: { a, b } as never, backend: backend(), attrs: {} as never }) as tf.TensorInfo;
          expect(bitsOf(ours), `n ${n}, scalar ${sv}`).toEqual(bitsOf(theirs));
          tf.dispose([ours, b]);
        }
        a.dispose();
      }
    }
  });

  it("Select(cond, t, e) is the stock kernel's bit for bit (NaN payloads kept), float32 and int32, tails of every length", () => {
    const stock = stockKernel("wasm", tf.Select)!.kernelFunc;
    for (const n of [1, 3, 4, 5, 100_003]) {
      for (const dtype of ["float32", "int32"] as const) {
        const raw = (seed: number) => (dtype === "float32" ? tf.tensor1d(randomBits(n, seed)) : tf.tensor1d(new Int32Array(randomBits(n, seed).buffer), "int32"));
        const t = raw(n + 3);
        const e = raw(n + 4);
        const condition = tf.greater(tf.tensor1d(randomBits(n, n + 5)), 0);
        const ours = tf.engine().runKernel(tf.Select, { condition, t, e }) as tf.Tensor;
        const theirs = stock({ inputs: { condition, t, e } as never, backend: backend(), attrs: {} as never }) as tf.TensorInfo;
        expect(bitsOf(ours), `n ${n} ${dtype}`).toEqual(bitsOf(theirs));
        tf.dispose([t, e, condition, ours]);
      }
    }
  });

  it("Greater leaves broadcasting and other dtypes to the stock kernel", () => {
    expect(Array.from(tf.greater(tf.tensor2d([[1, 2], [3, 4]]), tf.tensor1d([2, 3])).dataSync())).toEqual([0, 0, 1, 1]);
    expect(Array.from(tf.greater(tf.tensor1d([1, 5], "int32"), tf.scalar(2, "int32")).dataSync())).toEqual([0, 1]);
  });
});

describe("ResizeNearestNeighbor by power-of-two factors on wasm", () => {
  it("copies each input pixel to its factor x factor block, as the cpu backend and the definition do", async () => {
    const cases: [number[], [number, number], boolean][] = [
      [[16, 16, 16, 64], [32, 32], false], // the ResNet generators' 2x upsampling
      [[2, 3, 5, 6], [12, 10], true], // 4 and 2, half-pixel centers, 6 channels (a tail of 2)
      [[1, 4, 4, 3], [8, 32], false], // 2 and 8, 3 channels
    ];
    for (const [shape, newSize, halfPixelCenters] of cases) {
      const values = Array.from({ length: shape.reduce((a, b) => a * b, 1) }, (_, i) => Math.sin(i * 1.7) * 100);
      const run = async (backend: "wasm" | "cpu") => {
        await selectBackend(backend, { log: () => {} });
        return tf.tidy(() => Array.from(tf.image.resizeNearestNeighbor(tf.tensor4d(values, shape as [number, number, number, number]), newSize, false, halfPixelCenters).dataSync()));
      };
      const ours = await run("wasm");
      expect(ours, `${shape} to ${newSize}`).toEqual(await run("cpu"));
      const [, h, w, c] = shape as [number, number, number, number];
      const [fh, fw] = [newSize[0] / h, newSize[1] / w];
      const at = (n: number, y: number, x: number, ch: number) => values[((n * h + Math.floor(y / fh)) * w + Math.floor(x / fw)) * c + ch]!;
      const expected: number[] = [];
      for (let n = 0; n < shape[0]!; n++) for (let y = 0; y < newSize[0]; y++) for (let x = 0; x < newSize[1]; x++) for (let ch = 0; ch < c; ch++) expected.push(Math.fround(at(n, y, x, ch)));
      expect(ours).toEqual(expected);
    }
    await selectBackend("wasm", { log: () => {} });
  });
});

describe("Identity on wasm shares the buffer", () => {
  beforeAll(async () => {
    await selectBackend("wasm", { log: () => {} });
  });

  it("a clone outlives its source, keeps its values, and frees the buffer with the last of them", () => {
    const backend = tf.backend();
    const before = backend.numDataIds();
    const x = tf.tensor2d([1, 2, 3, 4, 5, 6], [2, 3]);
    const y = tf.clone(x);
    expect(backend.numDataIds()).toBe(before + 1); // one buffer, two tensors
    x.dispose();
    expect(Array.from(y.dataSync())).toEqual([1, 2, 3, 4, 5, 6]);
    expect(tf.tidy(() => tf.add(y, 1).dataSync()[5])).toBe(7);
    y.dispose();
    expect(backend.numDataIds()).toBe(before);
  });

  it("so does a cast to the dtype it has; a cast to another dtype converts", () => {
    const backend = tf.backend();
    const before = backend.numDataIds();
    const x = tf.tensor1d([1.5, -0, NaN, 3]);
    const y = tf.cast(x, "float32");
    expect(backend.numDataIds()).toBe(before + 1);
    x.dispose();
    expect(Array.from(y.dataSync())).toEqual([1.5, -0, NaN, 3]);
    const ids = backend.numDataIds();
    const i = tf.cast(y, "int32");
    expect(backend.numDataIds()).toBe(ids + 1); // a buffer of its own
    expect(i.dtype).toBe("int32");
    expect(Array.from(i.dataSync()).filter((_, k) => k !== 2)).toEqual([1, 0, 3]);
    tf.dispose([y, i]);
    expect(backend.numDataIds()).toBe(before);
  });
});

describe("without ganc's kernels (as on webgpu or tensorflow), FusedAdam's chain of stock ops is the reference too", () => {
  beforeAll(async () => {
    await selectBackend("cpu", { log: () => {} });
  });
  afterAll(() => tf.disposeVariables());

  it("FusedAdam falls back to the chain and still equals tf.train.adam bit for bit", () => {
    const saved = tf.getKernel("GancAdam", "cpu")!;
    tf.unregisterKernel("GancAdam", "cpu");
    try {
      const init = tf.randomNormal([1031], 0, 1, "float32", 5);
      const a = tf.variable(init.clone(), true, "chain/a");
      const b = tf.variable(init.clone(), true, "chain/b");
      const ref = tf.train.adam(1e-3, 0.5, 0.999, 1e-8);
      const fused = new FusedAdam(1e-3, 0.5, 0.999, 1e-8);
      for (let t = 0; t < 3; t++) {
        const g = tf.randomNormal([1031], 0, 1, "float32", 30 + t);
        ref.applyGradients({ [a.name]: g } as tf.NamedTensorMap as never);
        fused.applyGradients({ [b.name]: g });
        g.dispose();
      }
      expect(Array.from(b.dataSync())).toEqual(Array.from(a.dataSync()));
    } finally {
      tf.registerKernel(saved);
    }
  });
});

