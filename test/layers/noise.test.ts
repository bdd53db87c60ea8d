import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import { checkText } from "../../src/check.ts";
import { selectBackend } from "../../src/runtime/backend.ts";
import { customLayer } from "../../src/tools/export-layers.ts";
import { close, netFn, netOf, values } from "./run-layers.ts";

/*
 * noise (StyleGAN2's noise inputs) as the layer-by-layer trainer runs it (the module's code), on cpu and wasm:
 *   - forward: x + n * s with n the [batch, height, width, 1] standard normal draw of the call's seed,
 *     written out in float64 from n's values; the gradients of <r, y>: r for x, sum over batch and pixels
 *     of r * n for each channel's strength (or over the channels too for per_channel=false);
 *   - training draws with the run's seeds (run.seed(), one per call), sampling with the layer's own fixed
 *     seed, whatever the run's;
 *   - an R1 penalty's second derivative reaching the strength through the noise (noise fixed: one seed)
 *     against central differences.
 */

const NET = "reshape [3, 2, 4], noise";

function noiseValues(shape: number[], seed: number): Float32Array {
  return tf.tidy(() => tf.randomNormal([shape[0]!, shape[1]!, shape[2]!, 1], 0, 1, "float32", seed).dataSync() as Float32Array);
}

describe("noise in a spec", () => {
  it("a strength per channel starting at 0 (per_channel=false: one); a fixed sampling seed per layer", () => {
    const a = netOf("reshape [3, 2, 4], noise, noise per_channel=false", [24]);
    expect(a.vars).toEqual([
      { name: "G/noise1/strength", shape: [4], init: { kind: "zeros" }, trainable: true },
      { name: "G/noise2/strength", shape: [1], init: { kind: "zeros" }, trainable: true },
    ]);
    const seeds = a.layers.slice(1).map((l) => (l.layer as { sampleSeed: number }).sampleSeed);
    expect(seeds[0]).not.toBe(seeds[1]);
    expect(a.hasDropout).toBe(true); // it draws: the optimizer keeps the order of its draws
  });

  it("on a tensor that is not an image is E0186", () => {
    const spec = `data real: ring8(batch=8)\nnoise z: normal(0, 1, [4])\nnet G(z) {\n  dense 8, noise\n  dense 2\n}\nnet D(x) {\n  dense 1 -> logit\n}\nfake = G(z)\nloss d = mean(D(fake).logit)\nloss g = -mean(D(fake).logit)\nstep d: adam(lr=1e-3) minimize d over D\nstep g: adam(lr=1e-3) minimize g over G\n`;
    const errs = checkText(spec, "t.gan").diagnostics.filter((d) => d.severity === "error");
    expect(errs.map((d) => [d.code, d.message])).toEqual([
      ["E0186", "noise adds per-pixel noise to an image [height, width, channels], but its input is [8] per sample; put it after a conv or a reshape to an image"],
    ]);
  });
});

for (const backend of ["cpu", "wasm"] as const) {
  describe(`noise on ${backend}`, () => {
    beforeAll(async () => {
      await selectBackend(backend, { log: () => {} });
    });

    for (const perChannel of [true, false])
      it(`per_channel=${perChannel}: forward and gradients equal float64 arithmetic on the call's noise`, () => {
        const fn = netFn(netOf(`${NET} per_channel=${perChannel}`, [24]));
        const shape = [2, 3, 2, 4];
        const xs = values(48, 1);
        const s = perChannel ? values(4, 2) : values(1, 2);
        const r = values(48, 3);
        const n = noiseValues(shape, 77);
        const sAt = (c: number) => s[perChannel ? c : 0]!;
        const y64 = Float64Array.from(xs, (v, i) => v + n[Math.floor(i / 4)]! * sAt(i % 4));
        const ds = new Float64Array(s.length);
        for (let i = 0; i < 48; i++) ds[perChannel ? i % 4 : 0]! += r[i]! * n[Math.floor(i / 4)]!;
        tf.tidy(() => {
          const x = tf.tensor(Float32Array.from(xs), [2, 24]);
          const st = tf.tensor(Float32Array.from(s), [s.length]);
          const run = (xx: tf.Tensor, ss: tf.Tensor) => fn(xx, { "G/noise1/strength": ss }, { seed: () => 77 });
          close(run(x, st).dataSync(), y64, 1e-6);
          const rT = tf.tensor(Float32Array.from(r), shape);
          const [dx, dst] = tf.grads((xx: tf.Tensor, ss: tf.Tensor) => tf.sum(tf.mul(run(xx, ss), rT)))([x, st]);
          close(dx!.dataSync(), r, 0);
          close(dst!.dataSync(), ds, 1e-6);
        });
      });

    it("training draws from the run's seeds, one per call; sampling uses the layer's fixed seed", () => {
      const net = netOf(NET, [24]);
      const fn = netFn(net);
      const sampleSeed = (net.layers[1]!.layer as { sampleSeed: number }).sampleSeed;
      tf.tidy(() => {
        const x = tf.zeros([2, 24]);
        const vars = { "G/noise1/strength": tf.ones([4]) };
        const seeds: number[] = [];
        let next = 5;
        const seed = () => (seeds.push(next), next++);
        const a = fn(x, vars, { seed }).dataSync();
        const b = fn(x, vars, { seed }).dataSync();
        expect(seeds).toEqual([5, 6]);
        close(a, Float64Array.from({ length: 48 }, (_, i) => noiseValues([2, 3, 2], 5)[Math.floor(i / 4)]!), 0);
        close(b, Float64Array.from({ length: 48 }, (_, i) => noiseValues([2, 3, 2], 6)[Math.floor(i / 4)]!), 0);
        for (const mode of ["infer", "eval"] as const) {
          const c = fn(x, vars, { mode, seed }).dataSync();
          close(c, Float64Array.from({ length: 48 }, (_, i) => noiseValues([2, 3, 2], sampleSeed)[Math.floor(i / 4)]!), 0);
        }
        expect(seeds).toEqual([5, 6]); // sampling takes no seed of the run's
      });
    });

    it("the exported layer GancNoise computes what sampling computes (the layer's fixed noise), per channel and not", () => {
      for (const perChannel of [true, false]) {
        const net = netOf(`${NET} per_channel=${perChannel}`, [24]);
        const l = net.layers[1]!.layer as { sampleSeed: number };
        tf.tidy(() => {
          const x = tf.tensor(Float32Array.from(values(48, 8)), [2, 24]);
          const s = tf.tensor(Float32Array.from(values(perChannel ? 4 : 1, 9)), [perChannel ? 4 : 1]);
          const sampled = netFn(net)(x, { "G/noise1/strength": s }, { mode: "infer" });
          const layer = customLayer(tf, "GancNoise", { seed: l.sampleSeed, perChannel });
          const image = tf.reshape(x, [2, 3, 2, 4]);
          layer.apply(image);
          layer.setWeights([s]);
          const exported = layer.apply(image) as tf.Tensor;
          close(exported.dataSync(), sampled.dataSync(), 0);
          expect(Math.max(...Array.from(tf.sub(exported, image).dataSync(), Math.abs))).toBeGreaterThan(0.1);
        });
      }
    });

    it("an R1 penalty's second derivative with respect to the strength, through the noise (fixed), matches central differences", () => {
      const fn = netFn(netOf(NET, [24]));
      tf.tidy(() => {
        const x = tf.tensor(Float32Array.from(values(48, 4)), [2, 24]);
        const v = tf.tensor(Float32Array.from(values(48, 5)), [2, 3, 2, 4]);
        const penalty = (s: tf.Tensor) => {
          const gx = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(v, tf.tanh(fn(t, { "G/noise1/strength": s }, { seed: () => 9 })))))(x);
          return tf.sum(tf.square(gx));
        };
        const s0 = Float32Array.from(values(4, 6), (a) => a / 2);
        const analytic = tf.grad(penalty)(tf.tensor(s0)).dataSync();
        const H = 1e-3;
        const numeric = Array.from(s0, (_, i) => {
          const at = (d: number) => {
            const s = Float32Array.from(s0);
            s[i]! += d;
            return penalty(tf.tensor(s)).dataSync()[0]!;
          };
          return (at(H) - at(-H)) / (2 * H);
        });
        expect(Math.max(...Array.from(analytic, Math.abs))).toBeGreaterThan(1e-3);
        close(analytic, numeric, 1e-2);
      });
    });
  });
}
