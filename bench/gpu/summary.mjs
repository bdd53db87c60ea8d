// The table run.sh prints: the webgpu trainer's ms per iteration (median of the differences of the logged elapsed
// times, second half of the run, without the profiled iteration) and its kernels and dispatches per iteration
// (--stats), against the PyTorch script's result line.
//
//   node summary.mjs METRICS.jsonl STATS.json PYTORCH-OUTPUT
import * as fs from "node:fs";

const [metricsFile, statsFile, torchFile] = process.argv.slice(2);
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const rows = fs.existsSync(metricsFile) ? fs.readFileSync(metricsFile, "utf8").trim().split("\n").filter(Boolean).map((l) => JSON.parse(l)) : [];
const stats = fs.existsSync(statsFile) ? JSON.parse(fs.readFileSync(statsFile, "utf8")) : null;
const gaps = [];
for (let i = 1; i < rows.length; i++) {
  if (rows[i].step !== rows[i - 1].step + 1 || rows[i].step === stats?.iteration) continue;
  if (rows[i].step > rows.length / 2) gaps.push((rows[i].elapsedSec - rows[i - 1].elapsedSec) * 1000);
}
const line = fs.existsSync(torchFile) ? fs.readFileSync(torchFile, "utf8").split("\n").find((l) => l.startsWith("BENCH_RESULT ")) : undefined;
const torch = line ? JSON.parse(line.slice("BENCH_RESULT ".length)) : null;
const fmt = (x, d = 1) => (Number.isFinite(x) ? x.toFixed(d) : "-");
const webgpuMs = median(gaps);
const torchMs = torch ? median(torch.iterMs) : NaN;
console.log(`| engine | ms/iter median | iterations timed | kernels/iter | dispatches/iter |`);
console.log(`|---|---|---|---|---|`);
console.log(`| ganc, webgpu (${stats?.backend ?? "?"}) | ${fmt(webgpuMs)} | ${gaps.length} | ${stats?.kernels ?? "-"} | ${stats?.dispatches ?? "-"} |`);
console.log(`| PyTorch (${torch?.backend ?? "no result"}) | ${fmt(torchMs)} | ${torch?.iterMs.length ?? 0} | ${torch?.kernelsPerIter ?? "-"} | - |`);
console.log(`ratio ganc webgpu / PyTorch: ${fmt(webgpuMs / torchMs, 2)}`);
