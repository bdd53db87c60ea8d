import * as fs from "node:fs";
import * as path from "node:path";
import * as tf from "@tensorflow/tfjs";
import { compileText } from "../compile.ts";
import "../parser/yaml/load.ts"; // a run folder's spec may be in either form
import type { ExprNode, LayerInfo, NetIR, ProgramIR } from "../ir/types.ts";
import { readSettings } from "../runtime/settings.ts";
import { selectBackend, type BackendChoice } from "../runtime/backend.ts";
import { CheckpointError, loadLatestCheckpoint } from "../runtime/checkpoint.ts";
import { oneHot } from "../runtime/data.ts";
import { writeFileAtomic } from "../runtime/fsutil.ts";
import { spectralNorm } from "../runtime/ops.ts";
import { Rng } from "../runtime/rng.ts";
import { findSpec, RunFolderError, trainerFile } from "./runfolder.ts";
import { layerModule } from "../layers/index.ts";
import { CUSTOM_LAYERS_FILE, CUSTOM_LAYERS_SOURCE, customLayer, usesCustomLayers } from "./export-layers.ts";

/**
 * `ganc export`: the generator of a run's newest checkpoint as a TensorFlow.js layers model (model.json
 * plus binary weight shards) that `tf.loadLayersModel` loads in a browser or in Node without ganc.
 *
 * The model is rebuilt from the spec's checked IR, layer for layer, as Keras layers with the same
 * arithmetic the trainer's inference mode uses (batch norm on the moving statistics, dropout off,
 * spectral norm folded into the kernels), and given the checkpoint's weights.
 */

/** What feeds one input of the exported model. */
export type ExportInput =
  | { name: string; kind: "noise"; dist: "uniform"; low: number; high: number; shape: number[] }
  | { name: string; kind: "noise"; dist: "normal"; mean: number; std: number; shape: number[] }
  | { name: string; kind: "noise"; dist: "categorical"; classes: number; shape: number[] }
  | { name: string; kind: "label"; classes: number; shape: number[] };

export interface ExportMeta {
  format: "ganc-generator/1";
  spec: string;
  net: string;
  step: number;
  inputs: ExportInput[];
  /** The values' range where the last activation bounds it (sigmoid [0, 1], tanh [-1, 1]); null: unbounded (a linear output). */
  output: { shape: number[]; range: [number, number] | null };
  /**
   * A style-based generator (samples = G(styles(truncate(M(z)), n))): the mapping net, the stack's size, and
   * the truncation trick the model computes, w_avg + psi (w - w_avg), with the run's w_avg (null: no truncate()).
   */
  styles?: { mapping: string; count: number; truncation: { psi: number; wAvg: number[] } | null };
}

const SHARD_BYTES = 4 * 1024 * 1024;

/** The sampled values as `scale * G(...) + offset`: the net application's node and the folded constants. */
export interface SamplesAffine {
  apply: number;
  scale: number;
  offset: number;
}

/**
 * Folds the `samples` expression into one net application and a constant scale and offset
 * (`0.5 * G(z) + 0.5`, `(G(z) - c) / d`, through named values). Anything else, such as a function, a
 * second net application, or a non-constant operand, is refused with the thing that cannot be exported.
 */
export function foldSamples(p: ProgramIR, root = p.train.samples): SamplesAffine {
  type V = { c: number } | SamplesAffine;
  const what = (id: number): string => {
    const n = p.nodes[id]!;
    const label = n.name ? ` (${n.name})` : "";
    switch (n.op) {
      case "call":
        return `the function ${n.fn}(...)${label}`;
      case "apply":
        return `${n.net}(...)${label}`;
      case "noise":
        return `the noise ${n.noise}`;
      case "state":
        return `the state ${n.state}`;
      case "data":
        return `the data ${p.data.name}`;
      case "tap":
        return `the tap .${n.tap}${label}`;
      default:
        return `${n.op}${label}`;
    }
  };
  const refuse = (why: string): never => {
    throw new RunFolderError(`export needs samples = a * G(...) + b with G a net and a, b constants; ${why}`);
  };
  const walk = (id: number): V => {
    const n = p.nodes[id]!;
    switch (n.op) {
      case "const":
        return { c: n.value };
      case "apply":
        return { apply: id, scale: 1, offset: 0 };
      case "neg": {
        const a = walk(n.a);
        return "c" in a ? { c: -a.c } : { apply: a.apply, scale: -a.scale, offset: -a.offset };
      }
      case "binary": {
        const a = walk(n.a);
        const b = walk(n.b);
        if ("c" in a && "c" in b) return { c: n.o === "+" ? a.c + b.c : n.o === "-" ? a.c - b.c : n.o === "*" ? a.c * b.c : a.c / b.c };
        if (!("c" in a) && !("c" in b)) return refuse(`this spec's samples combine two net applications, ${what(a.apply)} and ${what(b.apply)}, with ${n.o}`);
        if (n.o === "+" || n.o === "-") {
          const sign = n.o === "-" ? -1 : 1;
          if ("c" in a) {
            const g = b as SamplesAffine;
            return { apply: g.apply, scale: sign * g.scale, offset: a.c + sign * g.offset };
          }
          return { apply: a.apply, scale: a.scale, offset: a.offset + sign * (b as { c: number }).c };
        }
        if (n.o === "*") {
          const [k, g] = "c" in a ? [a.c, b as SamplesAffine] : [(b as { c: number }).c, a];
          return { apply: g.apply, scale: k * g.scale, offset: k * g.offset };
        }
        if ("c" in a) return refuse(`this spec's samples divide by ${what((b as SamplesAffine).apply)}`);
        const d = (b as { c: number }).c;
        if (d === 0) return refuse(`this spec's samples divide by 0`);
        return { apply: a.apply, scale: a.scale / d, offset: a.offset / d };
      }
      default:
        return refuse(`this spec's samples use ${what(id)}, which cannot be exported`);
    }
  };
  const v = walk(root);
  if ("c" in v) return refuse(`this spec's samples are the constant ${v.c}`);
  return v;
}

/** A style-based generator's front: G's input is styles(w, n), w = M(...) or truncate(M(...)). */
export interface StyleChain {
  mapping: NetIR;
  /** The mapping net's application node. */
  apply: number;
  count: number;
  /** Whether w goes through truncate(). */
  truncate: boolean;
  /** The track_avg variable truncate() reads. */
  average: string | null;
}

/**
 * The generator net, the sources of its inputs (node ids) and the affine map after it, from the `samples`
 * expression; a generator fed `styles(truncate(M(z)), n)` (or `styles(M(z), n)`) is exported with M in front.
 */
export function generatorOf(p: ProgramIR): { net: NetIR; inputs: ExportInput[]; affine: SamplesAffine; sources: number[]; chain: StyleChain | null } {
  const affine = foldSamples(p);
  const node = p.nodes[affine.apply]! as ExprNode & { op: "apply" };
  const net = p.nets.find((n) => n.name === node.net)!;
  let chain: StyleChain | null = null;
  let front: { net: NetIR; args: readonly number[] } = { net, args: node.args };
  const first = p.nodes[node.args[0]!]!;
  if (node.args.length === 1 && first.op === "call" && first.fn === "styles") {
    let w = p.nodes[first.args[0]!]!;
    const truncated = w.op === "call" && w.fn === "truncate";
    if (truncated) w = p.nodes[(w as ExprNode & { op: "call" }).args[0]!]!;
    if (w.op !== "apply") throw new RunFolderError(`export: the style stack of ${net.name} in the samples expression must be styles(M(z), n) or styles(truncate(M(z)), n) with M a net`);
    const mapping = p.nets.find((n) => n.name === w.net)!;
    const count = (p.nodes[first.args[1]!] as { value?: number }).value!;
    const last = mapping.layers[mapping.layers.length - 1]?.layer;
    chain = { mapping, apply: w.id, count, truncate: truncated, average: last?.op === "track_avg" ? last.avg : null };
    front = { net: mapping, args: w.args };
  }
  const inputs = front.args.map((a, i): ExportInput => {
    const arg = p.nodes[a]!;
    const param = front.net.params[i]!;
    if (arg.op === "noise") {
      const nz = p.noise.find((n) => n.name === arg.noise)!;
      const shape = [...nz.shape];
      if (nz.dist === "uniform") return { name: param.name, kind: "noise", dist: "uniform", low: nz.a, high: nz.b, shape };
      if (nz.dist === "normal") return { name: param.name, kind: "noise", dist: "normal", mean: nz.a, std: nz.b, shape };
      return { name: param.name, kind: "noise", dist: "categorical", classes: nz.classes, shape };
    }
    if (arg.op === "label") return { name: param.name, kind: "label", classes: p.data.numClasses, shape: [p.data.numClasses] };
    throw new RunFolderError(`export: input ${param.name} of ${front.net.name} in the samples expression must be a noise or the data labels`);
  });
  return { net, inputs, affine, sources: [...front.args], chain };
}

/** The model with `scale * x + offset` after its output (a Rescaling layer, plain tfjs); the model itself when the map is the identity. */
export function withAffine(model: tf.LayersModel, scale: number, offset: number): tf.LayersModel {
  if (scale === 1 && offset === 0) return model;
  const y = tf.layers.rescaling({ scale, offset, name: "samples_affine" }).apply(model.outputs[0]!) as tf.SymbolicTensor;
  return tf.model({ inputs: model.inputs, outputs: y, name: model.name });
}

/** A range under `scale * x + offset` (a negative scale swaps the ends). */
export function affineRange(range: [number, number] | null, scale: number, offset: number): [number, number] | null {
  if (!range) return null;
  const [a, b] = [scale * range[0] + offset, scale * range[1] + offset];
  return a <= b ? [a, b] : [b, a];
}

/** Keras layers for the net, with the checkpoint's weights set. */
export function buildGenerator(net: NetIR, take: (name: string) => tf.Tensor): tf.LayersModel {
  const inputs = net.params.map((q) => tf.input({ shape: [...q.shape], name: q.name }));
  const pending: [tf.layers.Layer, tf.Tensor[]][] = [];
  const out = netLayers(net, inputs, take, "", pending);
  const model = tf.model({ inputs, outputs: out, name: net.name });
  setWeights(pending);
  return model;
}

function setWeights(pending: [tf.layers.Layer, tf.Tensor[]][]): void {
  for (const [layer, weights] of pending) {
    layer.setWeights(weights);
    for (const w of weights) w.dispose();
  }
}

/**
 * A style-based generator as one model: the mapping net M on the noise, the truncation trick (the custom
 * layer GancTruncate, w_avg + psi (w - w_avg) with the run's w_avg, the trainer's arithmetic), the stack of
 * `count` styles (Keras's RepeatVector), and G. Layers are named by net (`M_dense1`, `G_style1`).
 */
export function buildStyleGenerator(net: NetIR, chain: StyleChain, psi: number, take: (name: string) => tf.Tensor): tf.LayersModel {
  const inputs = chain.mapping.params.map((q) => tf.input({ shape: [...q.shape], name: q.name }));
  const pending: [tf.layers.Layer, tf.Tensor[]][] = [];
  let w = netLayers(chain.mapping, inputs, take, `${chain.mapping.name}_`, pending);
  if (chain.truncate) {
    const layer = customLayer(tf, "GancTruncate", { psi, name: "truncation" });
    w = layer.apply(w) as tf.SymbolicTensor;
    pending.push([layer, [take(chain.average!)]]);
  }
  const ws = tf.layers.repeatVector({ n: chain.count, name: "styles" }).apply(w) as tf.SymbolicTensor;
  const out = netLayers(net, [ws], take, `${net.name}_`, pending);
  const model = tf.model({ inputs, outputs: out, name: net.name });
  setWeights(pending);
  return model;
}

/** The net's layers applied to `inputs`, their weights queued on `pending`; Keras names prefixed with `prefix`. */
function netLayers(net: NetIR, inputs: tf.SymbolicTensor[], take: (name: string) => tf.Tensor, prefix: string, pending: [tf.layers.Layer, tf.Tensor[]][]): tf.SymbolicTensor {
  const byName = new Map(net.params.map((q, i) => [q.name, inputs[i]!]));
  let h = inputs[0]!;
  // Outputs named with `-> name`, which joins and `from` read.
  const values = new Map<string, tf.SymbolicTensor>();
  const apply = (layer: tf.layers.Layer, x: tf.SymbolicTensor | tf.SymbolicTensor[], weights?: tf.Tensor[]): tf.SymbolicTensor => {
    const y = layer.apply(x) as tf.SymbolicTensor;
    if (weights) pending.push([layer, weights]);
    return y;
  };
  const kernelOf = (k: string, sn: string | null): tf.Tensor => (sn ? tf.tidy(() => spectralNorm(take(k), tf.variable(take(sn), false), "infer")) : take(k));
  for (const info of net.layers) {
    const l = info.layer;
    const name = prefix + info.name.replace(/\//g, "_"); // Keras names have no '/': up2/conv1 is up2_conv1
    const y = layerModule(l).export(l, {
      tf,
      net,
      info,
      name,
      h,
      apply,
      take,
      kernelOf,
      input: (x) => values.get(x) ?? byName.get(x),
      custom: (className, config) => customLayer(tf, className, config),
      fail: (msg) => {
        throw new RunFolderError(msg);
      },
    });
    if (y !== null) {
      h = y;
      checkShape(net, info, h);
    } // else the identity at inference
    if (info.tap) values.set(info.tap, h);
    for (const v of info.values ?? []) values.set(v, h);
  }
  return h;
}

function checkShape(net: NetIR, info: LayerInfo, h: tf.SymbolicTensor): void {
  const got = h.shape.slice(1).join(",");
  if (got !== info.outShape.join(",")) {
    throw new RunFolderError(`export: ${net.name}.${info.name} gives [${got}] as a Keras layer but [${info.outShape.join(", ")}] in ganc; this layer cannot be exported`);
  }
}

/** The range the generator's last activation confines its values to; layers that only move values (reshape, ...) are looked through. */
export function outputRange(net: NetIR): [number, number] | null {
  for (let i = net.layers.length - 1; i >= 0; i--) {
    const range = layerModule(net.layers[i]!.layer).range;
    if (range === "through") continue;
    return range ? [range[0], range[1]] : null;
  }
  return null;
}

/**
 * The fixed sample noise of the trainer (Run.makeFixedBatch): labels cycling through the classes,
 * categorical codes cycling, other noise from the generator seeded with the run's seed (`seed`: the run
 * folder's settings.json, else the spec's).
 */
export function fixedInputs(p: ProgramIR, inputs: ExportInput[], n: number, seed = p.train.seed, sources: readonly number[] = (p.nodes[foldSamples(p).apply] as { args: readonly number[] }).args): Record<string, tf.Tensor> {
  const rng = new Rng((seed ^ 0x5a4d1e) >>> 0);
  const values = new Map<string, tf.Tensor>();
  const cycle = (k: number) => new Int32Array(n).map((_, i) => i % k);
  values.set("label", tf.tensor(oneHot(cycle(p.data.numClasses), p.data.numClasses), [n, p.data.numClasses]));
  for (const nz of p.noise) {
    if (nz.dist === "categorical") {
      values.set(`noise:${nz.name}`, tf.tensor(oneHot(cycle(nz.classes), nz.classes), [n, nz.classes]));
      continue;
    }
    const buf = new Float32Array(n * nz.shape.reduce((a, b) => a * b, 1));
    if (nz.dist === "uniform") rng.fillUniform(buf, nz.a, nz.b);
    else rng.fillNormal(buf, nz.a, nz.b);
    values.set(`noise:${nz.name}`, tf.tensor(buf, [n, ...nz.shape]));
  }
  const out: Record<string, tf.Tensor> = {};
  inputs.forEach((inp, i) => {
    const arg = p.nodes[sources[i]!]!;
    out[inp.name] = values.get(arg.op === "noise" ? `noise:${arg.noise}` : "label")!;
  });
  const used = new Set(Object.values(out));
  for (const t of values.values()) if (!used.has(t)) t.dispose();
  return out;
}

export interface ExportResult {
  dir: string;
  files: string[];
  meta: ExportMeta;
}

export async function exportRun(runDir: string, opts: { out?: string; backend?: BackendChoice; samples?: number; truncation?: number; log?: (l: string) => void } = {}): Promise<ExportResult> {
  trainerFile(runDir);
  const { file, text } = findSpec(runDir);
  const compiled = compileText(text, file);
  if (!compiled.program) throw new RunFolderError(`the spec ${file} no longer checks`);
  const p = compiled.program;
  const { net, inputs, affine, sources, chain } = generatorOf(p);
  if (opts.truncation !== undefined && !chain?.truncate) throw new RunFolderError(`--truncation ${opts.truncation}: this spec's samples do not use truncate(), so psi would change nothing`);
  const psi = opts.truncation ?? 1;
  const found = loadLatestCheckpoint(path.join(runDir, "checkpoints"), (f, why) => opts.log?.(`skipping checkpoint ${f}: ${why}`));
  if (!found) throw new CheckpointError(path.join(runDir, "checkpoints"), "no checkpoint to export: train first");
  // The run's own backend unless told otherwise: backends differ in the last bits of their results.
  await selectBackend(opts.backend ?? readSettings(runDir)?.backend ?? "auto", { log: opts.log ?? (() => {}) });
  const byName = new Map(found.payload.tensors.map((t) => [t.name, t]));
  // A run with `ema=` samples with the averaged weights (`<name>/ema`), and so does its export.
  const take = (name: string) => {
    const t = byName.get(`var:${name}/ema`) ?? byName.get(`var:${name}`);
    if (!t) throw new CheckpointError(found.file, `missing tensor ${name}`);
    return tf.tensor(t.data, t.shape, t.dtype);
  };
  // samples = a * G(...) + b (dcgan's `0.5 * fake + 0.5`): the map is the model's last layer.
  const model = withAffine(chain ? buildStyleGenerator(net, chain, psi, take) : buildGenerator(net, take), affine.scale, affine.offset);
  const range = affineRange(outputRange(net), affine.scale, affine.offset);
  const meta: ExportMeta = { format: "ganc-generator/1", spec: p.name, net: net.name, step: found.step, inputs, output: { shape: [...net.outShape], range } };
  if (chain) {
    const avg = chain.truncate ? take(chain.average!) : null;
    const wAvg = avg ? Array.from(await avg.data()) : null;
    avg?.dispose();
    meta.styles = { mapping: chain.mapping.name, count: chain.count, truncation: wAvg ? { psi, wAvg } : null };
  }
  model.setUserDefinedMetadata({ ganc: meta });

  const dir = opts.out ?? path.join(runDir, "export");
  fs.mkdirSync(dir, { recursive: true });
  const files: string[] = [];
  await model.save(
    tf.io.withSaveHandler(async (art) => {
      const data = new Uint8Array(tf.io.CompositeArrayBuffer.join(art.weightData!));
      const count = Math.max(1, Math.ceil(data.length / SHARD_BYTES));
      const paths: string[] = [];
      for (let i = 0; i < count; i++) {
        const name = `group1-shard${i + 1}of${count}.bin`;
        writeFileAtomic(path.join(dir, name), data.subarray(i * SHARD_BYTES, (i + 1) * SHARD_BYTES));
        paths.push(name);
      }
      const json = {
        modelTopology: art.modelTopology,
        format: art.format ?? "layers-model",
        generatedBy: art.generatedBy,
        convertedBy: "ganc export",
        weightsManifest: [{ paths, weights: art.weightSpecs }],
        userDefinedMetadata: art.userDefinedMetadata,
      };
      writeFileAtomic(path.join(dir, "model.json"), JSON.stringify(json));
      files.push(path.join(dir, "model.json"), ...paths.map((q) => path.join(dir, q)));
      if (usesCustomLayers(art.modelTopology)) {
        // Layers tfjs does not have (conditional batch norm, slices): loaded with registerGancLayers(tf).
        writeFileAtomic(path.join(dir, CUSTOM_LAYERS_FILE), CUSTOM_LAYERS_SOURCE);
        files.push(path.join(dir, CUSTOM_LAYERS_FILE));
      }
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: "JSON" } };
    }),
  );

  // The trainer's fixed sample noise and what the exported model makes of it, to check a copy against.
  const n = opts.samples ?? 16;
  const feed = fixedInputs(p, inputs, n, readSettings(runDir)?.seed, sources);
  const outT = model.predict(inputs.map((i) => feed[i.name]!)) as tf.Tensor;
  const check = {
    note: "inputs: the trainer's fixed sample noise (the first samples `ganc sample` draws); outputs: the exported model's results for them",
    inputs: Object.fromEntries(await Promise.all(inputs.map(async (i) => [i.name, { shape: feed[i.name]!.shape, data: Array.from(await feed[i.name]!.data()) }]))),
    outputs: { shape: outT.shape, data: Array.from(await outT.data(), (v) => Math.round(v * 1e6) / 1e6) },
  };
  writeFileAtomic(path.join(dir, "sample-noise.json"), JSON.stringify(check));
  files.push(path.join(dir, "sample-noise.json"));
  outT.dispose();
  for (const t of Object.values(feed)) t.dispose();
  model.dispose();
  return { dir, files, meta };
}
