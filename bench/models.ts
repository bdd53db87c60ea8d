/** The models the benchmark trains, with the iteration counts of a full and a quick run. */
export interface BenchModel {
  id: "seed" | "ring8";
  title: string;
  /** The spec the compiled engine is built from (relative to the repository root). */
  spec: string;
  /** Samples (images or points) per iteration. */
  batch: number;
  /** The PyTorch twin (relative to the repository root). */
  pytorch: string;
  iters: { full: { iters: number; warmup: number }; quick: { iters: number; warmup: number } };
}

export const MODELS: BenchModel[] = [
  {
    id: "seed",
    title: "seed GAN (MNIST 28x28, batch 64)",
    spec: "specs/gan.gan",
    batch: 64,
    pytorch: "bench/pytorch/seed_gan.py",
    iters: { full: { iters: 20, warmup: 3 }, quick: { iters: 5, warmup: 1 } },
  },
  {
    id: "ring8",
    title: "ring8 MLP GAN (2-D points, batch 128)",
    spec: "test/fixtures/ring8.gan",
    batch: 128,
    pytorch: "bench/pytorch/ring8.py",
    iters: { full: { iters: 300, warmup: 30 }, quick: { iters: 100, warmup: 20 } },
  },
];

export const ENGINES = ["compiled", "handwritten", "pytorch"] as const;
export type Engine = (typeof ENGINES)[number];

export function modelById(id: string): BenchModel {
  const m = MODELS.find((x) => x.id === id);
  if (!m) throw new Error(`unknown model '${id}' (expected ${MODELS.map((x) => x.id).join(", ")})`);
  return m;
}

/** Prefix of the one stdout line that carries a worker's JSON result (tfjs prints to stdout too). */
export const RESULT_MARKER = "BENCH_RESULT ";
