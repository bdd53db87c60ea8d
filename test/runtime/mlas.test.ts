import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { probeBlas } from "../../src/runtime/kernels/index.ts";
import { probeMlas } from "../../src/runtime/kernels/mlas.ts";
import { listCheckpoints, loadCheckpoint } from "../../src/runtime/checkpoint.ts";
import { ganc, ROOT, tmpDir } from "../helpers.ts";

// MLAS (ONNX Runtime's products, from the optional npm package onnxruntime-node) as the BLAS of machines
// without a system one. Its use inside the convolution and product kernels is tested in kernels.test.ts
// against float64, on every case, as for OpenBLAS.
const found = probeMlas(process.env);
if (!found.ok) console.warn(`mlas.test: MLAS not tested: ${found.reason}`);

/** A deterministic generator of floats in [-1, 1). */
function random(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 31 - 1;
  };
}

describe.skipIf(!found.ok)("MLAS as the BLAS", () => {
  const blas = found.ok ? found.blas : undefined!;

  /** max |C - float64 reference| / max |reference| for one sgemm call, and whether C's padding was left alone. */
  function check(transA: boolean, transB: boolean, m: number, n: number, k: number, beta: number, pad: number) {
    const rand = random(m * 31 + n * 7 + k + (transA ? 1 : 0) + (transB ? 2 : 0));
    const lda = (transA ? m : k) + pad;
    const ldb = (transB ? k : n) + pad;
    const ldc = n + pad;
    const a = Float32Array.from({ length: (transA ? k : m) * lda }, rand);
    const b = Float32Array.from({ length: (transB ? n : k) * ldb }, rand);
    const c0 = Float32Array.from({ length: m * ldc }, rand);
    const c = c0.slice();
    blas.sgemm(transA, transB, m, n, k, a, lda, b, ldb, beta, c, ldc);
    let err = 0;
    let scale = 0;
    let padTouched = 0;
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < ldc; j++) {
        if (j >= n) {
          if (!Object.is(c[i * ldc + j], c0[i * ldc + j])) padTouched++;
          continue;
        }
        let s = beta * c0[i * ldc + j]!;
        for (let p = 0; p < k; p++) s += (transA ? a[p * lda + i]! : a[i * lda + p]!) * (transB ? b[j * ldb + p]! : b[p * ldb + j]!);
        err = Math.max(err, Math.abs(s - c[i * ldc + j]!));
        scale = Math.max(scale, Math.abs(s));
      }
    }
    return { rel: err / scale, padTouched };
  }

  for (const transA of [false, true]) {
    for (const transB of [false, true]) {
      it(`C = ${transA ? "A^T" : "A"} ${transB ? "B^T" : "B"} (+ C), with and without padded rows, against float64`, () => {
        for (const beta of [0, 1]) {
          for (const pad of [0, 3]) {
            for (const [m, n, k] of [[1, 1, 1], [5, 7, 3], [33, 17, 64], [96, 70, 300]]) {
              const r = check(transA, transB, m!, n!, k!, beta, pad);
              expect(r.rel, `${m}x${n}x${k} beta ${beta} pad ${pad}`).toBeLessThan(1e-6);
              expect(r.padTouched).toBe(0);
            }
          }
        }
      });
    }
  }

  it("long reductions and products large enough for every thread (the seed GAN's shapes)", () => {
    expect(check(false, false, 64, 32, 6272, 0, 0).rel).toBeLessThan(1e-5);
    expect(check(true, false, 512, 64, 1024, 1, 0).rel).toBeLessThan(1e-5);
    expect(check(false, true, 784, 128, 256, 0, 0).rel).toBeLessThan(1e-5);
  });

  it("an empty sum clears C (beta 0) or leaves it (beta 1); an empty C is left alone", () => {
    const a = new Float32Array(0);
    const c = Float32Array.of(1, 2, 3, 4, 5, 6);
    blas.sgemm(false, false, 2, 2, 0, a, 0, a, 2, 1, c, 3);
    expect(Array.from(c)).toEqual([1, 2, 3, 4, 5, 6]);
    blas.sgemm(false, false, 2, 2, 0, a, 0, a, 2, 0, c, 3);
    expect(Array.from(c)).toEqual([0, 0, 3, 0, 0, 6]);
    blas.sgemm(false, false, 0, 2, 4, a, 4, Float32Array.of(1, 2, 3, 4, 5, 6, 7, 8), 2, 0, c, 3);
    expect(Array.from(c)).toEqual([0, 0, 3, 0, 0, 6]);
  });

  it("the same product twice gives the same bits (the run's checkpoints depend on it)", () => {
    const rand = random(5);
    const a = Float32Array.from({ length: 300 * 500 }, rand);
    const b = Float32Array.from({ length: 500 * 200 }, rand);
    const c1 = new Float32Array(300 * 200);
    const c2 = new Float32Array(300 * 200);
    blas.sgemm(false, false, 300, 200, 500, a, 500, b, 200, 0, c1, 200);
    blas.sgemm(false, false, 300, 200, 500, a, 500, b, 200, 0, c2, 200);
    expect(Buffer.from(c1.buffer).equals(Buffer.from(c2.buffer))).toBe(true);
  });

  it("runs on every core by default, on GANC_BLAS_THREADS where set, with the same bits on any number of threads", () => {
    expect(blas.threads).toBeGreaterThanOrEqual(1);
    const one = probeMlas({ GANC_BLAS_THREADS: "1" });
    expect(one.ok && one.blas.threads).toBe(1);
    if (!one.ok) return;
    // MLAS splits C among its threads, never a sum: so small products (on one thread, as on OpenBLAS) and
    // large ones give what any thread count gives
    const rand = random(11);
    for (const [m, n, k] of [[300, 200, 500], [64, 64, 64]]) {
      const a = Float32Array.from({ length: m! * k! }, rand);
      const b = Float32Array.from({ length: k! * n! }, rand);
      const many = new Float32Array(m! * n!);
      const single = new Float32Array(m! * n!);
      blas.sgemm(false, true, m!, n!, k!, a, k!, b, k!, 0, many, n!);
      one.blas.sgemm(false, true, m!, n!, k!, a, k!, b, k!, 0, single, n!);
      expect(Buffer.from(many.buffer).equals(Buffer.from(single.buffer))).toBe(true);
    }
  });
});

describe("choosing MLAS", () => {
  it("is what a machine without a system BLAS gets, and GANC_BLAS=mlas asks for it", () => {
    const none = probeBlas({}, []);
    const asked = probeBlas({ GANC_BLAS: "mlas" });
    if (found.ok) {
      expect(none.ok && none.blas.name).toMatch(/^MLAS \(onnxruntime-node 1\.20\.1\)$/);
      expect(asked.ok && asked.blas.name).toMatch(/^MLAS /);
    } else {
      // without the package, both reasons
      expect(!none.ok && none.reason).toMatch(/no OpenBLAS, BLIS or MKL library found.*; .*onnxruntime-node/);
    }
  });

  it("GANC_BLAS=off and a library named by GANC_BLAS have no stand-in", () => {
    expect(probeBlas({ GANC_BLAS: "off" }, [])).toEqual({ ok: false, reason: "turned off by GANC_BLAS" });
    const named = probeBlas({ GANC_BLAS: "/nonexistent/libopenblas.so.0" }, []);
    expect(named.ok).toBe(false);
    if (!named.ok) expect(named.reason).not.toMatch(/MLAS|onnxruntime/);
  });

  it.skipIf(!found.ok)("a library that is not ONNX Runtime, or missing, is a reason, not a crash", () => {
    const missing = probeMlas({}, "/nonexistent/libonnxruntime.so.1.20.1");
    expect(missing.ok).toBe(false);
    if (!missing.ok) expect(missing.reason).toMatch(/^onnxruntime-node 1\.20\.1 could not be used: .*nonexistent/);
    const other = probeMlas({}, process.platform === "linux" ? "libc.so.6" : "/nonexistent");
    expect(other.ok).toBe(false);
    if (!other.ok) expect(other.reason).toMatch(/could not be used/);
  });
});

/**
 * The seed GAN narrowed as in test/opt/equivalence.test.ts (its long reductions kept: G's first dense layer
 * 1024 wide, D's convs 64 and 128 channels and its dense layer reading the 6,272 features), trained on MLAS
 * with the convolutions as im2col products on it (GANC_DNNL=off): what a plain `npm install` gets.
 */
describe.skipIf(!found.ok)("training on MLAS", () => {
  const dir = tmpDir("ganc-mlas-");
  const spec = path.join(dir, "gan.gan");
  fs.writeFileSync(
    spec,
    fs
      .readFileSync(path.join(ROOT, "specs/gan.gan"), "utf8")
      .replace("dense 7*7*128,", "dense 7*7*8,")
      .replace("reshape [7, 7, 128]", "reshape [7, 7, 8]")
      .replace("deconv 64 ", "deconv 8 ")
      .replace("flatten, dense 1024,", "flatten, dense 8,"),
  );
  const env = { ...process.env, GANC_BLAS: "mlas", GANC_DNNL: "off" };
  const train = (out: string, ...args: string[]) => {
    const r = ganc(["train", spec, "--batch", "8", "--seed", "3", "--backend", "wasm", "--out", path.join(dir, out), "--checkpoint-every", "3", ...args], { env });
    expect(r.code, r.stderr).toBe(0);
    return r;
  };
  const weights = (out: string) => {
    const ckpt = loadCheckpoint(listCheckpoints(path.join(dir, out, "checkpoints")).pop()!.file);
    return new Map(ckpt.tensors.map((t) => [t.name, Buffer.from(new Float32Array(t.data as ArrayLike<number>).buffer)]));
  };
  const same = (a: Map<string, Buffer>, b: Map<string, Buffer>) => {
    expect([...a.keys()].sort()).toEqual([...b.keys()].sort());
    const differ = [...a].filter(([name, bytes]) => !bytes.equals(b.get(name)!)).map(([name]) => name);
    expect(differ).toEqual([]);
  };

  it("the backend line names it; the optimized trainer equals --no-opt bit for bit; a resumed run equals an unbroken one", () => {
    const r = train("opt", "--steps", "6");
    expect(r.stderr).toMatch(/matmul\/conv on MLAS \(onnxruntime-node 1\.20\.1\), \d+ threads?; convolutions by im2col and sgemm/);
    const opt = weights("opt");
    train("ref", "--steps", "6", "--no-opt");
    same(opt, weights("ref"));
    train("broken", "--steps", "3");
    train("broken", "--resume", "--steps", "6");
    same(opt, weights("broken"));
  }, 240_000);
});
