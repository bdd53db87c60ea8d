import * as tf from "@tensorflow/tfjs";
import ts from "typescript";
import { expect } from "vitest";
import { checkText } from "../../src/check.ts";
import { ident } from "../../src/codegen/writer.ts";
import type { NetIR } from "../../src/ir/types.ts";
import { layerModule } from "../../src/layers/index.ts";
import * as rt from "../../src/runtime/index.ts";

/*
 * A net's layers as the layer-by-layer trainer runs them: the statements each layer's module writes
 * (`code`), transpiled and run on given variables, so that tests prove the code the trainer contains.
 */

/**
 * Net G of a small spec with `layers` on input z of `shape` (D reads G's output only), without the
 * `flatten, dense 2` the spec ends G with (so that its samples are shaped like the data).
 */
export function netOf(layers: string, shape: readonly number[]): NetIR {
  const text = `data real: ring8(batch=8)
noise z: normal(0, 1, [${shape.join(", ")}])
net G(z) {
  ${layers}
  flatten, dense 2
}
net D(x) {
  flatten, dense 1 -> logit
}
fake = G(z)
loss d = mean(D(fake).logit)
loss g = -mean(D(fake).logit)
step d: adam(lr=1e-3) minimize d over D
step g: adam(lr=1e-3) minimize g over G
train { samples=fake }
`;
  const r = checkText(text, "t.gan");
  expect(r.diagnostics.filter((d) => d.severity === "error").map((d) => d.message)).toEqual([]);
  const g = r.program!.nets.find((n) => n.name === "G")!;
  const kept = g.layers.slice(0, -2);
  const last = g.layers[g.layers.length - 1]!.name;
  return { ...g, layers: kept, vars: g.vars.filter((v) => !v.name.startsWith(`G/${last}/`)), outShape: kept[kept.length - 1]!.outShape };
}

export type NetFn = (x: tf.Tensor, vars: Readonly<Record<string, tf.Tensor>>, opts?: { mode?: rt.Mode; seed?: () => number }) => tf.Tensor;

/** The net's function: its input, its variables by full name (G/dense1/kernel), the mode and the run's seeds. */
export function netFn(net: NetIR): NetFn {
  const lines = [`let h = x;`, `const z = x;`];
  for (const info of net.layers) {
    lines.push(layerModule(info.layer).code(info.layer, { net, info, local: (n) => ident(n) }));
    if (info.tap) lines.push(`const ${ident(info.tap)} = h;`);
  }
  lines.push("return h;");
  const names = net.vars.map((v) => v.name);
  const js = ts.transpileModule(lines.join("\n"), { compilerOptions: { target: ts.ScriptTarget.ES2022 } }).outputText;
  const f = new Function("tf", "rt", "run", "mode", "x", ...names.map(ident), js) as (...a: unknown[]) => tf.Tensor;
  return (x, vars, o = {}) => {
    for (const n of names) expect(vars[n], n).toBeDefined();
    let s = 1;
    const run = { seed: o.seed ?? (() => s++) };
    return f(tf, rt, run, o.mode ?? "train", x, ...names.map((n) => vars[n]));
  };
}

/** Deterministic values exactly representable in float32. */
export function values(n: number, seed: number): Float64Array {
  let a = seed >>> 0;
  return Float64Array.from({ length: n }, () => {
    a = (Math.imul(a, 1664525) + 1013904223) >>> 0;
    return Math.round((a / 2 ** 32 - 0.5) * 2 ** 12) / 2 ** 10;
  });
}

/** Worst absolute difference relative to the largest expected value. */
export function close(actual: ArrayLike<number>, expected: ArrayLike<number>, rel: number) {
  expect(actual.length).toBe(expected.length);
  const scale = Math.max(...Array.from(expected, Math.abs), 1e-30);
  let worst = 0;
  for (let i = 0; i < expected.length; i++) worst = Math.max(worst, Math.abs(actual[i]! - expected[i]!));
  expect(worst / scale).toBeLessThanOrEqual(rel);
}
