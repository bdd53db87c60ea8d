import * as path from "node:path";
import { loadEmbeddedMnist, toyModes } from "../runtime/data.ts";
import { writeFileAtomic } from "../runtime/fsutil.ts";
import { imageMetrics, toUnitRange, toyMetrics, type ImageMetrics, type ToyMetrics } from "../runtime/eval/metrics.ts";
import { drawSamples } from "./runfolder.ts";

export interface EvalResult {
  run: string;
  spec: string;
  data: string;
  metrics: ImageMetrics | ToyMetrics | null;
  /** Why no metrics apply (e.g. Fashion-MNIST: the classifier knows digits only). */
  note?: string;
}

/**
 * Quality metrics of a run's newest checkpoint: `n` samples drawn the way `ganc sample` draws them,
 * scored against the real digits (MNIST) or the mixture's modes (ring8, grid25).
 */
export async function evaluateRun(runDir: string, opts: { n: number; backend?: string; log?: (line: string) => void }): Promise<EvalResult> {
  const log = opts.log ?? (() => {});
  log(`drawing ${opts.n} samples from ${runDir}`);
  const s = await drawSamples(runDir, opts.n, opts.backend);
  const source = s.spec.data.source;
  const base = { run: runDir, spec: s.spec.name, data: source };
  const n = s.shape[0]!;
  if (source === "ring8" || source === "grid25") {
    const { centers, std } = toyModes(source);
    return { ...base, metrics: toyMetrics(s.data, centers, std) };
  }
  if (source === "mnist" && s.shape.slice(1).join(",") === "28,28,1") {
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
  if (m.kind === "toy") {
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
