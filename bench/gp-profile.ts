/**
 * Where a compiled trainer's iteration goes, kernel by kernel: compiles a spec (optimized, or with
 * --no-opt the layer-by-layer reference), runs 3 iterations with the trainer's --stats (tf.profile of the
 * second) and prints kernels per iteration and the kernels by summed time.
 *
 *   node bin/run-ts.mjs bench/gp-profile.ts [specs/wgan_gp.gan] [--no-opt] [--backend wasm] [--top 20] [--slowest 0] [--json FILE]
 *
 * --slowest N also lists the N slowest single kernels with their shapes and their place in the sequence.
 * Kernel times are wall times: on a loaded machine they include waiting for a CPU.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { pathToFileURL } from "node:url";
import { compileText } from "../src/compile.ts";
import { ROOT } from "./compiled.ts";
import { NO_PASSES } from "../src/codegen/opt.ts";

const argv = process.argv.slice(2);
const flag = (name: string, dflt: string) => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1]! : dflt;
};
const VALUED = ["--backend", "--top", "--slowest", "--json"];
const spec = argv.find((a, i) => !a.startsWith("--") && !VALUED.includes(argv[i - 1] ?? "")) ?? "specs/wgan_gp.gan";
const noOpt = argv.includes("--no-opt");
const top = Number(flag("--top", "20"));
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "ganc-gp-profile-"));
try {
  const r = compileText(fs.readFileSync(path.join(ROOT, spec), "utf8"), spec, { source: spec, runtimeImport: new URL("../src/runtime/index.ts", import.meta.url).href, ...(noOpt ? { passes: NO_PASSES } : {}) });
  if (!r.code) throw new Error(`${spec} does not compile`);
  const file = path.join(tmp, "trainer.mts");
  fs.writeFileSync(file, r.code.replace(`from "@tensorflow/tfjs";`, `from ${JSON.stringify(import.meta.resolve("@tensorflow/tfjs"))};`).replace(/\nrt\.runIfMain\(import\.meta\.url, main\);\n$/, "\n"));
  const mod = (await import(pathToFileURL(file).href)) as { main: (a: string[]) => Promise<number> };
  const out = path.join(tmp, "stats.json");
  const code = await mod.main(["--out", path.join(tmp, "run"), "--steps", "3", "--quiet", "--backend", flag("--backend", "wasm"), "--histogram-every", "0", "--stats", out]);
  if (code !== 0) throw new Error(`trainer exited with ${code}`);
  const s = JSON.parse(fs.readFileSync(out, "utf8")) as { kernels: number; wallMs: number; byKernel: Record<string, { count: number; ms: number }>; sequence: string[] };
  const rows = Object.entries(s.byKernel).sort((a, b) => b[1].ms - a[1].ms);
  const total = rows.reduce((t, [, v]) => t + v.ms, 0);
  console.log(`${spec}${noOpt ? " (--no-opt)" : ""}: ${s.kernels} kernels, ${total.toFixed(0)} ms of summed kernel time, ${s.wallMs.toFixed(0)} ms wall while profiled; load average ${os.loadavg().map((x) => x.toFixed(1)).join(" ")}`);
  for (const [k, v] of rows.slice(0, top)) console.log(`  ${k.padEnd(28)} ${String(v.count).padStart(5)}  ${v.ms.toFixed(1).padStart(8)} ms  ${((100 * v.ms) / total).toFixed(1).padStart(5)}%`);
  if (argv.includes("--json")) fs.copyFileSync(out, flag("--json", "stats.json"));
  const slowest = Number(flag("--slowest", "0"));
  if (slowest > 0) {
    const ms = (line: string) => Number(/ ([\d.]+)$/.exec(line)?.[1] ?? 0);
    console.log(`slowest kernels (index in the iteration's ${s.sequence.length}):`);
    for (const [i, line] of s.sequence.map((l, i) => [i, l] as const).sort((a, b) => ms(b[1]) - ms(a[1])).slice(0, slowest)) console.log(`  #${i} ${line}`);
  }
} finally {
  fs.rmSync(tmp, { recursive: true, force: true });
}
process.exit(0);
