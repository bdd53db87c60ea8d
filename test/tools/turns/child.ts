// A child of test/tools/bench-turns.test.ts: `iterations` busy iterations of `ms` each, taking turns through
// bench/turns.ts, then one JSON line on stdout with each iteration's [start, end] in absolute milliseconds.
import { Turns } from "../../../bench/turns.ts";

const [iterations, ms] = process.argv.slice(2).map(Number) as [number, number];
const now = () => performance.timeOrigin + performance.now();
const turns = new Turns();
const spans: [number, number][] = [];
for (let i = 0; i < iterations; i++) {
  turns.point();
  const t0 = now();
  while (now() - t0 < ms);
  spans.push([t0, now()]);
}
turns.end();
process.stdout.write(JSON.stringify(spans) + "\n");
