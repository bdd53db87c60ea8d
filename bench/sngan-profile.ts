/**
 * Where an iteration of the sngan_resnet row spends its kernels: tf.profile of the hand-written tfjs
 * trainer's second iteration (kernel count, and per kernel name its count and summed kernel time), and the
 * scaled spec the compiled engine runs, for `ganc compile --stats`.
 *
 *   node bin/run-ts.mjs bench/sngan-profile.ts [--batch 16] [--width 0.25] [--backend auto] [--spec-out FILE]
 *   node bin/ganc.mjs compile FILE --stats -o /tmp/sngan.mts     # the compiled trainer's kernel count
 */
import * as fs from "node:fs";
import * as path from "node:path";
import * as tf from "@tensorflow/tfjs";
import { selectBackend, type BackendChoice } from "../src/runtime/backend.ts";
import { makeMnistColor } from "../src/data/mnist-color.ts";
import { ROOT } from "./compiled.ts";
import { MODELS, scaleLabel, scaleSnganSpec } from "./models.ts";
import { setup } from "./handwritten/sngan-resnet.ts";

const opts: Record<string, string> = {};
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i += 2) opts[argv[i]!.replace(/^--/, "")] = argv[i + 1]!;
const reduced = MODELS.find((m) => m.id === "sngan_resnet")!.scale!.reduced;
const scale = { batch: Number(opts.batch ?? reduced.batch), width: Number(opts.width ?? reduced.width) };

if (opts["spec-out"]) {
  fs.writeFileSync(opts["spec-out"], scaleSnganSpec(fs.readFileSync(path.join(ROOT, "specs/sngan_resnet.gan"), "utf8"), scale));
  console.log(`wrote ${opts["spec-out"]} (${scaleLabel(scale)})`);
}
const info = await selectBackend((opts.backend ?? "auto") as BackendChoice, { log: () => {} });
const { bytes } = makeMnistColor(1000);
const trainer = await setup(scale.batch, { images: Float32Array.from(bytes, (b) => b / 255), width: scale.width });
trainer.iterate();
const profile = await tf.profile(() => trainer.iterate());
const byName = new Map<string, { n: number; ms: number }>();
for (const k of profile.kernels) {
  const e = byName.get(k.name) ?? { n: 0, ms: 0 };
  e.n++;
  e.ms += Number(k.kernelTimeMs) || 0;
  byName.set(k.name, e);
}
const total = [...byName.values()].reduce((s, e) => s + e.ms, 0);
console.log(`hand-written sngan_resnet, ${scaleLabel(scale)}, ${info.detail}`);
console.log(`kernels per iteration: ${profile.kernels.length}; summed kernel time ${total.toFixed(0)} ms`);
for (const [name, e] of [...byName.entries()].sort((a, b) => b[1].ms - a[1].ms).slice(0, 12)) console.log(`  ${name}: ${e.n} kernels, ${e.ms.toFixed(0)} ms`);
trainer.dispose();
