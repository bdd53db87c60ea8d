/**
 * How long the ganc command takes to start: CPU time (user + sys) of 20 cold starts each of
 * `ganc --version`, `ganc check specs/gan.gan` and `ganc compile specs/gan.gan`, against the targets
 * of 150, 300 and 400 ms. CPU time, not wall time: the machines this runs on are shared. Then, without a
 * target, the smallest trainer start: `ganc train` of ring8 for one iteration (compile, load tfjs and the
 * runtime, pick the backend, one step, a checkpoint and a sample grid) into a new folder each time.
 *
 *   node bin/run-ts.mjs bench/startup.ts [--runs N] [--from-source]
 *
 * Each start is measured by a POSIX shell's `times` (the CPU time of the shell's finished children; 10 ms
 * steps with dash). The medians are compared with the targets; exit 1 when one is over.
 * --from-source measures the TypeScript sources through tsx (GANC_FROM_SOURCE=1) instead of dist/.
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { freshBuild } from "../bin/fresh.mjs";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const argv = process.argv.slice(2);
const runs = Number(argv[argv.indexOf("--runs") + 1] || 20) || 20;
const fromSource = argv.includes("--from-source");
/** The training row's run folder (--fresh each time), removed at exit. */
const runDir = fs.mkdtempSync(path.join(os.tmpdir(), "ganc-startup-"));
process.on("exit", () => fs.rmSync(runDir, { recursive: true, force: true }));
const cases: [string, string[], number | null][] = [
  // What node itself costs to start and exit on this machine, for scale.
  ["node -e 0", ["-e", "0"], null],
  ["ganc --version", ["bin/ganc.mjs", "--version"], 150],
  ["ganc check specs/gan.gan", ["bin/ganc.mjs", "check", "specs/gan.gan"], 300],
  ["ganc compile specs/gan.gan", ["bin/ganc.mjs", "compile", "specs/gan.gan"], 400],
  ["ganc train ring8, 1 iteration", ["bin/ganc.mjs", "train", "specs/ring8.gan", "--steps", "1", "--quiet", "--fresh", "--out", path.join(runDir, "run")], null],
];

/** CPU seconds of one run of node with these arguments (bin/ganc.mjs and its own). */
function cpuOf(args: string[]): number {
  const env = { ...process.env, NO_COLOR: "1", ...(fromSource ? { GANC_FROM_SOURCE: "1" } : {}) };
  const r = spawnSync("sh", ["-c", '"$@" >/dev/null 2>&1; s=$?; times; exit $s', "sh", process.execPath, ...args], { cwd: root, env, encoding: "utf8" });
  if (r.status !== 0) throw new Error(`node ${args.join(" ")} exited with ${r.status}`);
  // `times`: the shell's own user and sys time, then its children's, e.g. "0m0.120000s 0m0.030000s".
  const line = r.stdout.trim().split("\n").at(-1)!;
  const secs = [...line.matchAll(/(\d+)m([\d.]+)s/g)].map((m) => Number(m[1]) * 60 + Number(m[2]));
  if (secs.length !== 2) throw new Error(`cannot read the shell's times: ${JSON.stringify(r.stdout)}`);
  return secs[0]! + secs[1]!;
}

if (!fromSource && !freshBuild(root)) {
  console.error("dist/ is missing or older than src/: run `npm run build` first (or pass --from-source)");
  process.exit(2);
}
console.log(`startup CPU time (user+sys) over ${runs} cold starts, ${fromSource ? "from the TypeScript sources (tsx)" : "dist/ (compiled)"}; node ${process.version}`);
let failed = false;
for (const [name, args, target] of cases) {
  const ms = Array.from({ length: runs }, () => cpuOf(args) * 1000).sort((a, b) => a - b);
  const median = ms[Math.floor(ms.length / 2)]!;
  const mean = ms.reduce((a, b) => a + b, 0) / ms.length;
  const ok = target === null || median < target;
  failed ||= !ok;
  console.log(`  ${name.padEnd(30)} median ${median.toFixed(0).padStart(4)} ms  mean ${mean.toFixed(0).padStart(4)}  min ${ms[0]!.toFixed(0).padStart(4)}  max ${ms.at(-1)!.toFixed(0).padStart(4)}  ${target === null ? "" : `target < ${target} ms  ${ok ? "ok" : "OVER"}`}`);
}
process.exitCode = failed ? 1 : 0;
