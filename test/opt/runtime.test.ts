import * as tf from "@tensorflow/tfjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { selectBackend } from "../../src/runtime/backend.ts";
import { Arena, FusedAdam, FusedNet, filledView, view, type FusedLayer } from "../../src/runtime/fused/index.ts";
import { makeSplitV } from "../../src/runtime/kernels/index.ts";
import type { BatchNormVars } from "../../src/runtime/ops.ts";

/**
 * The runtime side of the optimization passes, on both CPU backends: each piece computes what tfjs
 * computes, bit for bit (the whole trainers are compared in equivalence.test.ts).
 */

const bits = (t: tf.Tensor) => Array.from(t.dataSync());

for (const backend of ["wasm", "cpu"] as const) {
  describe(`on ${backend}`, () => {
    beforeAll(async () => {
      await selectBackend(backend, { log: () => {} });
    });
    afterAll(() => tf.disposeVariables());

    it("FusedAdam updates a group like tf.train.adam, and its checkpoints are interchangeable", async () => {
      // sizes that are and are not multiples of the wasm kernel's 4 lanes
      const shapes = [[5, 3], [7], [2, 2, 2], [37, 29]];
      const init = shapes.map((s, i) => tf.randomNormal(s, 0, 1, "float32", 1 + i));
      const a = init.map((t, i) => tf.variable(t.clone(), true, `${backend}/a${i}`));
      const b = init.map((t, i) => tf.variable(t.clone(), true, `${backend}/b${i}`));
      const ref = tf.train.adam(1e-3, 0.5, 0.999, 1e-8);
      const fused = new FusedAdam(1e-3, 0.5, 0.999, 1e-8);
      const step = (t: number) => {
        // gradients of very different sizes, one of them tiny, as Adam's epsilon matters there
        const g = shapes.map((s, i) => tf.randomNormal(s, 0, i === 1 ? 1e-9 : 1, "float32", 100 * t + i));
        ref.applyGradients(Object.fromEntries(a.map((v, i) => [v.name, g[i]!])) as tf.NamedTensorMap as never);
        fused.applyGradients(Object.fromEntries(b.map((v, i) => [v.name, g[i]!])));
      };
      for (let t = 0; t < 3; t++) step(t);
      // on wasm and cpu the whole group's step is one kernel (ganc's; other backends run the chain)
      const g3 = shapes.map((s, i) => tf.randomNormal(s, 0, 1, "float32", 700 + i));
      const profile = await tf.profile(() => fused.applyGradients(Object.fromEntries(b.map((v, i) => [v.name, g3[i]!]))));
      ref.applyGradients(Object.fromEntries(a.map((v, i) => [v.name, g3[i]!])) as tf.NamedTensorMap as never);
      expect(profile.kernels.map((k) => k.name)).toEqual(["GancAdam"]);
      (ref as unknown as { learningRate: number }).learningRate = 3e-4; // a learning-rate schedule sets it
      fused.learningRate = 3e-4;
      step(4);
      a.forEach((v, i) => expect(bits(b[i]!)).toEqual(bits(v)));
      expect(bits(fused.accBeta1)).toEqual(bits((ref as unknown as { accBeta1: tf.Variable }).accBeta1));

      // getWeights: the same names (up to the variables' own) and values, in the same order
      const wr = await ref.getWeights();
      const wf = await fused.getWeights();
      expect(wf.map((w) => w.name.replace(`${backend}/b`, "X"))).toEqual(wr.map((w) => w.name.replace(`${backend}/a`, "X")));
      wr.forEach((w, i) => expect(bits(wf[i]!.tensor)).toEqual(bits(w.tensor)));

      // a FusedAdam restored from tf.train.adam's weights continues exactly as tf.train.adam does
      const restored = new FusedAdam(3e-4, 0.5, 0.999, 1e-8);
      await restored.setWeights(wr.map((w) => ({ name: w.name.replace(`${backend}/a`, `${backend}/b`), tensor: w.tensor })));
      restored.accBeta1.assign((ref as unknown as { accBeta1: tf.Variable }).accBeta1);
      restored.accBeta2.assign((ref as unknown as { accBeta2: tf.Variable }).accBeta2);
      const g = shapes.map((s, i) => tf.randomNormal(s, 0, 1, "float32", 900 + i));
      ref.applyGradients(Object.fromEntries(a.map((v, i) => [v.name, g[i]!])) as tf.NamedTensorMap as never);
      restored.applyGradients(Object.fromEntries(b.map((v, i) => [v.name, g[i]!])));
      a.forEach((v, i) => expect(bits(b[i]!)).toEqual(bits(v)));
      // a group it was not built for is refused rather than mixed up
      expect(() => restored.applyGradients({ [b[0]!.name]: g[0]! })).toThrow(/not the group it was built for/);
    });

    it("a recorded forward pass, replayed in a later step, is the forward pass and gradients that step would compute", () => {
      const v = (name: string, shape: number[], std = 0.3) => tf.variable(tf.randomNormal(shape, 0, std, "float32", name.length * 7 + shape[0]!), true, `${backend}/rec/${name}`);
      const bn = (): BatchNormVars => ({ gamma: v("g", [6], 0.1), beta: v("bt", [6], 0.1), movingMean: tf.variable(tf.zeros([6]), false), movingVariance: tf.variable(tf.ones([6]), false), decay: 0.9, epsilon: 1e-5 });
      const w1 = v("w1", [4, 6]);
      const b1 = v("b1", [6]);
      const norm = bn();
      const w2 = v("w2", [6, 2]);
      const layers: FusedLayer[] = [{ op: "dense", kernel: w1, bias: b1, act: null }, { op: "batchnorm", bn: norm }, { op: "act", act: { kind: "relu" } }, { op: "dense", kernel: w2, bias: null, act: null }];
      const params = [w1, b1, norm.gamma!, norm.beta!, w2];
      const net = new FusedNet("N", layers, {}, params);
      const x = tf.randomNormal([8, 4], 0, 1, "float32", 5);
      const weights = tf.randomNormal([8, 2], 0, 1, "float32", 6);
      const loss = (y: tf.Tensor) => tf.sum(tf.mul(y, weights)) as tf.Scalar;
      const opts = (arena: Arena) => ({ taps: ["out"], gradInputs: [false], gradParams: true, arena });
      const moving = () => [norm.movingMean, norm.movingVariance].flatMap(bits);
      const reset = () =>
        tf.tidy(() => {
          norm.movingMean.assign(tf.zeros([6]));
          norm.movingVariance.assign(tf.ones([6]));
        });

      // the net applied in two steps in a row (the second sees the first's moving averages)
      reset();
      const arena = new Arena();
      const first = tf.variableGrads(() => loss(net.apply([x], opts(arena)).out), params);
      const second = tf.variableGrads(() => loss(net.apply([x], opts(arena)).out), params);
      arena.dispose();
      tf.dispose([first.value, ...Object.values(first.grads)]);
      const twice = moving();

      // recorded in the first step, replayed in the second
      reset();
      const before = tf.memory().numTensors;
      const kept = new Arena();
      const rec = net.record([x], opts(kept));
      const replayed = tf.variableGrads(() => loss(FusedNet.replay(rec).out), params);
      for (const p of params) expect(bits(replayed.grads[p.name]!)).toEqual(bits(second.grads[p.name]!));
      expect(bits(replayed.value)).toEqual(bits(second.value));
      expect(moving()).toEqual(twice);
      tf.dispose([replayed.value, ...Object.values(replayed.grads)]);
      kept.dispose();
      expect(tf.memory().numTensors).toBe(before); // nothing the recording kept outlives its arena
    });

    it("views share the buffer and may be disposed on their own; filled tensors are made once", () => {
      const t = tf.range(0, 6);
      const v2 = view(t, [2, -1]);
      expect(v2.shape).toEqual([2, 3]);
      expect(bits(v2)).toEqual([0, 1, 2, 3, 4, 5]);
      v2.dispose();
      expect(bits(t)).toEqual([0, 1, 2, 3, 4, 5]);
      const z1 = filledView(0, [3]);
      const z2 = filledView(0, [3]);
      expect(bits(z1)).toEqual([0, 0, 0]);
      z1.dispose();
      expect(bits(z2)).toEqual([0, 0, 0]);
      expect(() => view(t, [4, 2])).toThrow(/cannot see 6 elements/);
    });
  });
}

describe("wasm SplitV from the heap", () => {
  it("gives the stock kernel's parts along any axis", async () => {
    await selectBackend("wasm", { log: () => {} });
    const ours = makeSplitV() as unknown as tf.KernelFunc;
    const backend = tf.engine().backend;
    const x = tf.randomNormal([3, 5, 4], 0, 1, "float32", 3);
    for (const [axis, sizes] of [[0, [1, 2]], [1, [2, 3]], [2, [1, 1, 2]], [-1, [3, 1]]] as [number, number[]][]) {
      const stock = tf.split(x, sizes, axis); // the stock path is the plain slice of the values
      const mine = ours({ inputs: { x }, backend, attrs: { numOrSizeSplits: sizes, axis } }) as unknown as tf.TensorInfo[];
      mine.forEach((info, i) => {
        const t = tf.engine().makeTensorFromTensorInfo(info);
        expect(t.shape).toEqual(stock[i]!.shape);
        expect(bits(t)).toEqual(bits(stock[i]!));
      });
    }
  });
});
