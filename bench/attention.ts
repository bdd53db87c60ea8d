/**
 * The self-attention layer's runtime (src/layers/attention.ts, selfAttentionRuntime) on its own, at the
 * reduced sagan's shapes (batch 16, 16x16 positions; C = 64 in G, 32 in D), on the backend ganc picks: the
 * median wall time of its forward pass, of the forward and backward passes under tfjs's tape (what the layer-by-
 * layer trainer runs), and of the fused net's forward pass that keeps what its written-out backward pass reads
 * followed by that backward pass (selfAttentionSaving), over 40 calls each. --profile prints one forward pass's kernels
 * (tf.profile, whose per-kernel times include its own reads).
 *
 *   node bin/run-ts.mjs bench/attention.ts [--profile]
 */
import * as tf from "@tensorflow/tfjs";
import { selectBackend } from "../src/runtime/backend.ts";
import { selfAttentionRuntime, selfAttentionSaving } from "../src/layers/attention.ts";

const info = await selectBackend("auto", { log: () => {} });
console.log(info.detail);
const attend = selfAttentionRuntime(tf);
const saving = selfAttentionSaving(tf);
const median = (fn: () => void, n = 40): string => {
  const ts: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    tf.tidy(fn);
    ts.push(performance.now() - t0);
  }
  ts.sort((a, b) => a - b);
  return ts[n >> 1]!.toFixed(2);
};
for (const c of [64, 32]) {
  const x = tf.randomNormal([16, 16, 16, c]) as tf.Tensor4D;
  const [f, g, h, o] = [c / 8, c / 8, c / 2].map((co) => tf.randomNormal([1, 1, c, co])).concat([tf.randomNormal([1, 1, c / 2, c])]) as tf.Tensor[];
  const gamma = tf.scalar(0.1);
  const dy = tf.randomNormal([16, 16, 16, c]);
  const forward = median(() => void attend(x, f!, g!, h!, o!, gamma));
  const both = median(() => void tf.grads((...v: tf.Tensor[]) => attend(v[0] as tf.Tensor4D, v[1]!, v[2]!, v[3]!, v[4]!, v[5]!))([x, f!, g!, h!, o!, gamma], dy));
  const kept = median(() => void saving(x, f!, g!, h!, o!, gamma, (t) => t).backward(dy, true));
  console.log(`[16,16,16,${c}]: forward ${forward} ms; forward and backward under the tape ${both} ms; the fused net's forward and written-out backward ${kept} ms`);
  if (process.argv.includes("--profile")) {
    const p = await tf.profile(() => attend(x, f!, g!, h!, o!, gamma));
    for (const k of p.kernels) console.log(`  ${k.name.padEnd(14)} ${Number(k.kernelTimeMs).toFixed(3).padStart(7)} ms ${JSON.stringify(k.inputShapes)}`);
  }
}
