import * as path from "node:path";
import * as tf from "@tensorflow/tfjs";
import { toyModes, type Dataset } from "./data.ts";
import { writeFileAtomic } from "./fsutil.ts";
import { encodeImageGrid, encodeScatter, writePng } from "./png.ts";
import { fixedNoiseBatch, type WeightAverage } from "./run-noise.ts";
import { round, type Batch, type SpecInfo } from "./run-spec.ts";

// Noise and averaged weights live in run-noise.ts (no Node modules: the playground runs them in the page).
export { drawNoise, WeightAverage } from "./run-noise.ts";

/** Rows generated at once when sampling and evaluating; GANC_SAMPLE_CHUNK changes it (tests compare chunk sizes). */
function sampleChunk(): number {
  const v = Number(process.env.GANC_SAMPLE_CHUNK);
  return Number.isInteger(v) && v > 0 ? v : 256;
}

/** Sample grids from fixed noise, and the quality metrics of generated samples. */
export class Sampler {
  /** How to draw the sampled images from a batch of fixed noise (networks in inference mode); set by the trainer. */
  fn: ((b: Batch) => tf.Tensor) | null = null;
  /** The averaged weights to sample with, if the spec keeps them. */
  average: WeightAverage | null = null;
  private evalBatch: Batch | null = null;

  constructor(
    private readonly spec: SpecInfo,
    private readonly seed: number,
  ) {}

  /** Fixed noise (and cycling labels and codes), the same at every sample step. */
  fixedBatch(n = this.spec.train.sampleCount, salt = 0x5a4d1e): Batch {
    return fixedNoiseBatch(this.spec, this.seed, n, salt);
  }

  /**
   * The sampled images for the `n` rows of `batch`, made `sampleChunk()` rows at a time (averaged
   * weights swapped in once), each chunk's output copied into one preallocated array and disposed:
   * memory stays that of one chunk whatever `n` is (`ganc sample -n 5000` on a DCGAN needed 12 GB at once).
   * The networks run in inference mode, so every row's values are those of one call on all `n`.
   */
  generate(batch: Batch, n: number): Promise<{ data: Float32Array; shape: number[] }> {
    const run = async () => {
      const chunk = sampleChunk();
      let data: Float32Array | null = null;
      let shape: number[] = [];
      for (let start = 0; start < n; start += chunk) {
        const k = Math.min(chunk, n - start);
        const out = tf.tidy(() => {
          const part: Batch = {};
          for (const [name, t] of Object.entries(batch)) part[name] = k === n ? t : tf.slice(t, start, k);
          return this.fn!(part);
        });
        try {
          const values = (await out.data()) as Float32Array;
          if (!data) {
            shape = [n, ...out.shape.slice(1)];
            data = new Float32Array((values.length / k) * n);
          }
          data.set(values, (values.length / k) * start);
        } finally {
          out.dispose();
        }
      }
      return { data: data ?? new Float32Array(0), shape };
    };
    return this.average ? this.average.swappedIn(run) : run();
  }

  /**
   * Writes the grid of `batch`'s samples: to `to` (a .png, or .json with the raw values for tools),
   * else to `<out>/samples/step-NNNNNNN.png` and `latest.png`. Returns the file and, for the latter, the PNG.
   */
  async write(batch: Batch, at: { out: string; step: number; to?: string }): Promise<{ file: string; png: Buffer | null }> {
    const n = batch[`${this.spec.data.name}_label`]!.shape[0]!;
    const { data, shape } = await this.generate(batch, n);
    const to = at.to;
    if (to && to.endsWith(".json")) {
      writeFileAtomic(to, JSON.stringify({ shape, range: this.spec.sampleRange, data: Array.from(data, (v) => Math.round(v * 1e6) / 1e6) }));
      return { file: to, png: null };
    }
    const png = this.spec.data.shape.length === 1
      ? encodeScatter(data, { reference: toyModes(this.spec.data.source as "ring8" | "grid25").centers, size: 400 })
      : encodeImageGrid(data, shape[0]!, shape[1]!, shape[2]!, shape[3]!, { range: this.spec.sampleRange, scale: 2 });
    if (to) {
      writePng(to, png);
      return { file: to, png: null };
    }
    const file = path.join(at.out, "samples", `step-${String(at.step).padStart(7, "0")}.png`);
    writePng(file, png);
    writePng(path.join(at.out, "samples", "latest.png"), png);
    return { file, png };
  }

  /**
   * Quality metrics of `evalCount` samples from fixed noise: for MNIST-shaped data the classifier's FID
   * against the training digits, its score and class coverage; for toy data mode coverage and the share
   * of high-quality samples; for other images the sliced Wasserstein distance (x 1e3, mean and per pyramid
   * level) against as many real images. Null where the spec samples nothing or no metric fits its data.
   */
  async evaluate(dataset: Dataset): Promise<Record<string, number> | null> {
    if (!this.fn) return null;
    const n = this.spec.train.evalCount ?? 1000;
    this.evalBatch ??= this.fixedBatch(n, 0x3e7a1);
    const { data } = await this.generate(this.evalBatch, n);
    const src = this.spec.data.source;
    const { imageMetrics, toUnitRange, toyMetrics } = await import("./eval/metrics.ts");
    if (src === "ring8" || src === "grid25") {
      const modes = toyModes(src);
      const m = toyMetrics(data, modes.centers, modes.std);
      return { modesCovered: m.modesCovered, highQuality: round(m.highQuality) };
    }
    // Data read per batch from a cache file (dataset.x null) is not held in memory to compare with.
    if (src === "mnist" && dataset.x) {
      const m = imageMetrics(toUnitRange(data, this.spec.sampleRange), n, { x: dataset.x, count: dataset.count, key: `${dataset.name}:${dataset.count}` });
      return { fid: round(m.fid), classifierScore: round(m.classifierScore), classesCovered: m.classCoverage.covered };
    }
    // Any other images (and MNIST read from disk): SWD against as many real images, drawn the same way each time.
    if (this.spec.data.shape.length === 3 && Math.min(this.spec.data.shape[0]!, this.spec.data.shape[1]!) >= 7) {
      const { swdAgainst } = await import("./eval/swd.ts");
      const m = swdAgainst(dataset, data, this.spec.sampleRange, this.spec.train.seed);
      const out: Record<string, number> = { swd: round(m.mean) };
      for (const l of m.levels) out[`swd${l.resolution[0] === l.resolution[1] ? l.resolution[0] : l.resolution.join("x")}`] = round(l.swd);
      return out;
    }
    return null;
  }
}
