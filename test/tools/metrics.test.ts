import * as path from "node:path";
import { describe, expect, it } from "vitest";
import * as tf from "@tensorflow/tfjs";
import { selectBackend } from "../../src/runtime/backend.ts";
import { loadEmbeddedMnist, toyDataset, toyModes } from "../../src/runtime/data.ts";
import { loadClassifier } from "../../src/runtime/eval/classifier.ts";
import { classCoverage, classifierScore, frechetDistance, gaussianOf, symmetricEigen, toyMetrics, type Gaussian } from "../../src/runtime/eval/metrics.ts";
import { Rng } from "../../src/runtime/rng.ts";
import { gancInProcess, tmpDir } from "../helpers.ts";

const gaussian = (mean: number[], cov: number[][]): Gaussian => ({ dim: mean.length, mean: Float64Array.from(mean), cov: Float64Array.from(cov.flat()), count: 0 });

describe("linear algebra", () => {
  it("the Jacobi solver diagonalises a random symmetric matrix: A V = V diag(l), V orthogonal", () => {
    const n = 24;
    const rng = new Rng(3);
    const a = new Float64Array(n * n);
    for (let i = 0; i < n; i++) for (let j = i; j < n; j++) a[i * n + j] = a[j * n + i] = rng.normal();
    const { values, vectors: v } = symmetricEigen(a, n);
    for (let i = 0; i < n; i++) {
      for (let k = 0; k < n; k++) {
        let av = 0, vv = 0;
        for (let j = 0; j < n; j++) {
          av += a[i * n + j]! * v[j * n + k]!;
          vv += v[j * n + i]! * v[j * n + k]!;
        }
        expect(av).toBeCloseTo(v[i * n + k]! * values[k]!, 9);
        expect(vv).toBeCloseTo(i === k ? 1 : 0, 9);
      }
    }
  });

  it("Fréchet distance: 0 for equal Gaussians, |d|^2 for a shifted mean, sum (sqrt a - sqrt b)^2 for diagonal covariances", () => {
    const g = gaussian([1, 2, 3], [[2, 0.5, 0], [0.5, 1, 0.2], [0, 0.2, 3]]);
    expect(frechetDistance(g, g)).toBeCloseTo(0, 9);
    expect(frechetDistance(g, { ...g, mean: Float64Array.from([1, 5, 7]) })).toBeCloseTo(9 + 16, 9);
    const a = gaussian([0, 0], [[4, 0], [0, 9]]);
    const b = gaussian([0, 0], [[1, 0], [0, 16]]);
    expect(frechetDistance(a, b)).toBeCloseTo((2 - 1) ** 2 + (3 - 4) ** 2, 9);
  });

  it("Fréchet distance of non-commuting 2x2 covariances matches the closed form Tr((S1 S2)^1/2) = sqrt(tr + 2 sqrt(det))", () => {
    const s1 = [[2, 0.8], [0.8, 1]];
    const s2 = [[1, -0.3], [-0.3, 3]];
    const p = [[s1[0]![0]! * s2[0]![0]! + s1[0]![1]! * s2[1]![0]!, 0], [0, s1[1]![0]! * s2[0]![1]! + s1[1]![1]! * s2[1]![1]!]];
    const trP = p[0]![0]! + p[1]![1]!;
    const det = (m: number[][]) => m[0]![0]! * m[1]![1]! - m[0]![1]! * m[1]![0]!;
    const trRoot = Math.sqrt(trP + 2 * Math.sqrt(det(s1) * det(s2)));
    const expected = 0.5 ** 2 + 3 + 4 - 2 * trRoot;
    expect(frechetDistance(gaussian([0, 0], s1), gaussian([0.5, 0], s2))).toBeCloseTo(expected, 9);
  });

  it("classifier score and class coverage on hand-made probabilities", () => {
    const confident = Array.from({ length: 100 }, (_, i) => Float64Array.from({ length: 10 }, (_, c) => (c === i % 10 ? 1 : 0)));
    expect(classifierScore(confident)).toBeCloseTo(10, 9);
    const collapsed = Array.from({ length: 100 }, () => Float64Array.from({ length: 10 }, (_, c) => (c === 3 ? 1 : 0)));
    expect(classifierScore(collapsed)).toBeCloseTo(1, 9);
    const unsure = Array.from({ length: 100 }, () => new Float64Array(10).fill(0.1));
    expect(classifierScore(unsure)).toBeCloseTo(1, 9);
    expect(classCoverage(confident).covered).toBe(10);
    expect(classCoverage(collapsed)).toMatchObject({ covered: 1, histogram: [0, 0, 0, 100, 0, 0, 0, 0, 0, 0] });
  });
});

describe("toy mixtures", () => {
  it("samples drawn from the mixture itself cover every mode and are all high quality", () => {
    for (const kind of ["ring8", "grid25"] as const) {
      const { centers, std } = toyModes(kind);
      const real = toyDataset(kind, 5000, 1);
      const m = toyMetrics(real.x, centers, std);
      expect(m.modesCovered).toBe(centers.length);
      expect(m.highQuality).toBeGreaterThan(0.98); // 3 std in 2-D holds 98.9% of a Gaussian
      const exact = centers.flatMap((c) => Array.from({ length: 20 }, () => c).flat());
      expect(toyMetrics(exact, centers, std)).toMatchObject({ modesCovered: centers.length, highQuality: 1 });
    }
  });

  it("uniform noise covers no mode, and a collapsed generator covers one", () => {
    const { centers, std } = toyModes("ring8");
    const rng = new Rng(5);
    const noise = new Float32Array(10000).map(() => -3 + 6 * rng.uniform());
    const m = toyMetrics(noise, centers, std);
    expect(m.modesCovered).toBe(0);
    expect(m.highQuality).toBeLessThan(0.01);
    const collapsed = Array.from({ length: 500 }, () => [centers[2]![0]! + 0.01, centers[2]![1]!]).flat();
    expect(toyMetrics(collapsed, centers, std)).toMatchObject({ modesCovered: 1, highQuality: 1 });
  });

  it("ganc eval on a toy run: modes covered and high-quality share, from the trainer's samples", async () => {
    const run = path.join(tmpDir(), "run");
    // inside the test process (gancInProcess): the test is about what eval computes
    expect((await gancInProcess(["train", "test/fixtures/ring8.gan", "--out", run, "--steps", "100", "--quiet"])).code).toBe(0);
    const r = await gancInProcess(["eval", run, "-n", "1000", "--json"]);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out).toMatchObject({ spec: "ring8-test", data: "ring8", metrics: { kind: "toy", samples: 1000, modes: 8, std: 0.02, minShare: 0.01 } });
    expect(out.metrics.perMode).toHaveLength(8);
    expect(out.metrics.modesCovered).toBe(out.metrics.perMode.filter((c: number) => c >= 10).length);
    expect(out.metrics.highQuality).toBeCloseTo(out.metrics.perMode.reduce((a: number, b: number) => a + b, 0) / 1000, 9);
  }, 60_000);
});

describe("MNIST classifier metrics", () => {
  it("real digits: FID between disjoint halves near 0, against noise large; classifier score > 8; 10 of 10 classes", async () => {
    await selectBackend("auto", { log: () => {} });
    const clf = loadClassifier();
    expect(clf.info.accuracy).toBeGreaterThanOrEqual(0.97);
    const real = loadEmbeddedMnist();
    const half = 5000;
    const a = clf.run(real.x.subarray(0, half * 784), half);
    const b = clf.run(real.x.subarray(half * 784, 2 * half * 784), half);
    const rng = new Rng(9);
    const noiseImages = new Float32Array(2000 * 784).map(() => rng.uniform());
    const noise = clf.run(noiseImages, 2000);
    // Blurred digits: still digit-like, so between the two.
    const blurred = tf.tidy(() => tf.avgPool(tf.tensor4d(real.x.subarray(0, 2000 * 784), [2000, 28, 28, 1]), 5, 1, "same").dataSync() as Float32Array);
    const blur = clf.run(blurred, 2000);

    const ga = gaussianOf(a.features), gb = gaussianOf(b.features);
    const realVsReal = frechetDistance(ga, gb);
    const realVsNoise = frechetDistance(ga, gaussianOf(noise.features));
    const realVsBlur = frechetDistance(ga, gaussianOf(blur.features));
    expect(realVsReal).toBeLessThan(0.02 * realVsNoise);
    expect(realVsBlur).toBeGreaterThan(5 * realVsReal);
    expect(realVsBlur).toBeLessThan(realVsNoise);

    expect(classifierScore(a.probs)).toBeGreaterThan(8);
    expect(classifierScore(noise.probs)).toBeLessThan(3);
    expect(classCoverage(a.probs).covered).toBe(10);
    // One digit class only: mode collapse shows in coverage and score.
    const sevens = new Float32Array(500 * 784);
    for (let i = 0, k = 0; i < real.count && k < 500; i++) if (real.labels![i] === 7) sevens.set(real.x.subarray(i * 784, (i + 1) * 784), 784 * k++);
    const seven = clf.run(sevens, 500);
    expect(classCoverage(seven.probs).covered).toBe(1);
    expect(classifierScore(seven.probs)).toBeLessThan(1.5);
    console.log(`FID real/real ${realVsReal.toFixed(3)}, real/blurred ${realVsBlur.toFixed(3)}, real/noise ${realVsNoise.toFixed(3)}; score real ${classifierScore(a.probs).toFixed(2)}`);
  });
});
