import * as path from "node:path";
import { loadEmbeddedMnist, toyModes } from "../runtime/data.ts";
import { writeFileAtomic } from "../runtime/fsutil.ts";
import { imageMetrics, toUnitRange, toyMetrics, type ImageMetrics, type ToyMetrics } from "../runtime/eval/metrics.ts";
import { swdAgainst, type SwdResult } from "../runtime/eval/swd.ts";
import { loadData } from "../runtime/run-data.ts";
import { readSettings } from "../runtime/settings.ts";
import { drawSamples } from "./runfolder.ts";

/** Which metric `ganc eval` computes; `auto` picks by the data (see evaluateRun). */
export type EvalMetric = "auto" | "classifier" | "swd";
export const EVAL_METRICS: readonly EvalMetric[] = ["auto", "classifier", "swd"];

export interface EvalResult {
  run: string;
  spec: string;
  data: string;
  metrics: ImageMetrics | ToyMetrics | SwdResult | null;
  /** Why no metrics apply (e.g. Fashion-MNIST: the classifier knows digits only). */
  note?: string;
}

/**
 * Quality metrics of a run's newest checkpoint: `n` samples drawn the way `ganc sample` draws them,
 * scored against the mixture's modes (ring8, grid25), the real digits with the MNIST classifier (MNIST), or
 * the run's real images with the sliced Wasserstein distance (any other images; `metric: "swd"` for MNIST too).
 */
export async function evaluateRun(runDir: string, opts: { n: number; backend?: string; metric?: EvalMetric; log?: (line: string) => void }): Promise<EvalResult> {
  const log = opts.log ?? (() => {});
  const metric = opts.metric ?? "auto";
  log(`drawing ${opts.n} samples from ${runDir}`);
  const s = await drawSamples(runDir, opts.n, opts.backend);
  const source = s.spec.data.source;
  const base = { run: runDir, spec: s.spec.name, data: source };
  const n = s.shape[0]!;
  if (source === "ring8" || source === "grid25") {
    if (metric !== "auto") return { ...base, metrics: null, note: `--metric ${metric} scores images; ${source} is 2-D points, scored by mode coverage (--metric auto)` };
    const { centers, std } = toyModes(source);
    return { ...base, metrics: toyMetrics(s.data, centers, std) };
  }
  const mnistShaped = source === "mnist" && s.shape.slice(1).join(",") === "28,28,1";
  if (metric === "classifier" && !mnistShaped) {
    return { ...base, metrics: null, note: `no classifier metrics for ${source} samples of shape [${s.shape.slice(1).join(", ")}]: the classifier knows 28x28 MNIST digits only (--metric swd scores any images)` };
  }
  if (metric === "swd" || (metric === "auto" && !mnistShaped)) {
    if (s.shape.length !== 4) return { ...base, metrics: null, note: `SWD scores images; ${source} samples have shape [${s.shape.slice(1).join(", ")}]` };
    const settings = readSettings(runDir);
    const ds = await loadData(s.spec, { data: settings?.data ?? undefined, seed: settings?.seed });
    log(`scoring against ${Math.min(n, ds.count)} of the ${ds.count} real images (${ds.name}) with the sliced Wasserstein distance`);
    return { ...base, metrics: swdAgainst(ds, s.data, s.range, settings?.seed ?? s.spec.train.seed) };
  }
  if (mnistShaped) {
    const real = loadEmbeddedMnist();
    log(`scoring against the ${real.count} embedded MNIST digits with the MNIST classifier`);
    return { ...base, metrics: imageMetrics(toUnitRange(s.data, s.range), n, { x: real.x, count: real.count, key: "embedded-mnist" }) };
  }
  return { ...base, metrics: null, note: `no metrics for ${source} samples of shape [${s.shape.slice(1).join(", ")}]: the classifier knows 28x28 MNIST digits only` };
}

export function formatEval(r: EvalResult): string {
  const m = r.metrics;
  const lines = [`${r.spec} (${r.run}), data ${r.data}`];
  if (!m) return [...lines, r.note ?? "no metrics"].join("\n") + "\n";
  if (m.kind === "swd") {
    lines.push(
      `samples:          ${m.samples} (reference: ${m.reference} real images)`,
      `SWD x 1e3:        ${m.mean.toFixed(2)}   (sliced Wasserstein distance of Laplacian-pyramid patches, mean of the levels, times 1e3 as in ProGAN; lower is better)`,
      ...m.levels.map((l) => `  ${`${l.resolution[0]}x${l.resolution[1]}:`.padEnd(16)}${l.swd.toFixed(2)}`),
      `patches:          ${m.settings.patchesPerImage} of ${m.settings.patchSize}x${m.settings.patchSize} per image and level; ${m.settings.repeats} x ${m.settings.directions} random directions`,
    );
  } else if (m.kind === "toy") {
    lines.push(
      `samples:          ${m.samples}`,
      `modes covered:    ${m.modesCovered} / ${m.modes}   (a mode counts with >= ${m.minShare * 100}% of the samples within 3 std of it)`,
      `high quality:     ${(m.highQuality * 100).toFixed(1)}%   (samples within 3 std = ${3 * m.std} of a mode)`,
      `per mode:         ${m.perMode.join(" ")}`,
    );
  } else {
    const c = m.classCoverage;
    lines.push(
      `samples:          ${m.samples} (reference: ${m.reference} real digits)`,
      `FID (classifier): ${m.fid.toFixed(3)}   (Fréchet distance of classifier features; lower is better, 0 = real statistics)`,
      `classifier score: ${m.classifierScore.toFixed(3)}   (Inception-Score analogue, 1..10; higher is better)`,
      `class coverage:   ${c.covered} / ${c.classes}   (classes with >= ${c.minShare * 100}% of the samples)`,
      `class histogram:  ${c.histogram.map((h, i) => `${i}:${h}`).join(" ")}`,
      `classifier:       ${(m.classifier.accuracy * 100).toFixed(2)}% held-out accuracy`,
    );
  }
  return lines.join("\n") + "\n";
}

/** Keeps the result next to the run for `ganc report`. */
export function saveEval(runDir: string, r: EvalResult): string {
  const file = path.join(runDir, "eval.json");
  writeFileAtomic(file, JSON.stringify(r, null, 2) + "\n");
  return file;
}
