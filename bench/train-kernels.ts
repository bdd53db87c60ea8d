/**
 * ganc's training kernels for batch norm and relu's gradient, timed on their own at the reduced sngan_resnet's
 * largest activation ([16,32,32,64], 1M values) on the backend ganc picks: GancBatchNormTrain (batch statistics
 * and the normalization) alone, then followed by the stock Relu, and hosting the relu itself (attribute activation
 * "relu", where the kernel has it: a batch-norm layer followed by a relu layer in a fused net), GancBatchNormGrad
 * (dgamma, dbeta and dx), and relu's gradient both as ganc's one kernel (GancReluGrad, where registered) and as
 * the stock pair Multiply(dy, Step(y)). Median ms per call over 60
 * calls, five rounds. Runs on the commits before GancReluGrad too (the batch-norm pair then takes the centred
 * copy its forward kernel returned), so the same file in a worktree of an older commit gives the before.
 *
 *   node bin/run-ts.mjs bench/train-kernels.ts
 */
import * as tf from "@tensorflow/tfjs";
import { selectBackend } from "../src/runtime/backend.ts";

const info = await selectBackend("auto", { log: () => {} });
console.log(info.detail);
const shape = [16, 32, 32, 64];
const c = shape[3]!;
const x = tf.randomNormal(shape, 0, 1, "float32", 1);
const dy = tf.randomNormal(shape, 0, 1, "float32", 2);
const scale = tf.randomNormal([c], 1, 0.2, "float32", 3);
const offset = tf.randomNormal([c], 0, 0.2, "float32", 4);
const r = tf.randomUniform([c], 0.5, 2, "float32", 5);
const mh = tf.randomUniform([c], -1, 0, "float32", 6);
const run = (name: string, inputs: tf.NamedTensorMap, attrs: Record<string, unknown>) => tf.engine().runKernel(name, inputs, attrs as tf.NamedAttrMap) as tf.Tensor | tf.Tensor[];

const perCall = (fn: () => tf.Tensor | tf.Tensor[]): number => {
  for (let i = 0; i < 10; i++) tf.dispose(fn());
  const calls = 60;
  const t0 = performance.now();
  for (let i = 0; i < calls; i++) tf.dispose(fn());
  return (performance.now() - t0) / calls;
};

const forward = () => run("GancBatchNormTrain", { x, scale, offset }, { varianceEpsilon: 1e-5 });
const outs = forward() as tf.Tensor[];
// the kernel pair before GancReluGrad's commit kept x - mean as a fourth output and read it back
const gradInputs: tf.NamedTensorMap = outs.length === 4 ? { dy, xc: outs[3]!, r, mh, gamma: scale } : { dy, x, mean: outs[1]!, r, mh, gamma: scale };
const fused = tf.getKernel("GancReluGrad", tf.getBackend()) !== undefined;
// (the commits before the relu gradient's kernel ignore the attribute: only time it where it exists)
const probe = tf.tidy(() => (run("GancBatchNormTrain", { x: tf.tensor2d([[-1], [1]]), scale: tf.ones([1]), offset: tf.zeros([1]) }, { varianceEpsilon: 1e-5, activation: "relu" }) as tf.Tensor[])[0]!.min().dataSync()[0]!);
const hostsRelu = probe >= 0;
const rows: Record<string, number[]> = {};
for (let round = 0; round < 5; round++) {
  const add = (k: string, v: number) => (rows[k] ??= []).push(v);
  add("GancBatchNormTrain", perCall(forward));
  add("GancBatchNormTrain, then Relu", perCall(() => tf.tidy(() => tf.relu((forward() as tf.Tensor[])[0]!))));
  if (hostsRelu) add("GancBatchNormTrain, activation relu", perCall(() => run("GancBatchNormTrain", { x, scale, offset }, { varianceEpsilon: 1e-5, activation: "relu" })));
  add("GancBatchNormGrad (dx too)", perCall(() => run("GancBatchNormGrad", gradInputs, { needDx: true })));
  if (fused) add("relu gradient, GancReluGrad", perCall(() => run("GancReluGrad", { dy, y: x }, {})));
  add("relu gradient, Multiply(dy, Step(y))", perCall(() => tf.tidy(() => tf.mul(dy, tf.step(x, 0)))));
}
const median = (v: number[]) => [...v].sort((a, b) => a - b)[v.length >> 1]!;
for (const [name, v] of Object.entries(rows)) console.log(`${name.padEnd(38)} ${median(v).toFixed(3)} ms (rounds: ${v.map((t) => t.toFixed(2)).join(", ")})`);
tf.dispose([...outs, x, dy, scale, offset, r, mh]);
