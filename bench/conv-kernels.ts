/**
 * The BLAS convolution kernels (src/runtime/kernels/blas_kernels.ts) of this tree against those of an
 * older commit, called directly on the wasm backend with the native BLAS, on the convolutions of the
 * reduced sngan_resnet (batch 16, G 64 channels, D 32: bench/models.ts, scaleSnganSpec). Per shape and
 * kernel (forward Conv2D, input gradient Conv2DBackpropInput, filter gradient Conv2DBackpropFilter), the
 * old and the new kernel run alternately in rounds (old, new, old, new, ...); printed per call: the
 * median wall time, the CPU time of all threads (process.cpuUsage over the round), GFLOP/s on the
 * wall time, and whether the two give the same bits (else their largest difference relative to the
 * result's scale).
 *
 *   nice node bin/run-ts.mjs bench/conv-kernels.ts [--old <commit>] [--rounds 4] [--only <substring>] [--no-dnnl]
 *
 * The old kernels are the file at <commit> (default 142733b, the tree before the tiled kernels),
 * written to .cache/conv-kernels/ with its imports pointed at this tree's modules: both sides use
 * this tree's ganc.wat module (im2col_rows), so compare wasm changes against a commit from before it.
 */
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { pathToFileURL } from "node:url";
import * as tf from "@tensorflow/tfjs";
import { selectBackend } from "../src/runtime/backend.ts";
import { loadBlas, loadDnnl, type Blas, type Dnnl } from "../src/runtime/kernels/index.ts";
import * as current from "../src/runtime/kernels/blas_kernels.ts";
import { ROOT } from "./compiled.ts";

const argv = process.argv.slice(2);
const opt = (name: string, dflt: string): string => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 && argv[i + 1] !== undefined ? argv[i + 1]! : dflt;
};
const oldRev = opt("old", "142733b");
const rounds = Number(opt("rounds", "4"));
const only = opt("only", "");

type KernelModule = typeof current;
async function loadOld(rev: string): Promise<KernelModule> {
  const text = execFileSync("git", ["show", `${rev}:src/runtime/kernels/blas_kernels.ts`], { cwd: ROOT, encoding: "utf8" });
  const dir = path.join(ROOT, ".cache", "conv-kernels");
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `blas_kernels_${rev.replace(/[^\w.-]/g, "_")}.ts`);
  fs.writeFileSync(file, text.replace(/from "\.\/([^"]+)"/g, 'from "../../src/runtime/kernels/$1"'));
  return (await import(pathToFileURL(file).href)) as KernelModule;
}

const found = loadBlas();
if (!found.ok) {
  console.error(`no BLAS: ${found.reason}`);
  process.exit(1);
}
const blas: Blas = found.blas;
const info = await selectBackend("wasm", { log: () => {} });
const backend = tf.backend();
const old = await loadOld(oldRev);

const noFallback: tf.KernelFunc = () => {
  throw new Error("fallback reached");
};
type Kind = "fwd" | "dx" | "dW";
// The new kernels run their convolutions on oneDNN where it loads, unless --no-dnnl (the old ones are given
// it too, and ignore it if their commit predates it: compare --old <commit> --no-dnnl for the BLAS paths alone).
const dnnlFound = argv.includes("--no-dnnl") ? null : loadDnnl();
const dnnl: Dnnl | null = dnnlFound?.ok ? dnnlFound.dnnl : null;
if (dnnlFound && !dnnlFound.ok) console.error(`no oneDNN: ${dnnlFound.reason}`);
function kernels(m: KernelModule, withDnnl: Dnnl | null): Record<Kind, tf.KernelFunc> {
  return {
    fwd: m.makeBlasConv2D(blas, noFallback, withDnnl) as unknown as tf.KernelFunc,
    dx: m.makeBlasConv2DBackpropInput(blas, noFallback, withDnnl) as unknown as tf.KernelFunc,
    dW: m.makeBlasConv2DBackpropFilter(blas, noFallback, withDnnl) as unknown as tf.KernelFunc,
  };
}
const engines = { old: kernels(old, null), new: kernels(current, dnnl) };

interface Shape {
  label: string;
  x: [number, number, number, number];
  k: number;
  cout: number;
}
// sngan_resnet reduced: every conv is stride 1, 'same'; G 64 channels at 8, 16, 32; D 32 channels at 32, 16, 8.
const shapes: Shape[] = [
  { label: "G 3x3 64->64 @32", x: [16, 32, 32, 64], k: 3, cout: 64 },
  { label: "G 3x3 64->64 @16", x: [16, 16, 16, 64], k: 3, cout: 64 },
  { label: "G 3x3 64->64 @8", x: [16, 8, 8, 64], k: 3, cout: 64 },
  { label: "G 1x1 64->64 @32", x: [16, 32, 32, 64], k: 1, cout: 64 },
  { label: "G toRGB 3x3 64->3 @32", x: [16, 32, 32, 64], k: 3, cout: 3 },
  { label: "D 3x3 3->32 @32", x: [16, 32, 32, 3], k: 3, cout: 32 },
  { label: "D 3x3 32->32 @32", x: [16, 32, 32, 32], k: 3, cout: 32 },
  { label: "D 1x1 3->32 @16", x: [16, 16, 16, 3], k: 1, cout: 32 },
  { label: "D 3x3 32->32 @16", x: [16, 16, 16, 32], k: 3, cout: 32 },
  { label: "D 1x1 32->32 @16", x: [16, 16, 16, 32], k: 1, cout: 32 },
  { label: "D 3x3 32->32 @8", x: [16, 8, 8, 32], k: 3, cout: 32 },
];

function rand(n: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.random() * 2 - 1;
  return out;
}

function call(f: tf.KernelFunc, inputs: Record<string, tf.TensorInfo>, attrs: tf.NamedAttrMap): tf.TensorInfo {
  return f({ inputs, backend, attrs }) as tf.TensorInfo;
}

function compare(a: Float32Array, b: Float32Array): string {
  if (Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength))) return "same bits";
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs(a[i]! - b[i]!));
    scale = Math.max(scale, Math.abs(a[i]!));
  }
  return `rel. diff ${(diff / scale).toExponential(1)}`;
}

const load = os.loadavg();
console.log(`${blas.name} (${blas.threads ?? "?"} threads), ${info.detail}`);
console.log(`old: ${oldRev}; new: this tree; ${rounds} rounds, alternating; load average ${load.map((l) => l.toFixed(1)).join(" ")} at start`);
console.log("");
console.log("| conv | kernel | old ms | new ms | old CPU ms | new CPU ms | old GFLOP/s | new GFLOP/s | results |");
console.log("|---|---|---:|---:|---:|---:|---:|---:|---|");
for (const s of shapes) {
  if (only !== "" && !s.label.includes(only)) continue;
  const [n, h, w, cin] = s.x;
  const attrs = { strides: [1, 1], pad: "same", dataFormat: "NHWC", dilations: [1, 1], dimRoundingMode: undefined } as unknown as tf.NamedAttrMap;
  const filterShape = [s.k, s.k, cin, s.cout];
  const x = tf.tensor(rand(n * h * w * cin), s.x);
  const filter = tf.tensor(rand(s.k * s.k * cin * s.cout), filterShape);
  const dy = tf.tensor(rand(n * h * w * s.cout), [n, h, w, s.cout]);
  const flops = 2 * n * h * w * s.k * s.k * cin * s.cout;
  const runs: Record<Kind, [Record<string, tf.TensorInfo>, tf.NamedAttrMap]> = {
    fwd: [{ x, filter }, attrs],
    dx: [{ dy, filter }, { ...attrs, inputShape: s.x }],
    dW: [{ x, dy }, { ...attrs, filterShape }],
  };
  for (const kind of ["fwd", "dx", "dW"] as const) {
    const [inputs, a] = runs[kind];
    const outputs: Partial<Record<"old" | "new", Float32Array>> = {};
    const wall: Record<"old" | "new", number[]> = { old: [], new: [] };
    const cpu: Record<"old" | "new", number> = { old: 0, new: 0 };
    const calls: Record<"old" | "new", number> = { old: 0, new: 0 };
    // about 0.3 s of arithmetic per round at 100 GFLOP/s, at least 3 calls
    const reps = Math.max(3, Math.min(200, Math.round(3e10 / flops)));
    for (const which of ["old", "new"] as const) {
      const out = call(engines[which][kind], inputs, a); // warm-up, and the result compared
      outputs[which] = (backend.readSync(out.dataId) as Float32Array).slice();
      backend.disposeData(out.dataId);
    }
    for (let r = 0; r < rounds; r++) {
      for (const which of ["old", "new"] as const) {
        const c0 = process.cpuUsage();
        for (let i = 0; i < reps; i++) {
          const t0 = performance.now();
          const out = call(engines[which][kind], inputs, a);
          wall[which].push(performance.now() - t0);
          backend.disposeData(out.dataId);
        }
        const c = process.cpuUsage(c0);
        cpu[which] += (c.user + c.system) / 1e3;
        calls[which] += reps;
      }
    }
    const median = (v: number[]) => [...v].sort((p, q) => p - q)[v.length >> 1]!;
    const ms = { old: median(wall.old), new: median(wall.new) };
    const cpuMs = { old: cpu.old / calls.old, new: cpu.new / calls.new };
    const gf = (t: number) => (flops / t / 1e6).toFixed(0);
    console.log(
      `| ${s.label} | ${kind} | ${ms.old.toFixed(2)} | ${ms.new.toFixed(2)} | ${cpuMs.old.toFixed(2)} | ${cpuMs.new.toFixed(2)} | ${gf(ms.old)} | ${gf(ms.new)} | ${compare(outputs.old!, outputs.new!)} |`,
    );
  }
  tf.dispose([x, filter, dy]);
}
console.log("");
console.log(`load average ${os.loadavg().map((l) => l.toFixed(1)).join(" ")} at the end`);
