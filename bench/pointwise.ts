/**
 * Pointwise (1x1, stride 1) convolutions on oneDNN against one sgemm of the system BLAS, at the shapes of the reduced
 * sagan's attention layers and of the ResNets' shortcuts (batch 16): the median wall time per call over 60 calls of
 * the forward pass, the input gradient and the filter gradient, each way. GAP=<ms> (default 0.5) runs that long
 * single-threaded before each call, as a trainer's own kernels do between convolutions.
 *
 *   [GAP=0.5] node bin/run-ts.mjs bench/pointwise.ts
 */
import { loadBlas, loadDnnl } from "../src/runtime/kernels/index.ts";

const b = loadBlas();
if (!b.ok) throw new Error(b.reason);
const blas = b.blas;
const r = loadDnnl();
if (!r.ok) throw new Error(r.reason);
const d = r.dnnl;
const gap = Number(process.env.GAP ?? 0.5);
const junk = new Float32Array(4 << 20);
const busy = () => {
  const t0 = performance.now();
  let i = 0;
  while (performance.now() - t0 < gap) {
    junk[i & (junk.length - 1)]! += 1;
    i += 16;
  }
};
const time = (f: () => void): string => {
  const ts: number[] = [];
  for (let i = 0; i < 60; i++) {
    busy();
    const t0 = performance.now();
    f();
    ts.push(performance.now() - t0);
  }
  ts.sort((p, q) => p - q);
  return ts[30]!.toFixed(3);
};
console.log("shape                 | forward oneDNN / sgemm | input grad oneDNN / sgemm | filter grad oneDNN / sgemm (ms)");
for (const [h, cin, cout] of [
  [16, 32, 4],
  [16, 32, 16],
  [16, 16, 32],
  [16, 64, 8],
  [16, 64, 32],
  [16, 32, 64],
  [16, 3, 32],
  [16, 32, 32],
  [16, 64, 64],
  [32, 64, 64],
] as const) {
  const n = 16;
  const M = n * h * h;
  const s = { n, h, w: h, cin, oh: h, ow: h, cout, kh: 1, kw: 1, sh: 1, sw: 1, dh: 1, dw: 1, top: 0, left: 0, bottom: 0, right: 0 };
  const x = Float32Array.from({ length: M * cin }, (_, i) => ((i * 7919) % 13) / 13 - 0.5);
  const w = Float32Array.from({ length: cin * cout }, (_, i) => ((i * 104729) % 11) / 11 - 0.5);
  const y = new Float32Array(M * cout).fill(0.25);
  const dx = new Float32Array(M * cin);
  const dw = new Float32Array(cin * cout);
  const fwd = `${time(() => d.forward(s, x, w, y))} / ${time(() => blas.sgemm(false, false, M, cout, cin, x, cin, w, cout, 0, y, cout))}`;
  const dData = `${time(() => d.backwardData(s, y, w, dx))} / ${time(() => blas.sgemm(false, true, M, cin, cout, y, cout, w, cout, 0, dx, cin))}`;
  const dWeights = `${time(() => d.backwardWeights(s, x, y, dw))} / ${time(() => blas.sgemm(true, false, cin, cout, M, x, cin, y, cout, 0, dw, cout))}`;
  console.log(`[${n},${h},${h},${cin}] to ${cout}`.padEnd(22), "|", fwd.padEnd(22), "|", dData.padEnd(25), "|", dWeights);
}
