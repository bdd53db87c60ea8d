/**
 * ganc's Exp kernel on wasm (ganc.wat expf) against the stock tfjs-backend-wasm kernel on every float32 value:
 * all 2^32 bit patterns in chunks, bit for bit (NaNs compared as NaNs), with the time of each kernel.
 *
 *   node bin/run-ts.mjs bench/expf-check.ts [--chunk-bits 24]
 */
import * as tf from "@tensorflow/tfjs";
import { selectBackend } from "../src/runtime/backend.ts";
import { stockKernel } from "../src/runtime/kernels/index.ts";

const argv = process.argv.slice(2);
const chunkBits = Number(argv[argv.indexOf("--chunk-bits") + 1] ?? 24) || 24;
await selectBackend("wasm", { log: () => {} });
const backend = tf.backend();
const ours = tf.getKernel(tf.Exp, "wasm")!.kernelFunc;
const stock = stockKernel("wasm", tf.Exp)!.kernelFunc;
const chunk = 2 ** chunkBits;
const bits = new Uint32Array(chunk);
let mismatches = 0;
let oursMs = 0;
let stockMs = 0;
for (let start = 0; start < 2 ** 32; start += chunk) {
  for (let i = 0; i < chunk; i++) bits[i] = start + i;
  const x = tf.tensor1d(new Float32Array(bits.buffer));
  const run = (f: tf.KernelFunc) => {
    const t = performance.now();
    const out = f({ inputs: { x }, backend, attrs: {} }) as tf.TensorInfo;
    const ms = performance.now() - t;
    const values = new Uint32Array((backend.readSync(out.dataId) as Float32Array).slice().buffer);
    backend.disposeData(out.dataId);
    return { ms, values };
  };
  const a = run(ours);
  const b = run(stock);
  oursMs += a.ms;
  stockMs += b.ms;
  const isNaN = (u: number) => (u & 0x7f800000) === 0x7f800000 && (u & 0x7fffff) !== 0;
  for (let i = 0; i < chunk; i++) {
    if (a.values[i] !== b.values[i] && !(isNaN(a.values[i]!) && isNaN(b.values[i]!))) {
      if (mismatches < 10) console.log(`x bits 0x${(start + i).toString(16)}: ours 0x${a.values[i]!.toString(16)}, stock 0x${b.values[i]!.toString(16)}`);
      mismatches++;
    }
  }
  x.dispose();
}
console.log(`all 2^32 float32 values: ${mismatches} mismatches; ganc's Exp ${(oursMs / 1000).toFixed(1)} s, the stock kernel ${(stockMs / 1000).toFixed(1)} s`);
process.exit(mismatches === 0 ? 0 : 1);
