/** The models the benchmark trains, with the iteration counts of a full and a quick run. */
export interface BenchModel {
  id: "seed" | "ring8" | "sngan_resnet" | "wgan_gp" | "sagan";
  title: string;
  /** The spec the compiled engine is built from (relative to the repository root). */
  spec: string;
  /** Samples (images or points) per iteration. */
  batch: number;
  /** The PyTorch twin (relative to the repository root). */
  pytorch: string;
  iters: { full: { iters: number; warmup: number }; quick: { iters: number; warmup: number } };
  /** Models too slow at full size on a CPU run reduced by default (same batch and width in all three
   * engines): `reduced` unless the bench is given --sngan-full or --sngan-batch/--sngan-width. */
  scale?: { reduced: Scale; full: Scale };
  /** Why the model has no hand-written tfjs trainer (its handwritten row says so); absent: it has one. */
  noHandwritten?: string;
}

/** A batch size and a channel multiplier (1 = the spec's widths). */
export interface Scale {
  batch: number;
  width: number;
}

/** "batch 16, width 0.25: G 64 ch, D 32 ch": the configuration as the tables print it. */
export function scaleLabel(s: Scale): string {
  return `batch ${s.batch}, width ${s.width}: G ${snganChannels(s.width).g} ch, D ${snganChannels(s.width).d} ch`;
}

export function snganChannels(width: number): { g: number; d: number } {
  return { g: Math.max(1, Math.round(256 * width)), d: Math.max(1, Math.round(128 * width)) };
}

/** specs/sngan_resnet.gan at another batch size and width: its batch=64 and its 256/128 channel counts replaced. */
export function scaleSnganSpec(text: string, s: Scale): string {
  const { g, d } = snganChannels(s.width);
  const out = text
    .replace("mnist_color(batch=64)", `mnist_color(batch=${s.batch})`)
    .replace("dense 4*4*256", `dense 4*4*${g}`)
    .replace("reshape [4, 4, 256]", `reshape [4, 4, ${g}]`)
    .replace("GBlock(256), GBlock(256), GBlock(256)", `GBlock(${g}), GBlock(${g}), GBlock(${g})`)
    .replace("DBlockFirst(128), DBlockDown(128), DBlock(128), DBlock(128)", `DBlockFirst(${d}), DBlockDown(${d}), DBlock(${d}), DBlock(${d})`);
  if (s.batch === 64 && s.width === 1) return out;
  const code = out.split("\n").map((l) => l.replace(/#.*/, "")).join("\n");
  if (code.includes("256") || code.includes("(128)") || code.includes("batch=64")) throw new Error("scaleSnganSpec: specs/sngan_resnet.gan changed; update the replacements in bench/models.ts");
  return out;
}

/**
 * specs/sagan.gan at another batch size and width, like scaleSnganSpec (the same ResNets: G 256 and D 128
 * channels times the width), with both self-attention layers kept (they need a multiple of 8 channels).
 */
export function scaleSaganSpec(text: string, s: Scale): string {
  const { g, d } = snganChannels(s.width);
  if (g % 8 !== 0 || d % 8 !== 0) throw new Error(`scaleSaganSpec: width ${s.width} gives G ${g} and D ${d} channels; attention needs multiples of 8`);
  const out = text
    .replace("mnist_color(batch=64)", `mnist_color(batch=${s.batch})`)
    .replace("dense 4*4*256 ", `dense 4*4*${g} `)
    .replace("reshape [4, 4, 256]", `reshape [4, 4, ${g}]`)
    .replace("GBlock(256), GBlock(256) ", `GBlock(${g}), GBlock(${g}) `)
    .replace(/^  GBlock\(256\)$/m, `  GBlock(${g})`)
    .replace("DBlockFirst(128) ", `DBlockFirst(${d}) `)
    .replace("DBlockDown(128), DBlock(128), DBlock(128)", `DBlockDown(${d}), DBlock(${d}), DBlock(${d})`);
  if (s.batch === 64 && s.width === 1) return out;
  const code = out.split("\n").map((l) => l.replace(/#.*/, "")).join("\n");
  if (code.includes("256") || code.includes("(128)") || code.includes("batch=64")) throw new Error("scaleSaganSpec: specs/sagan.gan changed; update the replacements in bench/models.ts");
  return out;
}

/** A scaled model's spec text at batch and width `s` (sngan_resnet, sagan); other models' text unchanged. */
export function scaleSpec(id: BenchModel["id"], text: string, s: Scale): string {
  if (id === "sngan_resnet") return scaleSnganSpec(text, s);
  if (id === "sagan") return scaleSaganSpec(text, s);
  return text;
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
  {
    id: "sngan_resnet",
    title: "SNGAN CIFAR ResNet (32x32x3; reduced by default)",
    spec: "specs/sngan_resnet.gan",
    batch: 64,
    pytorch: "bench/pytorch/sngan_resnet.py",
    iters: { full: { iters: 10, warmup: 2 }, quick: { iters: 2, warmup: 1 } },
    scale: { reduced: { batch: 16, width: 0.25 }, full: { batch: 64, width: 1 } },
  },
  {
    id: "wgan_gp",
    title: "WGAN-GP (MNIST 28x28, batch 64; gradient penalty, batch norm in the critic)",
    spec: "specs/wgan_gp.gan",
    batch: 64,
    pytorch: "bench/pytorch/wgan_gp.py",
    iters: { full: { iters: 10, warmup: 2 }, quick: { iters: 3, warmup: 1 } },
    noHandwritten: "no hand-written tfjs trainer for this model (PyTorch is the comparison)",
  },
  {
    id: "sagan",
    title: "SAGAN CIFAR ResNet with self-attention (32x32x3; reduced by default)",
    spec: "specs/sagan.gan",
    batch: 64,
    pytorch: "bench/pytorch/sagan.py",
    iters: { full: { iters: 10, warmup: 2 }, quick: { iters: 2, warmup: 1 } },
    scale: { reduced: { batch: 16, width: 0.25 }, full: { batch: 64, width: 1 } },
    noHandwritten: "no hand-written tfjs trainer for this model (PyTorch is the comparison)",
  },
];

/** compiled / handwritten: tfjs; pytorch: bench/pytorch/<model>.py; pytorch-compiled: `ganc compile --target pytorch`. */
/**
 * compiled: the compiled trainer with whatever native libraries this machine has (the default BLAS search);
 * compiled-npm: the same trainer with only what `npm install` brings (MLAS from onnxruntime-node for the
 * products, no system BLAS, no oneDNN: GANC_BLAS=mlas GANC_DNNL=off); compiled-wasm: no native products at
 * all (GANC_BLAS=off, tfjs's threaded wasm build).
 */
export const ENGINES = ["compiled", "compiled-npm", "compiled-wasm", "handwritten", "pytorch", "pytorch-compiled"] as const;
/** What `npm run bench` runs unless --engines says otherwise (compiled-wasm takes minutes per iteration on the ResNets). */
export const DEFAULT_ENGINES: readonly Engine[] = ["compiled", "compiled-npm", "handwritten", "pytorch", "pytorch-compiled"];
/** The environment each compiled engine's trainer runs with, over the bench's own. */
export const ENGINE_ENV: Partial<Record<Engine, NodeJS.ProcessEnv>> = {
  "compiled-npm": { GANC_BLAS: "mlas", GANC_DNNL: "off" },
  "compiled-wasm": { GANC_BLAS: "off" },
};
export type Engine = (typeof ENGINES)[number];

export function modelById(id: string): BenchModel {
  const m = MODELS.find((x) => x.id === id);
  if (!m) throw new Error(`unknown model '${id}' (expected ${MODELS.map((x) => x.id).join(", ")})`);
  return m;
}

/** Prefix of the one stdout line that carries a worker's JSON result (tfjs prints to stdout too). */
export const RESULT_MARKER = "BENCH_RESULT ";

/**
 * specs/stylegan2_lite.gan at another batch size and width: every channel count (the 4x4 constant, the
 * modulated convs, D's convs, blocks and dense layer) and the widths of z and w (the mapping net's dense
 * layers) times `width`, at least 4 channels; toRGB's 3 and the logit's 1 stay. `limit` caps the colored
 * digits made when the data load (tests), `every` replaces the lazy R1's interval of 16 (tests that
 * want it inside a few iterations). Comments are left as they are.
 */
export function scaleStylegan2Spec(text: string, s: Scale & { limit?: number; every?: number }): string {
  const ch = (c: string) => String(Math.max(4, Math.round(Number(c) * s.width)));
  const split = (line: string) => {
    const i = line.indexOf("#");
    return i < 0 ? [line, ""] : [line.slice(0, i), line.slice(i)];
  };
  let changed = 0;
  const out = text
    .split("\n")
    .map((line) => {
      const [c, comment] = split(line) as [string, string];
      const scaled = c
        .replace(/mnist_color\(batch=32\)/, `mnist_color(batch=${s.batch}${s.limit ? `, limit=${s.limit}` : ""})`)
        .replace(/normal\(0, 1, \[(\d+)\]\)/, (_, n: string) => `normal(0, 1, [${ch(n)}])`)
        .replace(/const \[4, 4, (\d+)\]/, (_, n: string) => `const [4, 4, ${ch(n)}]`)
        .replace(/modconv\((\d+), 3,/g, (_, n: string) => `modconv(${ch(n)}, 3,`)
        .replace(/\b(conv|dense) (\d+)\b/g, (w, op: string, n: string) => (Number(n) > 3 ? `${op} ${ch(n)}` : w))
        .replace(/DBlock\((\d+), (\d+)\)/g, (_, a: string, b: string) => `DBlock(${ch(a)}, ${ch(b)})`)
        .replace(/every\(16,/, s.every ? `every(${s.every},` : "every(16,");
      if (scaled !== c) changed++;
      return scaled + comment;
    })
    .join("\n");
  // z, z2, M's 8 dense layers, the constant, G's 7 modulated 3x3 convs, D's fromRGB, 3 blocks, last conv and dense
  if (s.width !== 1 && changed < 24) throw new Error("scaleStylegan2Spec: specs/stylegan2_lite.gan changed; update the replacements in bench/models.ts");
  return out;
}
