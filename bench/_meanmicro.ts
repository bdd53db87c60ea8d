import * as tf from "@tensorflow/tfjs";
import { selectBackend } from "../src/runtime/backend.ts";
await selectBackend("wasm", { log: () => {} });
const time = (f: () => void, n = 50) => { for (let i = 0; i < 5; i++) f(); const t = performance.now(); for (let i = 0; i < n; i++) f(); return (performance.now() - t) / n; };
for (const shape of [[16, 16, 2, 16, 2, 32], [16, 16, 2, 16, 2, 3], [16, 8, 2, 8, 2, 32]]) {
  const x = tf.randomNormal(shape);
  const k = (name: string) => () => { const y = tf.engine().runKernel(name, { x }, { axis: [2, 4], keepDims: false }) as tf.Tensor; y.dispose(); };
  console.log(shape.join("x"), "Sum", time(k("Sum")).toFixed(3), "Mean", time(k("Mean")).toFixed(3));
}
const y = tf.randomNormal([16, 32, 32, 64]);
const k2 = (name: string) => () => { const o = tf.engine().runKernel(name, { x: y }, { axis: [0, 1, 2], keepDims: false }) as tf.Tensor; o.dispose(); };
console.log("colsum", time(k2("Sum")).toFixed(3), time(k2("Mean")).toFixed(3));
const a = tf.randomNormal([16, 32, 32, 64]), b = tf.randomNormal([16, 32, 32, 64]), c = tf.randomNormal([64]);
const bin = (name: string, p: tf.Tensor, q: tf.Tensor) => () => { (tf.engine().runKernel(name, { a: p, b: q }) as tf.Tensor).dispose(); };
console.log("Add", time(bin("Add", a, b)).toFixed(3), "Mul", time(bin("Multiply", a, b)).toFixed(3), "Mul bcast", time(bin("Multiply", a, c)).toFixed(3), "Sub bcast", time(bin("Sub", a, c)).toFixed(3));
const un = (name: string) => () => { (tf.engine().runKernel(name, { x: a }) as tf.Tensor).dispose(); };
console.log("Relu", time(un("Relu")).toFixed(3), "Step", time(() => { (tf.engine().runKernel("Step", { x: a }, { alpha: 0 }) as tf.Tensor).dispose(); }).toFixed(3), "Square", time(un("Square")).toFixed(3), "Exp", time(un("Exp")).toFixed(3));
