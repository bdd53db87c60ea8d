/**
 * oneDNN's convolutions called directly (src/runtime/kernels/dnnl.ts) on three of the reduced sngan_resnet's
 * shapes: the median wall time per call of the forward pass, the input gradient and the filter gradient,
 * over 100 calls each. GAP=<ms> runs that long single-threaded (a loop over a 16 MB array) before each call,
 * as a trainer's own kernels do between convolutions, so that OpenMP's helper threads have gone to sleep
 * where they sleep at once (OMP_WAIT_POLICY=PASSIVE) and are still spinning where they spin (the default).
 *
 *   [GAP=2] [OMP_WAIT_POLICY=PASSIVE] [GOMP_SPINCOUNT=N] node bin/run-ts.mjs bench/dnnl-calls.ts
 */
import { loadBlas, loadDnnl } from "../src/runtime/kernels/index.ts";
loadBlas();
const r = loadDnnl(); if (!r.ok) throw new Error(r.reason);
const d = r.dnnl;
const gap = Number(process.env.GAP ?? 0);
const junk = new Float32Array(4 << 20);
const busy = () => { if (!gap) return; const t0 = performance.now(); let i = 0; while (performance.now() - t0 < gap) { junk[i & (junk.length - 1)] += 1; i += 16; } };
for (const [h, c] of [[8, 32], [32, 32], [32, 64]] as const) {
  const s = { n: 16, h, w: h, cin: c, oh: h, ow: h, cout: c, kh: 3, kw: 3, sh: 1, sw: 1, dh: 1, dw: 1, top: 1, left: 1, bottom: 1, right: 1 };
  const x = new Float32Array(16 * h * h * c).fill(0.5), w = new Float32Array(9 * c * c).fill(0.1), y = new Float32Array(16 * h * h * c), dw = new Float32Array(9 * c * c);
  const time = (f: () => void) => { const ts: number[] = []; for (let i = 0; i < 100; i++) { busy(); const t0 = performance.now(); f(); ts.push(performance.now() - t0); } ts.sort((a, b) => a - b); return ts[50]!.toFixed(3); };
  console.log(`${c}->${c} @${h}: fwd ${time(() => d.forward(s, x, w, y))} dx ${time(() => d.backwardData(s, y, w, x))} dw ${time(() => d.backwardWeights(s, x, y, dw))} ms`);
}
