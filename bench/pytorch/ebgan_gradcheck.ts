/*
 * The ganc half of bench/pytorch/ebgan_gradcheck.py (see there): compiles specs/ebgan.gan as it is (its own
 * networks), runs one iteration of the trainer on test/variants/fixed-run.ts with the weights, digits and z
 * that `ebgan_gradcheck.py make` wrote, and writes the logged values (ganc.json) and every gradient the
 * steps hand to their optimizers (grad_<step>_<var>.f32, listed in the manifest).
 *
 *   node bin/run-ts.mjs bench/pytorch/ebgan_gradcheck.ts [--dir /tmp/ebgan_gradcheck] [--no-opt] [--backend wasm|cpu]
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { pathToFileURL } from "node:url";
import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-wasm";
import { ALL_PASSES, NO_PASSES } from "../../src/codegen/opt.ts";
import { compileText } from "../../src/compile.ts";
import { selectBackend } from "../../src/runtime/backend.ts";
import { FixedRun, harness, type FixedTensor } from "../../test/variants/fixed-run.ts";

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), "../..");
const argv = process.argv.slice(2);
const opt = (name: string, fallback: string) => (argv.includes(name) ? argv[argv.indexOf(name) + 1]! : fallback);
const dir = path.resolve(opt("--dir", "/tmp/ebgan_gradcheck"));
const backend = opt("--backend", "wasm") as "wasm" | "cpu";
const manifestFile = path.join(dir, "manifest.json");
const manifest = JSON.parse(fs.readFileSync(manifestFile, "utf8")) as Record<string, { file: string; shape: number[] }>;

function read(name: string): FixedTensor {
  const m = manifest[name];
  if (!m) throw new Error(`${name} is not in ${manifestFile}`);
  const buf = fs.readFileSync(path.join(dir, m.file));
  return { data: new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength)), shape: m.shape };
}

await selectBackend(backend, { log: () => {} });
// Inside the repository (its package.json makes the trainer an ES module), as test/variants does.
fs.mkdirSync(path.join(ROOT, ".cache"), { recursive: true });
const work = fs.mkdtempSync(path.join(ROOT, ".cache", "ebgan-gradcheck-"));
const runtime = path.relative(work, path.join(ROOT, "test/variants/fixed-run.ts")).split(path.sep).join("/");
const text = fs.readFileSync(path.join(ROOT, "specs/ebgan.gan"), "utf8");
const r = compileText(text, "specs/ebgan.gan", { runtimeImport: runtime, passes: argv.includes("--no-opt") ? NO_PASSES : ALL_PASSES });
const errors = r.diagnostics.filter((d) => d.severity === "error");
if (errors.length) throw new Error(errors.map((d) => d.message).join("\n"));
const file = path.join(work, "trainer.ts");
fs.writeFileSync(file, r.code!.replace(/\nrt\.runIfMain\(import\.meta\.url, main\);\n$/, "\n"));

// Keep every gradient a step hands to its optimizer (FixedRun's own gradients() drops them).
const grads: Record<string, { data: Float32Array; shape: number[] }> = {};
FixedRun.prototype.gradients = function (step: string, g: tf.NamedTensorMap): void {
  for (const [name, t] of Object.entries(g)) {
    const v = [...this.vars.entries()].find(([, variable]) => variable.name === name);
    if (!v) throw new Error(`gradient of an unknown variable ${name}`);
    grads[`grad/${step}/${v[0]}`] = { data: t.dataSync() as Float32Array, shape: t.shape };
  }
};

harness.setup = {
  batchSize: 64,
  batches: [{ real: read("real"), z: read("z") }],
  variable: (name) => read(name).data,
};
const mod = (await import(pathToFileURL(file).href)) as { main: (argv: string[]) => Promise<number> };
if ((await mod.main([])) !== 0) throw new Error("the trainer failed");
const values: Record<string, number> = {};
for (const rec of harness.last!.records) Object.assign(values, rec.values);
for (const [name, g] of Object.entries(grads)) {
  const f = name.replace(/\//g, "_") + ".f32";
  fs.writeFileSync(path.join(dir, f), Buffer.from(g.data.buffer, g.data.byteOffset, g.data.byteLength));
  manifest[name] = { file: f, shape: g.shape };
}
fs.writeFileSync(manifestFile, JSON.stringify(manifest, null, 1));
fs.writeFileSync(path.join(dir, "ganc.json"), JSON.stringify({ backend: tf.getBackend(), opt: !argv.includes("--no-opt"), values }, null, 1));
fs.rmSync(work, { recursive: true, force: true });
console.log(`ganc (${tf.getBackend()}, ${argv.includes("--no-opt") ? "--no-opt" : "optimized"}): ${JSON.stringify(values)}; ${Object.keys(grads).length} gradients written to ${dir}`);
