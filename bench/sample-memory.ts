/**
 * Peak memory of `ganc sample -n 5000` (not a test): trains the seed GAN (specs/gan.gan, a DCGAN) for one
 * iteration in a temp folder, then samples N images from it under /usr/bin/time and reports the peak RSS.
 * Sampling runs the generator GANC_SAMPLE_CHUNK (default 256) images at a time; `--chunk 100000` measures
 * the old all-at-once path (about 12 GB on a DCGAN: mind the machine).
 *
 *   node bin/run-ts.mjs bench/sample-memory.ts [-- --n 5000 --chunk 256 --spec specs/gan.gan]
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

const args = process.argv.slice(2);
const arg = (name: string, dflt: string) => (args.includes(name) ? args[args.indexOf(name) + 1]! : dflt);
const n = arg("--n", "5000");
const chunk = arg("--chunk", "256");
const root = path.resolve(import.meta.dirname, "..");
const spec = path.resolve(root, arg("--spec", "specs/gan.gan"));
const timeBin = "/usr/bin/time";
if (!fs.existsSync(timeBin)) {
  console.error(`error: ${timeBin} (GNU time) is needed to measure the peak RSS`);
  process.exit(2);
}
const out = fs.mkdtempSync(path.join(os.tmpdir(), "ganc-sample-mem-"));
const ganc = path.join(root, "bin/ganc.mjs");
const train = spawnSync(process.execPath, [ganc, "train", spec, "--out", out, "--steps", "1", "--quiet"], { stdio: "inherit" });
if (train.status !== 0) process.exit(train.status ?? 1);
const t0 = Date.now();
const r = spawnSync(timeBin, ["-f", "peak-rss-kb %M", process.execPath, ganc, "sample", out, "-n", n, "-o", path.join(out, "sample.png")], {
  encoding: "utf8",
  env: { ...process.env, GANC_SAMPLE_CHUNK: chunk },
});
const secs = (Date.now() - t0) / 1000;
const kb = Number(/peak-rss-kb (\d+)/.exec(r.stderr)?.[1]);
if (r.status !== 0 || !Number.isFinite(kb)) {
  process.stderr.write(r.stderr);
  process.exit(r.status || 1);
}
const result = { spec: path.relative(root, spec), n: Number(n), chunk: Number(chunk), peakRssMB: Math.round(kb / 1024), seconds: Math.round(secs * 10) / 10 };
console.log(JSON.stringify(result));
fs.rmSync(out, { recursive: true, force: true });
