import * as tf from "@tensorflow/tfjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { selectBackend } from "../../src/runtime/backend.ts";
import { Arena, FusedNet, type FusedLayer } from "../../src/runtime/fused/index.ts";
import * as rt from "../../src/runtime/index.ts";
import type { BatchNormVars } from "../../src/runtime/ops.ts";

/**
 * Fused nets with more than one path (`from`, `add`) and with spectrally normalized kernels, against the
 * same net written layer by layer with the trainer's own ops (what `ganc compile --no-opt` emits), on small
 * random nets on both CPU backends: the forward pass, the gradients of every weight and of the input, the
 * batch-norm moving averages and the power-iteration vectors after the pass, all bit for bit. The values
 * read by several layers (a block's input read by batch norm and two shortcuts, the input of the net read
 * by the first conv and a pooled shortcut) check that their gradients are summed in tfjs's order.
 */

const bits = (t: tf.Tensor) => Array.from(t.dataSync());

/** The variables' values now, and a way to put them back (each run of a net updates its state). */
function snapshot(vars: readonly tf.Variable[]): () => void {
  const saved = vars.map((v) => v.clone());
  return () => vars.forEach((v, i) => v.assign(saved[i]!));
}

for (const backend of ["wasm", "cpu"] as const) {
  describe(`on ${backend}`, () => {
    beforeAll(async () => {
      await selectBackend(backend, { log: () => {} });
    });
    afterAll(() => tf.disposeVariables());

    let seed = 1;
    const v = (name: string, shape: number[], std = 0.3, trainable = true) => tf.variable(tf.randomNormal(shape, 0, std, "float32", seed++), trainable, `${backend}/${name}`);
    const bnVars = (name: string, c: number): BatchNormVars => ({
      gamma: v(`${name}/g`, [c], 0.1),
      beta: v(`${name}/b`, [c], 0.1),
      movingMean: tf.variable(tf.zeros([c]), false, `${backend}/${name}/mm`),
      movingVariance: tf.variable(tf.ones([c]), false, `${backend}/${name}/mv`),
      decay: 0.9,
      epsilon: 1e-5,
    });

    it("a residual up-block: batch norm and two shortcuts read one value, a tap in the middle; forward, gradients and moving averages as layer by layer", () => {
      const wd = v("g/wd", [6, 16]);
      const bd = v("g/bd", [16]);
      const bn = bnVars("g/bn", 4);
      const k5 = v("g/k5", [3, 3, 4, 4]);
      const b5 = v("g/b5", [4]);
      const k8 = v("g/k8", [1, 1, 4, 4]);
      const b8 = v("g/b8", [4]);
      const params = [wd, bd, bn.gamma!, bn.beta!, k5, b5, k8, b8];
      const layers: FusedLayer[] = [
        { op: "dense", kernel: wd, bias: bd, act: null }, // 0
        { op: "reshape", shape: [2, 2, 4] }, // 1: -> a
        { op: "batchnorm", bn }, // 2
        { op: "act", act: { kind: "relu" } }, // 3
        { op: "upsample", factor: 2, bilinear: false }, // 4
        { op: "conv2d", kernel: k5, bias: b5, stride: 1, pad: "same", act: null }, // 5: -> main
        { op: "from", src: { layer: 1 } }, // 6
        { op: "upsample", factor: 2, bilinear: false }, // 7
        { op: "conv2d", kernel: k8, bias: b8, stride: 1, pad: "same", act: null }, // 8
        { op: "add", values: [{ layer: 5 }] }, // 9: -> r
        { op: "from", src: { layer: 1 } }, // 10
        { op: "upsample", factor: 2, bilinear: false }, // 11
        { op: "add", values: [{ layer: 9 }] }, // 12
      ];
      const net = new FusedNet("G", layers, { r: 9 }, params);
      const reference = (z: tf.Tensor) => {
        let h: tf.Tensor = rt.matMulBias(z as tf.Tensor2D, wd as tf.Tensor2D, bd);
        h = tf.reshape(h, [-1, 2, 2, 4]);
        const a = h;
        h = rt.batchNorm(h, bn, "train");
        h = tf.relu(h);
        h = rt.upsample(h as tf.Tensor4D, 2);
        h = rt.conv2dBias(h as tf.Tensor4D, k5 as tf.Tensor4D, b5, 1, "same");
        const main = h;
        h = a;
        h = rt.upsample(h as tf.Tensor4D, 2);
        h = rt.conv2dBias(h as tf.Tensor4D, k8 as tf.Tensor4D, b8, 1, "same");
        h = tf.add(h, main);
        const r = h;
        h = a;
        h = rt.upsample(h as tf.Tensor4D, 2);
        h = tf.add(h, r);
        return { out: h, r };
      };
      const z = tf.randomNormal([5, 6], 0, 1, "float32", 90);
      const wOut = tf.randomNormal([5, 4, 4, 4], 0, 1, "float32", 91);
      const wR = tf.randomNormal([5, 4, 4, 4], 0, 1, "float32", 92);
      const loss = (o: { out: tf.Tensor; r: tf.Tensor }) => tf.add(tf.sum(tf.mul(o.out, wOut)), tf.sum(tf.mul(o.r, wR))) as tf.Scalar;
      const restore = snapshot([bn.movingMean, bn.movingVariance]);

      // the step trains the net and needs the input's gradient too
      const refRun = (zz: tf.Tensor) => loss(reference(zz));
      const ref = tf.variableGrads(() => refRun(z), params);
      const refDz = tf.grad((zz: tf.Tensor) => refRun(zz))(z);
      const refMoving = [bn.movingMean, bn.movingVariance].flatMap(bits); // two passes' updates
      restore();
      const arena = new Arena();
      const apply = (zz: tf.Tensor) => net.apply([zz], { taps: ["out", "r"], gradInputs: [true], gradParams: true, arena }) as { out: tf.Tensor; r: tf.Tensor };
      const fused = tf.variableGrads(() => loss(apply(z)), params);
      expect(bits(fused.value)).toEqual(bits(ref.value));
      for (const p of params) expect(bits(fused.grads[p.name]!), p.name).toEqual(bits(ref.grads[p.name]!));
      const dz = tf.grad((zz: tf.Tensor) => loss(apply(zz)))(z);
      expect(bits(dz)).toEqual(bits(refDz));
      expect([bn.movingMean, bn.movingVariance].flatMap(bits)).toEqual(refMoving);
      arena.dispose();

      // only "r" read: the last shortcut and its add are not below it, the weights all are
      expect(net.paramsBelow(["r"])).toEqual(params);
    });

    it("a residual D with spectral norm: kernels normalized before the op, gradients through the normalization, the power-iteration vectors updated as layer by layer", () => {
      const conv = (name: string, k: number, cin: number, cout: number) => ({ k: v(`d/${name}/k`, [k, k, cin, cout]), b: v(`d/${name}/b`, [cout], 0.1), u: v(`d/${name}/u`, [1, cout], 1, false) });
      const c0 = conv("c0", 3, 3, 4);
      const c1 = conv("c1", 3, 4, 4);
      const c5 = conv("c5", 1, 3, 4);
      const c8 = conv("c8", 3, 4, 4);
      const dk = v("d/dense/k", [4, 1]);
      const db = v("d/dense/b", [1], 0.1);
      const du = v("d/dense/u", [1, 1], 1, false);
      const params = [c0.k, c0.b, c1.k, c1.b, c5.k, c5.b, c8.k, c8.b, dk, db];
      const state = [c0.u, c1.u, c5.u, c8.u, du];
      const layers: FusedLayer[] = [
        { op: "conv2d", kernel: c0.k, bias: c0.b, stride: 1, pad: "same", act: { kind: "relu" }, sn: c0.u }, // 0 (+ relu)
        { op: "conv2d", kernel: c1.k, bias: c1.b, stride: 1, pad: "same", act: null, sn: c1.u }, // 1
        { op: "avgpool", size: 2, stride: 2, padding: "valid" }, // 2: -> main
        { op: "from", src: { input: 0 } }, // 3
        { op: "avgpool", size: 2, stride: 2, padding: "valid" }, // 4
        { op: "conv2d", kernel: c5.k, bias: c5.b, stride: 1, pad: "same", act: null, sn: c5.u }, // 5
        { op: "add", values: [{ layer: 2 }] }, // 6: -> b
        { op: "act", act: { kind: "relu" } }, // 7
        { op: "conv2d", kernel: c8.k, bias: c8.b, stride: 1, pad: "same", act: null, sn: c8.u }, // 8
        { op: "add", values: [{ layer: 6 }] }, // 9
        { op: "global_sum" }, // 10
        { op: "dense", kernel: dk, bias: db, act: null, sn: du }, // 11
      ];
      const net = new FusedNet("D", layers, { b: 6 }, params);
      const reference = (x: tf.Tensor) => {
        let h = x;
        h = rt.conv2dBias(h as tf.Tensor4D, rt.spectralNorm(c0.k, c0.u, "train") as tf.Tensor4D, c0.b, 1, "same");
        h = tf.relu(h);
        h = rt.conv2dBias(h as tf.Tensor4D, rt.spectralNorm(c1.k, c1.u, "train") as tf.Tensor4D, c1.b, 1, "same");
        h = rt.avgPool(h as tf.Tensor4D, 2, 2, "valid");
        const main = h;
        h = x;
        h = rt.avgPool(h as tf.Tensor4D, 2, 2, "valid");
        h = rt.conv2dBias(h as tf.Tensor4D, rt.spectralNorm(c5.k, c5.u, "train") as tf.Tensor4D, c5.b, 1, "same");
        h = tf.add(h, main);
        const b = h;
        h = tf.relu(h);
        h = rt.conv2dBias(h as tf.Tensor4D, rt.spectralNorm(c8.k, c8.u, "train") as tf.Tensor4D, c8.b, 1, "same");
        h = tf.add(h, b);
        h = tf.sum(h, [1, 2]);
        h = rt.matMulBias(h as tf.Tensor2D, rt.spectralNorm(dk, du, "train") as tf.Tensor2D, db);
        return h;
      };
      const x = tf.randomNormal([3, 4, 4, 3], 0, 1, "float32", 93);
      const wOut = tf.randomNormal([3, 1], 0, 1, "float32", 94);
      const loss = (y: tf.Tensor) => tf.sum(tf.mul(y, wOut)) as tf.Scalar;
      const restore = snapshot(state);

      // D's step: two applications in a row (each normalizes with the vectors the one before left)
      const refOne = tf.variableGrads(() => loss(reference(x)), params);
      const refTwo = tf.variableGrads(() => loss(reference(x)), params);
      const refU = state.flatMap(bits);
      restore();
      const arena = new Arena();
      const apply = (xx: tf.Tensor, gradParams: boolean) => net.apply([xx], { taps: ["out"], gradInputs: [!gradParams], gradParams, arena }).out!;
      const one = tf.variableGrads(() => loss(apply(x, true)), params);
      const two = tf.variableGrads(() => loss(apply(x, true)), params);
      expect(bits(one.value)).toEqual(bits(refOne.value));
      expect(bits(two.value)).toEqual(bits(refTwo.value));
      for (const p of params) {
        expect(bits(one.grads[p.name]!), p.name).toEqual(bits(refOne.grads[p.name]!));
        expect(bits(two.grads[p.name]!), p.name).toEqual(bits(refTwo.grads[p.name]!));
      }
      expect(state.flatMap(bits)).toEqual(refU);

      // two applications in one step (D(real) and D(fake)): each kernel's gradient sums both, in tfjs's order
      restore();
      const x2 = tf.randomNormal([3, 4, 4, 3], 0, 1, "float32", 97);
      const refBoth = tf.variableGrads(() => tf.add(loss(reference(x)), loss(reference(x2))) as tf.Scalar, params);
      const refBothU = state.flatMap(bits);
      restore();
      const both = tf.variableGrads(() => tf.add(loss(apply(x, true)), loss(apply(x2, true))) as tf.Scalar, params);
      for (const p of params) expect(bits(both.grads[p.name]!), p.name).toEqual(bits(refBoth.grads[p.name]!));
      expect(state.flatMap(bits)).toEqual(refBothU);

      // G's step: D not trained, the input's gradient through the shortcut read from the input and the convs
      restore();
      const refDx = tf.grad((xx: tf.Tensor) => loss(reference(xx)))(x);
      const refU1 = state.flatMap(bits);
      restore();
      const dx = tf.grad((xx: tf.Tensor) => loss(apply(xx, false)))(x);
      expect(bits(dx)).toEqual(bits(refDx));
      expect(state.flatMap(bits)).toEqual(refU1);
      arena.dispose();

      // a net with spectral norm is not recorded for a later step (its replay would not be that step's pass)
      expect(() => net.record([x], { taps: ["out"], gradInputs: [false], gradParams: true, arena: new Arena() })).toThrow(/spectral norm/);
      expect(net.paramsBelow(["b"])).toEqual([c0.k, c0.b, c1.k, c1.b, c5.k, c5.b]);
    });

    it("self-attention with spectral norm in a fused net: forward and every gradient as layer by layer (its backward differentiates a recomputation with tfjs)", () => {
      const k0 = v("a/k0", [1, 1, 3, 8]);
      const b0 = v("a/b0", [8], 0.1);
      const u0 = v("a/u0", [1, 8], 1, false);
      const att = { f: v("a/f", [1, 1, 8, 1]), g: v("a/g", [1, 1, 8, 1]), h: v("a/h", [1, 1, 8, 4]), o: v("a/o", [1, 1, 4, 8]), gamma: v("a/gamma", [1], 0.5) };
      const us = [v("a/uf", [1, 1], 1, false), v("a/ug", [1, 1], 1, false), v("a/uh", [1, 4], 1, false), v("a/uo", [1, 8], 1, false)] as [tf.Variable, tf.Variable, tf.Variable, tf.Variable];
      const dk = v("a/dk", [8, 1]);
      const params = [k0, b0, att.f, att.g, att.h, att.o, att.gamma, dk];
      const state = [u0, ...us];
      const layers: FusedLayer[] = [
        { op: "conv2d", kernel: k0, bias: b0, stride: 1, pad: "same", act: null, sn: u0 },
        { op: "attention", ...att, sn: us },
        { op: "global_sum" },
        { op: "dense", kernel: dk, bias: null, act: null },
      ];
      const net = new FusedNet("A", layers, {}, params);
      const reference = (x: tf.Tensor) => {
        let h = rt.conv2dBias(x as tf.Tensor4D, rt.spectralNorm(k0, u0, "train") as tf.Tensor4D, b0, 1, "same");
        const [f, g, hk, o] = [att.f, att.g, att.h, att.o].map((k, i) => rt.spectralNorm(k, us[i]!, "train"));
        h = rt.selfAttention(h as tf.Tensor4D, f!, g!, hk!, o!, att.gamma);
        return tf.matMul(tf.sum(h, [1, 2]) as tf.Tensor2D, dk as tf.Tensor2D);
      };
      const x = tf.randomNormal([2, 4, 4, 3], 0, 1, "float32", 95);
      const wOut = tf.randomNormal([2, 1], 0, 1, "float32", 96);
      const loss = (y: tf.Tensor) => tf.sum(tf.mul(y, wOut)) as tf.Scalar;
      const restore = snapshot(state);
      const ref = tf.variableGrads(() => loss(reference(x)), params);
      const refDx = tf.grad((xx: tf.Tensor) => loss(reference(xx)))(x);
      const refU = state.flatMap(bits);
      restore();
      const arena = new Arena();
      const fused = tf.variableGrads(() => loss(net.apply([x], { taps: ["out"], gradInputs: [false], gradParams: true, arena }).out!), params);
      const dx = tf.grad((xx: tf.Tensor) => loss(net.apply([xx], { taps: ["out"], gradInputs: [true], gradParams: false, arena }).out!))(x);
      arena.dispose();
      expect(bits(fused.value)).toEqual(bits(ref.value));
      for (const p of params) expect(bits(fused.grads[p.name]!), p.name).toEqual(bits(ref.grads[p.name]!));
      expect(bits(dx)).toEqual(bits(refDx));
      expect(state.flatMap(bits)).toEqual(refU);
      // gamma starts away from 0 here, so every kernel's gradient is not zero
      for (const p of params) expect(bits(fused.grads[p.name]!).some((g) => g !== 0), p.name).toBe(true);
    });
  });
}
