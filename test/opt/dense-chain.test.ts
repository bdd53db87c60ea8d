import * as tf from "@tensorflow/tfjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { selectBackend } from "../../src/runtime/backend.ts";
import { Arena, bceLogits, FusedNet, type FusedLayer } from "../../src/runtime/fused/index.ts";
import { isDenseChain, setDenseChain } from "../../src/runtime/fused/dense-chain.ts";

/**
 * A fused net of dense layers only runs below the engine (src/runtime/fused/dense-chain.ts). It must give
 * exactly what the same net gives run through the engine layer by layer (the fused path the optimized
 * trainers used before, itself bit for bit tfjs's tape: test/opt/equivalence.test.ts), for every
 * activation it accepts, layers without bias, taps below the top, input gradients with and without weight
 * gradients, a forward pass recorded and differentiated later; and leave no buffer behind. The fused
 * bce_logits runs its kernels below the engine too, and is held to the same.
 */

const bits = (t: tf.Tensor) => Array.from(t.dataSync());

interface Outcome {
  outs: number[][];
  weightGrads: number[][];
  inputGrad: number[] | null;
  kernels: number;
}

for (const backend of ["wasm", "cpu"] as const) {
  describe(`dense chain on ${backend}`, () => {
    beforeAll(async () => {
      await selectBackend(backend, { log: () => {} });
    });
    afterAll(() => {
      setDenseChain(true);
      tf.disposeVariables();
    });

    const v = (shape: number[], seed: number, name: string) => tf.variable(tf.randomNormal(shape, 0, 0.5, "float32", seed), true, `${backend}/dc/${name}`);
    // odd sizes (not multiples of 4 lanes); every activation the chain runs, fused into a dense kernel
    // (relu, leakyrelu, sigmoid) or as a layer of its own (tanh, relu); a dense layer without bias
    const W = [v([5, 7], 1, "w0"), v([7, 6], 2, "w1"), v([6, 9], 3, "w2"), v([9, 4], 4, "w3"), v([4, 3], 5, "w4"), v([3, 2], 6, "w5")];
    const B = [v([7], 11, "b0"), v([6], 12, "b1"), v([9], 13, "b2"), null, v([3], 15, "b4"), v([2], 16, "b5")];
    const acts = [{ kind: "relu" }, { kind: "leakyrelu", alpha: 0.1 }, { kind: "sigmoid" }, null, null, null];
    const dense = (i: number) => ({ op: "dense", kernel: W[i], bias: B[i], act: acts[i] }) as unknown as FusedLayer;
    const act = (a: object) => ({ op: "act", act: a }) as unknown as FusedLayer;
    const layers = [dense(0), dense(1), dense(2), dense(3), act({ kind: "tanh" }), dense(4), act({ kind: "relu" }), dense(5)];
    const params = W.flatMap((w, i) => (B[i] ? [w, B[i]!] : [w]));
    const net = new FusedNet("N", layers, { mid: 2 }, params);
    const x = tf.randomNormal([11, 5], 0, 1, "float32", 42);
    const upstream = [tf.randomNormal([11, 2], 0, 1, "float32", 43), tf.randomNormal([11, 9], 0, 1, "float32", 44)];

    /** Both taps, weighted by fixed upstream gradients; weight gradients and/or the input's. */
    async function run(chain: boolean, train: boolean, gradInput: boolean, recorded: boolean): Promise<Outcome> {
      setDenseChain(chain);
      const arena = new Arena();
      const reuse = new Arena();
      const loss = (xin: tf.Tensor) => {
        const o = recorded
          ? FusedNet.replay(net.record([xin], { taps: ["out", "mid"], gradInputs: [false], gradParams: true, arena: reuse }))
          : net.apply([xin], { taps: ["out", "mid"], gradInputs: [gradInput], gradParams: train, arena });
        return tf.add(tf.sum(tf.mul(o.out!, upstream[0]!)), tf.sum(tf.mul(o.mid!, upstream[1]!))) as tf.Scalar;
      };
      let weightGrads: number[][] = [];
      let inputGrad: number[] | null = null;
      const profile = await tf.profile(() => {
        tf.tidy(() => {
          if (train) {
            const { value, grads } = tf.variableGrads(() => loss(x), params);
            weightGrads = params.map((p) => bits(grads[p.name]!));
            tf.dispose([value, ...Object.values(grads)]);
          }
          if (gradInput) inputGrad = bits(tf.grad((xin: tf.Tensor) => loss(xin))(x));
        });
        arena.dispose();
        reuse.dispose();
        return [];
      });
      const outs = tf.tidy(() => {
        const o = net.apply([x], { taps: ["out", "mid"], gradInputs: [false], gradParams: false, arena });
        return [bits(o.out!), bits(o.mid!)];
      });
      arena.dispose();
      reuse.dispose();
      return { outs, weightGrads, inputGrad, kernels: profile.kernels.length };
    }

    it("is taken for all-dense nets only", () => {
      setDenseChain(true);
      expect(isDenseChain(layers as never)).toBe(true);
      expect(isDenseChain([...layers, { op: "batchnorm" }] as never)).toBe(false);
      expect(isDenseChain([...layers, act({ kind: "softmax" })] as never)).toBe(false);
      expect(isDenseChain([act({ kind: "relu" })] as never)).toBe(false);
      expect(isDenseChain([{ op: "dense", kernel: W[0], bias: null, act: { kind: "relu" } }] as never)).toBe(false);
      setDenseChain(false);
      expect(isDenseChain(layers as never)).toBe(false);
      setDenseChain(true);
    });

    for (const [train, gradInput, recorded] of [[true, false, false], [false, true, false], [true, true, false], [true, false, true]] as const) {
      it(`gives the engine path's values bit for bit (weights ${train ? "trained" : "fixed"}, input gradient ${gradInput ? "wanted" : "not wanted"}${recorded ? ", recorded and replayed" : ""})`, async () => {
        await run(true, train, gradInput, recorded); // makes the constants both paths keep for the process
        const tensorsBefore = tf.memory().numTensors;
        const buffersBefore = tf.engine().backend.numDataIds();
        const ref = await run(false, train, gradInput, recorded);
        const got = await run(true, train, gradInput, recorded);
        expect(got.outs).toEqual(ref.outs);
        expect(got.weightGrads).toEqual(ref.weightGrads);
        expect(got.inputGrad).toEqual(ref.inputGrad);
        if (train) expect(got.weightGrads.length).toBe(params.length);
        if (gradInput) expect(got.inputGrad!.length).toBe(55);
        // every value is finite and some gradient is not zero (the comparison compares something)
        expect([...got.outs.flat(), ...got.weightGrads.flat(), ...(got.inputGrad ?? [])].every(Number.isFinite)).toBe(true);
        expect([...got.weightGrads.flat(), ...(got.inputGrad ?? [])].some((g) => g !== 0)).toBe(true);
        // the net's own kernels no longer go through the engine
        expect(got.kernels).toBeLessThan(ref.kernels);
        // nothing is left behind: no tensor, and no buffer held outside the engine
        expect(tf.memory().numTensors).toBe(tensorsBefore);
        expect(tf.engine().backend.numDataIds()).toBe(buffersBefore);
      });
    }

    for (const target of [0, 1, 0.9]) {
      it(`runs bce_logits against ${target} as the engine path does, bit for bit`, () => {
        const logits = tf.randomNormal([13, 1], 0, 2, "float32", 7);
        const once = (chain: boolean) => {
          setDenseChain(chain);
          const arena = new Arena();
          const r = tf.tidy(() => {
            const { value, grad } = tf.valueAndGrad((x: tf.Tensor) => bceLogits(x, target, arena))(logits);
            return [bits(value), bits(grad)];
          });
          arena.dispose();
          return r;
        };
        once(true); // the constants both paths keep
        const tensorsBefore = tf.memory().numTensors;
        const buffersBefore = tf.engine().backend.numDataIds();
        const ref = once(false);
        const got = once(true);
        expect(got).toEqual(ref);
        expect(got[1]!.some((g) => g !== 0)).toBe(true);
        expect(tf.memory().numTensors).toBe(tensorsBefore);
        expect(tf.engine().backend.numDataIds()).toBe(buffersBefore);
        logits.dispose();
      });
    }
  });
}
