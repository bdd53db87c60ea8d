import { loadClassifier, type Classifier } from "./classifier.ts";

/**
 * Sample-quality metrics for trained generators.
 *
 * Images (MNIST-shaped): a small MNIST classifier (classifier.ts) stands in for the Inception network of
 * the literature.
 *   - Fréchet distance (FID analogue) between the Gaussians fitted to its penultimate-layer features of
 *     generated and real digits: |mu1 - mu2|^2 + Tr(S1 + S2 - 2 (S1 S2)^(1/2)). 0 for identical
 *     statistics; it grows with any difference in quality or variety.
 *   - Classifier score (Inception Score analogue): exp(E_x[KL(p(y|x) || p(y))]). Between 1 and 10: high
 *     when each sample is recognisably one digit and all digits occur equally often.
 *   - Class coverage: the histogram of predicted classes, and how many classes get at least 5% of the
 *     samples (10 for a generator that makes every digit, fewer under mode collapse).
 *
 * Toy 2-D mixtures (ring8, grid25), after the convention of VEEGAN (Srivastava et al. 2017) and PacGAN
 * (Lin et al. 2018):
 *   - a sample is high quality when it lies within 3 standard deviations of its nearest mode's center;
 *   - a mode is covered when at least 1% of the samples (and at least one) are high-quality samples of
 *     that mode. The 1% floor keeps a few stray points from counting as a mode the generator has learnt.
 */

// ---- linear algebra on small dense symmetric matrices (row-major Float64Array) ----------------------

export interface Gaussian {
  dim: number;
  mean: Float64Array;
  /** dim x dim, row-major; the unbiased (n - 1) estimate. */
  cov: Float64Array;
  count: number;
}

/** Mean and covariance of feature vectors. */
export function gaussianOf(features: ArrayLike<number>[]): Gaussian {
  const n = features.length;
  if (n < 2) throw new RangeError(`need at least 2 feature vectors for a covariance, got ${n}`);
  const dim = features[0]!.length;
  const mean = new Float64Array(dim);
  for (const f of features) for (let i = 0; i < dim; i++) mean[i]! += f[i]! / n;
  const cov = new Float64Array(dim * dim);
  const c = new Float64Array(dim);
  for (const f of features) {
    for (let i = 0; i < dim; i++) c[i] = f[i]! - mean[i]!;
    for (let i = 0; i < dim; i++) {
      const ci = c[i]!;
      if (ci === 0) continue;
      for (let j = i; j < dim; j++) cov[i * dim + j]! += ci * c[j]!;
    }
  }
  for (let i = 0; i < dim; i++) {
    for (let j = i; j < dim; j++) {
      const v = cov[i * dim + j]! / (n - 1);
      cov[i * dim + j] = v;
      cov[j * dim + i] = v;
    }
  }
  return { dim, mean, cov, count: n };
}

/**
 * Eigenvalues and eigenvectors of a symmetric matrix by the cyclic Jacobi method: rotations that zero
 * one off-diagonal pair at a time until the off-diagonal mass is negligible. Returns the eigenvalues and
 * the eigenvectors as the columns of `vectors` (row-major), so that A = V diag(values) V^T.
 */
export function symmetricEigen(a: Float64Array, n: number, opts: { maxSweeps?: number } = {}): { values: Float64Array; vectors: Float64Array } {
  if (a.length !== n * n) throw new RangeError(`expected a ${n}x${n} matrix, got ${a.length} values`);
  const m = Float64Array.from(a);
  const v = new Float64Array(n * n);
  for (let i = 0; i < n; i++) v[i * n + i] = 1;
  let scale = 0;
  for (let i = 0; i < n * n; i++) scale += m[i]! * m[i]!;
  const tol = 1e-22 * Math.max(scale, Number.MIN_VALUE);
  const maxSweeps = opts.maxSweeps ?? 100;
  for (let sweep = 0; sweep < maxSweeps; sweep++) {
    let off = 0;
    for (let p = 0; p < n; p++) for (let q = p + 1; q < n; q++) off += m[p * n + q]! ** 2;
    if (off <= tol) break;
    for (let p = 0; p < n - 1; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = m[p * n + q]!;
        if (apq === 0) continue;
        const app = m[p * n + p]!, aqq = m[q * n + q]!;
        // The rotation angle that zeroes a_pq, in the numerically stable form (Numerical Recipes 11.1).
        const theta = (aqq - app) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < n; k++) {
          const mkp = m[k * n + p]!, mkq = m[k * n + q]!;
          m[k * n + p] = c * mkp - s * mkq;
          m[k * n + q] = s * mkp + c * mkq;
        }
        for (let k = 0; k < n; k++) {
          const mpk = m[p * n + k]!, mqk = m[q * n + k]!;
          m[p * n + k] = c * mpk - s * mqk;
          m[q * n + k] = s * mpk + c * mqk;
        }
        for (let k = 0; k < n; k++) {
          const vkp = v[k * n + p]!, vkq = v[k * n + q]!;
          v[k * n + p] = c * vkp - s * vkq;
          v[k * n + q] = s * vkp + c * vkq;
        }
      }
    }
  }
  const values = new Float64Array(n);
  for (let i = 0; i < n; i++) values[i] = m[i * n + i]!;
  return { values, vectors: v };
}

/** The symmetric positive semi-definite square root V diag(sqrt(max(l, 0))) V^T. */
export function sqrtPsd(a: Float64Array, n: number): Float64Array {
  const { values, vectors } = symmetricEigen(a, n);
  const out = new Float64Array(n * n);
  for (let k = 0; k < n; k++) {
    const s = Math.sqrt(Math.max(values[k]!, 0));
    if (s === 0) continue;
    for (let i = 0; i < n; i++) {
      const vik = vectors[i * n + k]! * s;
      if (vik === 0) continue;
      for (let j = 0; j < n; j++) out[i * n + j]! += vik * vectors[j * n + k]!;
    }
  }
  return out;
}

function matMul(a: Float64Array, b: Float64Array, n: number): Float64Array {
  const out = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < n; k++) {
      const aik = a[i * n + k]!;
      if (aik === 0) continue;
      for (let j = 0; j < n; j++) out[i * n + j]! += aik * b[k * n + j]!;
    }
  }
  return out;
}

/**
 * Fréchet distance between two Gaussians: |mu1 - mu2|^2 + Tr(S1) + Tr(S2) - 2 Tr((S1 S2)^(1/2)).
 * Tr((S1 S2)^(1/2)) is computed as Tr((A S2 A)^(1/2)) with A = S1^(1/2): S1 S2 is similar to A S2 A,
 * which is symmetric positive semi-definite, so both square roots come from symmetric eigenproblems.
 */
export function frechetDistance(a: Gaussian, b: Gaussian): number {
  if (a.dim !== b.dim) throw new RangeError(`feature sizes differ: ${a.dim} and ${b.dim}`);
  const n = a.dim;
  let d2 = 0;
  for (let i = 0; i < n; i++) d2 += (a.mean[i]! - b.mean[i]!) ** 2;
  let tr = 0;
  for (let i = 0; i < n; i++) tr += a.cov[i * n + i]! + b.cov[i * n + i]!;
  const root = sqrtPsd(a.cov, n);
  const inner = matMul(matMul(root, b.cov, n), root, n);
  for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) inner[i * n + j] = inner[j * n + i] = (inner[i * n + j]! + inner[j * n + i]!) / 2;
  const { values } = symmetricEigen(inner, n);
  let trRoot = 0;
  for (const l of values) trRoot += Math.sqrt(Math.max(l, 0));
  return Math.max(0, d2 + tr - 2 * trRoot);
}

// ---- classifier-based image metrics ---------------------------------------------------------------------

/** exp(E_x[KL(p(y|x) || p(y))]) over the rows of class probabilities. */
export function classifierScore(probs: ArrayLike<number>[]): number {
  const n = probs.length;
  if (n === 0) throw new RangeError("no samples");
  const k = probs[0]!.length;
  const marginal = new Float64Array(k);
  for (const p of probs) for (let c = 0; c < k; c++) marginal[c]! += p[c]! / n;
  let kl = 0;
  for (const p of probs) {
    for (let c = 0; c < k; c++) {
      const pc = p[c]!;
      if (pc > 0) kl += pc * (Math.log(pc) - Math.log(Math.max(marginal[c]!, 1e-30)));
    }
  }
  return Math.exp(kl / n);
}

/** Predicted-class histogram and the number of classes with at least `minShare` of the samples. */
export function classCoverage(probs: ArrayLike<number>[], minShare = 0.05): { histogram: number[]; covered: number; classes: number; minShare: number } {
  const k = probs[0]?.length ?? 10;
  const histogram = new Array<number>(k).fill(0);
  for (const p of probs) {
    let best = 0;
    for (let c = 1; c < k; c++) if (p[c]! > p[best]!) best = c;
    histogram[best]!++;
  }
  const covered = histogram.filter((h) => h >= minShare * probs.length && h > 0).length;
  return { histogram, covered, classes: k, minShare };
}

export interface ImageMetrics {
  kind: "images";
  samples: number;
  reference: number;
  /** Fréchet distance of classifier features to the reference digits. */
  fid: number;
  classifierScore: number;
  classCoverage: { histogram: number[]; covered: number; classes: number; minShare: number };
  classifier: { accuracy: number; split: string };
}

/** Maps images from `range` to [0, 1] (the classifier's input range), clamped. */
export function toUnitRange(data: ArrayLike<number>, range: [number, number]): Float32Array {
  const [lo, hi] = range;
  const out = new Float32Array(data.length);
  for (let i = 0; i < data.length; i++) out[i] = Math.min(1, Math.max(0, (data[i]! - lo) / (hi - lo)));
  return out;
}

let referenceCache: { key: string; gaussian: Gaussian } | undefined;

/**
 * All image metrics of `n` samples (28x28x1, values in [0, 1]) against reference images (the real
 * digits, also in [0, 1]).
 */
export function imageMetrics(samples: Float32Array, n: number, reference: { x: Float32Array; count: number; key?: string }, classifier: Classifier = loadClassifier()): ImageMetrics {
  const gen = classifier.run(samples, n);
  let ref: Gaussian;
  if (reference.key && referenceCache?.key === reference.key) ref = referenceCache.gaussian;
  else {
    ref = gaussianOf(classifier.run(reference.x, reference.count).features);
    if (reference.key) referenceCache = { key: reference.key, gaussian: ref };
  }
  return {
    kind: "images",
    samples: n,
    reference: reference.count,
    fid: frechetDistance(gaussianOf(gen.features), ref),
    classifierScore: classifierScore(gen.probs),
    classCoverage: classCoverage(gen.probs),
    classifier: { accuracy: classifier.info.accuracy, split: classifier.info.split },
  };
}

// ---- toy 2-D mixtures ------------------------------------------------------------------------------

export interface ToyMetrics {
  kind: "toy";
  samples: number;
  modes: number;
  /** Modes with at least `minShare` of the samples within 3 std. */
  modesCovered: number;
  /** Share of samples within 3 std of their nearest mode. */
  highQuality: number;
  /** High-quality samples per mode. */
  perMode: number[];
  std: number;
  minShare: number;
}

/** Mode coverage and sample quality of 2-D points (x0, y0, x1, y1, ...) for a mixture with `centers`. */
export function toyMetrics(points: ArrayLike<number>, centers: number[][], std: number, opts: { minShare?: number; radius?: number } = {}): ToyMetrics {
  if (points.length % 2 !== 0) throw new RangeError(`points must be (x, y) pairs, got ${points.length} values`);
  const n = points.length / 2;
  const minShare = opts.minShare ?? 0.01;
  const radius = (opts.radius ?? 3) * std;
  const perMode = new Array<number>(centers.length).fill(0);
  let good = 0;
  for (let i = 0; i < n; i++) {
    const x = points[2 * i]!, y = points[2 * i + 1]!;
    if (!Number.isFinite(x) || !Number.isFinite(y)) continue;
    let best = -1, bestD = Infinity;
    centers.forEach((c, k) => {
      const d = Math.hypot(x - c[0]!, y - c[1]!);
      if (d < bestD) [best, bestD] = [k, d];
    });
    if (bestD <= radius) {
      good++;
      perMode[best]!++;
    }
  }
  const need = Math.max(1, minShare * n);
  return { kind: "toy", samples: n, modes: centers.length, modesCovered: perMode.filter((c) => c >= need).length, highQuality: n ? good / n : 0, perMode, std, minShare };
}
