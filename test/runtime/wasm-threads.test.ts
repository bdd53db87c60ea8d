import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { GANC_WASM_BASE64 } from "../../src/runtime/kernels/wasm/ganc.wasm.ts";
import * as tf from "@tensorflow/tfjs";
import { selectBackend } from "../../src/runtime/backend.ts";
import { FusedAdam } from "../../src/runtime/fused/index.ts";
import { helperThreads, setSplitMin, splitRuns, withSharedMemoryImport } from "../../src/runtime/kernels/wasm/index.ts";
import { kernelWork, poolCounts, poolGlobalAddress, poolPays, POOL_MIN_WORK, setPoolMinWork, wantedThreads } from "../../src/runtime/wasm-threads.ts";
import { createRequire } from "node:module";
import { ganc, tmpDir } from "../helpers.ts";

const plain = Uint8Array.from(Buffer.from(GANC_WASM_BASE64, "base64"));

/** column_sum of a 3x5 matrix on `memory`, through a module compiled from `bytes`. */
function columnSum(bytes: Uint8Array, memory: WebAssembly.Memory): number[] {
  const k = new WebAssembly.Instance(new WebAssembly.Module(bytes as Uint8Array<ArrayBuffer>), { env: { memory } }).exports as unknown as {
    column_sum(x: number, out: number, rows: number, cols: number): void;
  };
  const heap = new Float32Array(memory.buffer);
  const x = Array.from({ length: 15 }, (_, i) => Math.fround(0.1 * (i + 1)));
  heap.set(x, 0);
  k.column_sum(0, 64 * 4, 3, 5);
  return Array.from(heap.subarray(64, 69));
}

describe("ganc's wasm kernels on a shared heap (tfjs-backend-wasm's threaded build)", () => {
  it("the module rewritten to import a shared memory instantiates on one and computes what the plain module does", () => {
    const shared = withSharedMemoryImport(plain);
    const sharedMemory = new WebAssembly.Memory({ initial: 1, maximum: 16, shared: true });
    expect(sharedMemory.buffer).toBeInstanceOf(SharedArrayBuffer);
    // the plain module refuses a shared memory, the rewritten one an unshared one: the rewrite is what makes it fit
    expect(() => new WebAssembly.Instance(new WebAssembly.Module(plain), { env: { memory: sharedMemory } })).toThrow();
    expect(() => new WebAssembly.Instance(new WebAssembly.Module(shared), { env: { memory: new WebAssembly.Memory({ initial: 1 }) } })).toThrow();
    const expected = columnSum(plain, new WebAssembly.Memory({ initial: 1 }));
    expect(columnSum(shared, sharedMemory)).toEqual(expected);
    // ((0 + x0) + x5) + x10 in float32, column by column
    const f = Math.fround;
    expect(expected[0]).toBe(f(f(f(0 + f(0.1)) + f(0.6)) + f(1.1)));
    // only the import's limits changed: same exports, a few bytes longer
    expect(WebAssembly.Module.exports(new WebAssembly.Module(shared))).toEqual(WebAssembly.Module.exports(new WebAssembly.Module(plain)));
    expect(shared.length - plain.length).toBeGreaterThan(0);
    expect(shared.length - plain.length).toBeLessThan(8);
  });

  it("GANC_WASM_THREADS picks the thread count, off and 1 keep the single-threaded build", () => {
    expect(wantedThreads({ GANC_WASM_THREADS: "off" })).toEqual({ threads: 1, reason: "turned off by GANC_WASM_THREADS" });
    expect(wantedThreads({ GANC_WASM_THREADS: "1" }).threads).toBe(1);
    expect(wantedThreads({ GANC_WASM_THREADS: "3" })).toEqual({ threads: 3 });
    expect(wantedThreads({ GANC_WASM_THREADS: "64" })).toEqual({ threads: 8 }); // tfjs's pool has 8 workers
  });

  it("on the threaded build, GancAdam runs on helper threads too and still equals tf.train.adam bit for bit", async () => {
    // asked for explicitly: with a native BLAS installed the default is the single-threaded build, and
    // test/setup.ts turns threads off for the tests not about them (a count of 2 or more given to the run is kept)
    if (!(Number.parseInt(process.env.GANC_WASM_THREADS ?? "", 10) > 1)) process.env.GANC_WASM_THREADS = "2";
    // and the products on tfjs's (XNNPACK's) kernels, which the pool is for (the next tests compare them)
    process.env.GANC_BLAS ??= "off";
    const info = await selectBackend("wasm", { log: () => {} });
    const threads = Number(/(\d+) threads?/.exec(info.detail)?.[1] ?? "1");
    // on a machine with one core (or GANC_WASM_THREADS=off) there is nothing to split: the kernel runs alone
    expect(helperThreads(tf.backend())).toBe(threads - 1);
    const n = 300_001; // several ranges, the last one not a multiple of 4
    const init = tf.randomNormal([n], 0, 1, "float32", 7);
    const a = tf.variable(init.clone(), true, "threads/a");
    const b = tf.variable(init.clone(), true, "threads/b");
    const small = tf.variable(tf.randomNormal([33], 0, 1, "float32", 8), true, "threads/small"); // runs alone, in the same group
    const smallRef = tf.variable(small.clone(), true, "threads/smallRef");
    const ref = tf.train.adam(1e-3, 0.5, 0.999, 1e-8);
    const fused = new FusedAdam(1e-3, 0.5, 0.999, 1e-8);
    for (let t = 0; t < 3; t++) {
      const g = tf.randomNormal([n], 0, 1, "float32", 30 + t);
      const gs = tf.randomNormal([33], 0, 1, "float32", 40 + t);
      ref.applyGradients({ [a.name]: g, [smallRef.name]: gs } as tf.NamedTensorMap as never);
      fused.applyGradients({ [b.name]: g, [small.name]: gs });
      tf.dispose([g, gs]);
    }
    const [x, y] = [a.dataSync(), b.dataSync()];
    let differing = 0;
    for (let i = 0; i < n; i++) if (!Object.is(x[i], y[i])) differing++;
    expect(differing).toBe(0);
    expect(Array.from(small.dataSync())).toEqual(Array.from(smallRef.dataSync()));
    expect(Array.from(b.dataSync().subarray(0, 4))).not.toEqual(Array.from(init.dataSync().subarray(0, 4))); // it did train
    tf.dispose([init, a, b, small, smallRef]);
  }, 120_000);

  it("on the threaded build, batch norm (both passes), relu's gradient, Greater, Select, upsampling and Exp run on helper threads too, bit for bit what one thread computes", () => {
    // (the backend is the threaded one the test above started)
    expect(helperThreads(tf.backend())).toBeGreaterThan(0);
    const shape = [16, 32, 32, 64];
    const x = tf.randomNormal(shape, 0, 2, "float32", 51);
    const dy = tf.randomNormal(shape, 0, 1, "float32", 52);
    const c = shape[3]!;
    const [mean, variance, offset, scale] = [tf.randomNormal([c], 0, 1, "float32", 53), tf.randomUniform([c], 0.5, 2, "float32", 54), tf.randomNormal([c], 0, 1, "float32", 55), tf.randomNormal([c], 1, 0.2, "float32", 56)];
    const run = (name: string, inputs: tf.NamedTensorMap, attrs: object = {}) => tf.engine().runKernel(name, inputs, attrs as tf.NamedAttrMap) as tf.Tensor | tf.Tensor[];
    const cases: [string, string, () => tf.Tensor | tf.Tensor[]][] = [
      ["batch_norm", "FusedBatchNorm", () => tf.batchNorm(x, mean, variance, offset, scale, 1e-3)],
      ["batch_norm", "GancBatchNormTrain with relu", () => run("GancBatchNormTrain", { x, scale, offset }, { varianceEpsilon: 1e-5, activation: "relu" })],
      ["bn_grad_dx", "GancBatchNormGrad", () => run("GancBatchNormGrad", { dy, x, mean, r: variance, mh: offset, gamma: scale, into: dy }, { needDx: true })],
      ["relu_grad", "GancReluGrad", () => run("GancReluGrad", { dy, y: x })],
      ["relu_grad", "GancReluGrad with a slope (leaky relu)", () => run("GancReluGrad", { dy, y: x }, { alpha: 0.2 })],
      ["greater_scalar", "Greater", () => tf.greater(x, tf.scalar(0.25))],
      ["select", "Select", () => tf.where(tf.greater(x, tf.scalar(0)), x, dy)],
      ["upsample_nearest", "ResizeNearestNeighbor", () => tf.image.resizeNearestNeighbor(x as tf.Tensor4D, [64, 64])],
      ["expf", "Exp", () => tf.exp(x)],
    ];
    const bits = (r: tf.Tensor | tf.Tensor[]) =>
      (Array.isArray(r) ? r : [r]).map((t) => {
        const d = t.dataSync() as Float32Array | Uint8Array;
        return Buffer.from(d.buffer, d.byteOffset, d.byteLength).toString("base64");
      });
    for (const [kernel, label, f] of cases) {
      const old = setSplitMin(Infinity);
      const alone = tf.tidy(() => bits(f()));
      setSplitMin(old);
      const runs = splitRuns.get(kernel) ?? 0;
      const shared = tf.tidy(() => bits(f()));
      expect(splitRuns.get(kernel) ?? 0, `${label} ran on the helpers`).toBeGreaterThan(runs);
      expect(shared, label).toEqual(alone);
    }
    tf.dispose([x, dy, mean, variance, offset, scale]);
  }, 120_000);

  it("a kernel's work: multiply-adds for products and convolutions, elements for the rest", () => {
    const t = (...shape: number[]) => ({ shape });
    expect(kernelWork("BatchMatMul", { a: t(128, 128), b: t(128, 128) }, {})).toEqual({ products: 128 ** 3 });
    expect(kernelWork("_FusedMatMul", { a: t(64, 32), b: t(16, 64), bias: t(16) }, { transposeA: true, transposeB: true })).toEqual({ products: 32 * 16 * 64 });
    expect(kernelWork("BatchMatMul", { a: t(3, 5, 7), b: t(1, 7, 2) }, {})).toEqual({ products: 3 * 5 * 2 * 7 });
    // [64, 14, 14, 64] through a 5x5 filter to 32 channels, stride 2: 64*7*7 positions x 25 x 64 x 32
    expect(kernelWork("Conv2D", { x: t(64, 14, 14, 64), filter: t(5, 5, 64, 32) }, { strides: [2, 2] })).toEqual({ products: 64 * 7 * 7 * 25 * 64 * 32 });
    expect(kernelWork("Conv2DBackpropInput", { dy: t(64, 7, 7, 32), filter: t(5, 5, 64, 32) }, {})).toEqual({ products: 64 * 7 * 7 * 32 * 25 * 64 });
    expect(kernelWork("Conv2DBackpropFilter", { x: t(64, 14, 14, 64), dy: t(64, 7, 7, 32) }, { filterShape: [5, 5, 64, 32] })).toEqual({ products: 64 * 7 * 7 * 32 * 25 * 64 });
    expect(kernelWork("Add", { a: t(128, 128), b: t(128) }, {})).toEqual({ elements: 128 * 128 });
    // ring8's kernels run alone, the seed GAN's products and large element-wise kernels on the pool
    expect(poolPays({ products: 128 ** 3 })).toBe(false);
    expect(poolPays({ elements: 128 * 128 })).toBe(false);
    expect(poolPays({ products: 3136 * 1024 * 128 })).toBe(true);
    expect(poolPays({ elements: 64 * 14 * 14 * 64 })).toBe(true);
    expect(poolPays({ products: POOL_MIN_WORK.products })).toBe(true);
    expect(poolPays({ products: POOL_MIN_WORK.products - 1 })).toBe(false);
  });

  it("the address of tfjs's thread-pool global is read from its threaded module", () => {
    const dir = path.dirname(createRequire(import.meta.url).resolve("@tensorflow/tfjs-backend-wasm"));
    const addr = poolGlobalAddress(fs.readFileSync(path.join(dir, "tfjs-backend-wasm-threaded-simd.wasm")));
    expect(addr).toBeGreaterThan(0);
    expect(addr! % 4).toBe(0);
    expect(poolGlobalAddress(plain)).toBeUndefined(); // ganc's module exports no get_threads_count
  });

  it("on the threaded build, only large kernels get the pool, and a kernel computes the same with and without it", () => {
    const wasm = (tf.backend() as unknown as { wasm: { _get_threads_count(): number } }).wasm;
    const threads = helperThreads(tf.backend()) + 1;
    if (threads === 1) return; // one core: the single-threaded build, nothing to compare
    expect(wasm._get_threads_count()).toBe(-1); // between kernels: no pool
    const f = (shape: number[], seed: number) => tf.randomUniform(shape, -1, 1, "float32", seed);
    const cases: [string, () => tf.Tensor][] = [
      ["a 256x256x256 product", () => tf.matMul(f([256, 256], 1), f([256, 256], 2))],
      ["a transposed 300x200x100 product with a bias and relu", () => tf.fused.matMul({ a: f([100, 300], 3), b: f([200, 100], 4), transposeA: true, transposeB: true, bias: f([200], 5), activation: "relu" })],
      ["a 5x5 convolution", () => tf.conv2d(f([16, 14, 14, 32], 6) as tf.Tensor4D, f([5, 5, 32, 64], 7) as tf.Tensor4D, 2, "same")],
      ["an element-wise product of 2^19", () => tf.mul(f([512, 1024], 8), f([1024], 9))],
    ];
    try {
      for (const [what, make] of cases) {
        setPoolMinWork({ products: 0, elements: 0 });
        const before = { ...poolCounts };
        const pooled = tf.tidy(make);
        expect(poolCounts.pooled, what).toBeGreaterThan(before.pooled);
        setPoolMinWork({ products: Infinity, elements: Infinity });
        const mid = { ...poolCounts };
        const alone = tf.tidy(make);
        expect(poolCounts.pooled, what).toBe(mid.pooled);
        expect(poolCounts.alone, what).toBeGreaterThan(mid.alone);
        expect(Buffer.from(pooled.dataSync().buffer).equals(Buffer.from(alone.dataSync().buffer)), what).toBe(true);
        expect(wasm._get_threads_count()).toBe(-1);
        tf.dispose([pooled, alone]);
      }
    } finally {
      setPoolMinWork(POOL_MIN_WORK);
    }
    // the default thresholds: ring8's 128x128x128 runs alone, a 256x256x256 on the pool
    const before = { ...poolCounts };
    tf.tidy(() => tf.matMul(f([128, 128], 1), f([128, 128], 2)).dataSync());
    expect(poolCounts.pooled).toBe(before.pooled);
  });

  // The seed GAN (conv + dense, batch norm, Adam) trained 2 iterations without a native BLAS, with one
  // thread (tfjs's single-threaded SIMD build) and with two (its threaded build): same checkpoint bytes,
  // same sample grid. Two processes, since a process keeps the first wasm module it starts.
  it("training gives the same checkpoint bit for bit with 1 and 2 threads, and the backend line says how many", () => {
    const dir = tmpDir();
    const run = (threads: string) => {
      const out = path.join(dir, `t${threads}`);
      const r = ganc(["train", "specs/gan.gan", "--steps", "2", "--seed", "5", "--backend", "wasm", "--out", out, "--checkpoint-every", "2"], {
        env: { ...process.env, GANC_BLAS: "off", GANC_WASM_THREADS: threads },
        timeout: 600_000,
      });
      expect(r.code, r.stderr).toBe(0);
      return { out, stderr: r.stderr };
    };
    try {
      compare(run("1"), run("2"));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true }); // two checkpoints of ~160 MB
    }
  }, 900_000);
});

function compare(one: { out: string; stderr: string }, two: { out: string; stderr: string }): void {
  {
    expect(one.stderr).toMatch(/backend: wasm \(SIMD, 1 thread,/);
    expect(two.stderr).toMatch(/backend: wasm \(SIMD, 2 threads,/);
    const ckpt = "checkpoints/ckpt-00000002.ganckpt";
    const a = fs.readFileSync(path.join(one.out, ckpt));
    const b = fs.readFileSync(path.join(two.out, ckpt));
    expect(a.length).toBeGreaterThan(1_000_000); // the weights and Adam moments of both nets
    expect(a.equals(b)).toBe(true);
    expect(fs.readFileSync(path.join(one.out, "samples/latest.png")).equals(fs.readFileSync(path.join(two.out, "samples/latest.png")))).toBe(true);
  }
}
