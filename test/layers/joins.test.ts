/**
 * The joins (`add`, `multiply`, `concat` of a named value) and `from`: the layer-by-layer code the trainer
 * writes for a net with several paths, run by tfjs (float32) with its gradients, against the same net
 * written out in float64 arithmetic here and differentiated by central differences.
 */
import * as tf from "@tensorflow/tfjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ident } from "../../src/codegen/writer.ts";
import { layerModule } from "../../src/layers/index.ts";
import { checkSpec } from "../../src/parser/check/index.ts";
import { completeExample } from "../../src/parser/codes.ts";
import { parseSpec } from "../../src/parser/index.ts";
import * as ops from "../../src/runtime/ops.ts";
import { selectBackend } from "../../src/runtime/backend.ts";
import type { NetIR } from "../../src/ir/types.ts";

// D reads a 2-vector (G's output in the base spec); every join kind and `from` sit on its paths.
const NET = `net D(x) {
  dense 3 bias=false -> a
  tanh -> t
  from(a), dense 3 bias=false, multiply(t)
  add(a, t), concat(t) -> j
  from(x), dense 6 bias=false, add(j)
  dense 1 bias=false -> logit
}`;

function netOf(text: string): NetIR {
  const full = completeExample({ text });
  const parsed = parseSpec(full, "joins.gan");
  const checked = checkSpec(parsed.spec!, full);
  expect(checked.diagnostics.map((d) => d.message)).toEqual([]);
  return checked.program!.nets.find((n) => n.name === "D")!;
}

/** The net's forward pass as the --no-opt trainer writes it, as a JS function of the input and the variables. */
function compiled(net: NetIR): (x: tf.Tensor, ...vars: tf.Tensor[]) => tf.Tensor {
  const locals = new Map<string, string>(net.params.map((p) => [p.name, ident(p.name)]));
  const lines = [`let h = ${ident(net.params[0]!.name)};`];
  for (const info of net.layers) {
    lines.push(layerModule(info.layer).code(info.layer, { net, info, local: (n) => locals.get(n)! }).replace(/ as tf\.\w+/g, ""));
    if (info.tap) {
      locals.set(info.tap, `tap_${info.tap}`);
      lines.push(`const tap_${info.tap} = h;`);
    }
  }
  lines.push("return h;");
  const fn = new Function("tf", "rt", ident(net.params[0]!.name), ...net.vars.map((v) => ident(v.name)), lines.join("\n")) as (...a: unknown[]) => tf.Tensor;
  return (x, ...vars) => fn(tf, ops, x, ...vars);
}

/** The same net in float64: x [n, 2], weights W1 [2,3], W2 [3,3], W3 [2,6], W4 [6,1]; returns [n] outputs. */
function reference(x: number[][], [w1, w2, w3, w4]: number[][][]): number[] {
  const mm = (a: number[][], w: number[][]) => a.map((r) => w[0]!.map((_, j) => r.reduce((s, v, k) => s + v * w[k]![j]!, 0)));
  return x.map((row) => {
    const a = mm([row], w1!)[0]!;
    const t = a.map(Math.tanh);
    const m = mm([a], w2!)[0]!.map((v, i) => v * t[i]!);
    const j = [...m.map((v, i) => v + a[i]! + t[i]!), ...t];
    const s = mm([row], w3!)[0]!.map((v, i) => v + j[i]!);
    return mm([s], w4!)[0]![0]!;
  });
}

for (const backend of ["cpu", "wasm"] as const) {
  describe(`joins and from in the layer-by-layer trainer on ${backend}`, () => {
    let previous: string;
    beforeAll(async () => {
      previous = tf.getBackend();
      await selectBackend(backend, { log: () => {} });
    });
    afterAll(async () => {
      if (previous) await tf.setBackend(previous);
    });
    const net = netOf(NET);
    const shapes = [[2, 3], [3, 3], [2, 6], [6, 1]];

    it("the net checks with one variable per dense layer and the joined shapes", () => {
      expect(net.vars.map((v) => v.shape)).toEqual(shapes);
      expect(net.layers.find((l) => l.tap === "j")!.outShape).toEqual([6]);
      expect(net.outShape).toEqual([1]);
    });

    it("forward pass and every gradient (input and weights) match float64 central differences", () => {
      expect(tf.getBackend()).toBe(backend);
      let seed = 7;
      const rnd = () => ((seed = (seed * 16807) % 2147483647) / 2147483647) * 2 - 1;
      const x = Array.from({ length: 2 }, () => Array.from({ length: 2 }, rnd));
      const ws = shapes.map(([r, c]) => Array.from({ length: r! }, () => Array.from({ length: c! }, () => rnd() * 0.8)));
      const weights = [1.5, -0.7]; // loss = sum_i weights[i] * out[i]
      const loss = (xx: number[][], ww: number[][][]) => reference(xx, ww).reduce((s, v, i) => s + v * weights[i]!, 0);

      const f = compiled(net);
      const y = f(tf.tensor2d(x), ...ws.map((w) => tf.tensor2d(w)));
      const want = reference(x, ws);
      const got = Array.from(y.dataSync());
      got.forEach((g, i) => expect(Math.abs(g - want[i]!)).toBeLessThan(1e-5 * Math.max(1, Math.abs(want[i]!))));

      const grads = tf.grads((xt: tf.Tensor, ...vt: tf.Tensor[]) => tf.sum(tf.mul(f(xt, ...vt).reshape([-1]), tf.tensor1d(weights))))([tf.tensor2d(x), ...ws.map((w) => tf.tensor2d(w))]);
      const h = 1e-6;
      const central = (poke: (d: number) => number) => (poke(h) - poke(-h)) / (2 * h);
      // d/dx
      const gx = grads[0]!.arraySync() as number[][];
      x.forEach((row, i) =>
        row.forEach((_, k) => {
          const num = central((d) => loss(x.map((r, ii) => r.map((v, kk) => (ii === i && kk === k ? v + d : v))), ws));
          expect(Math.abs(gx[i]![k]! - num), `dx[${i}][${k}]`).toBeLessThan(1e-4 * Math.max(1, Math.abs(num)));
        }),
      );
      // d/dW for every weight of every layer (the joins route gradients to all of them)
      ws.forEach((w, wi) => {
        const gw = grads[wi + 1]!.arraySync() as number[][];
        w.forEach((row, r) =>
          row.forEach((_, c) => {
            const num = central((d) => loss(x, ws.map((ww, j) => (j !== wi ? ww : ww.map((rr, ri) => rr.map((v, ci) => (ri === r && ci === c ? v + d : v)))))));
            expect(Math.abs(gw[r]![c]! - num), `dW${wi + 1}[${r}][${c}]`).toBeLessThan(1e-4 * Math.max(1, Math.abs(num)));
            expect(Math.abs(num)).toBeGreaterThan(0); // every weight is on a path to the output
          }),
        );
      });
    });
  });
}
