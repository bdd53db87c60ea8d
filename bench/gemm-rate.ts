/**
 * The product rate each wasm path reaches: tf.matMul's GFLOP/s on the backend ganc selects, for a few
 * product shapes of the seed GAN's size (its layers are products and convolutions lowered to products). Run
 * it with and without a native BLAS to compare the paths' floors:
 *
 *   node bin/run-ts.mjs bench/gemm-rate.ts                   # OpenBLAS where installed
 *   GANC_BLAS=off node bin/run-ts.mjs bench/gemm-rate.ts     # tfjs's threaded wasm build (XNNPACK)
 *   GANC_BLAS=mlas node bin/run-ts.mjs bench/gemm-rate.ts    # MLAS from onnxruntime-node
 *
 * Printed per shape [m, k, n]: the median wall time of 7 calls after 2 warm-ups, GFLOP/s on it, and the
 * CPU time per call (all threads).
 */
import * as tf from "@tensorflow/tfjs";
import { selectBackend } from "../src/runtime/backend.ts";

const info = await selectBackend("wasm", { log: () => {} });
console.log(info.detail);
const shapes: [number, number, number][] = [
  [3136, 1024, 128], // a 4x4 convolution of 64 channels over 64 images of 7x7, as a product
  [64, 1024, 6272], // the seed's dense layer to 7*7*128, batch 64
  [12544, 64, 64], // a 1x1-like product over 64 images of 14x14
  [1024, 1024, 1024],
];
for (const [m, k, n] of shapes) {
  const a = tf.randomNormal([m, k]);
  const b = tf.randomNormal([k, n]);
  const call = () => tf.matMul(a, b).dataSync();
  for (let i = 0; i < 2; i++) call();
  const times: number[] = [];
  const cpu0 = process.cpuUsage();
  for (let i = 0; i < 7; i++) {
    const t = performance.now();
    call();
    times.push(performance.now() - t);
  }
  const cpu = process.cpuUsage(cpu0);
  times.sort((x, y) => x - y);
  const ms = times[3]!;
  console.log(`[${m}, ${k}, ${n}]: ${ms.toFixed(2)} ms, ${((2 * m * k * n) / ms / 1e6).toFixed(0)} GFLOP/s, CPU ${((cpu.user + cpu.system) / 1000 / 7).toFixed(2)} ms per call`);
  tf.dispose([a, b]);
}
