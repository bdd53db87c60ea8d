import { firstLine, isOff, namesFile, openMpThreads, requireKoffi, withOpenMpSettings, type Koffi, type KoffiLib } from "./ffi.ts";
import { probeMlas } from "./mlas.ts";

/**
 * A native BLAS (OpenBLAS, BLIS or MKL), reached through koffi, an FFI library that ships its
 * prebuilt binaries inside its npm package. Both are optional: without them the wasm kernels run
 * every product. With them, the matrix products of dense layers and convolutions (the bulk of a
 * GAN's arithmetic) run as multi-threaded native sgemm on the tensors' own memory (the wasm heap),
 * with no copies in or out.
 *
 * Where no such library is installed, MLAS from the optional npm package onnxruntime-node takes its
 * place (mlas.ts), so that a plain `npm install` gets native products too.
 *
 * GANC_BLAS=off disables both; GANC_BLAS=<file> loads that library instead of searching;
 * GANC_BLAS=mlas uses MLAS even where a system BLAS is installed; GANC_BLAS_THREADS=<n> sets
 * the library's thread count (default: OpenBLAS's own, all cores).
 *
 * Small products run on one thread (see SMALL_PRODUCT): handing a 128x128x128 product to a second
 * OpenBLAS thread costs more than the half of its ~40 us it saves (ring8's products, bench/README.md).
 */
export interface Blas {
  /** e.g. "OpenBLAS 0.3.21" */
  name: string;
  /** The library file that was loaded. */
  file: string;
  /** Threads the library uses, where it can tell (OpenBLAS). */
  threads: number | undefined;
  /**
   * Row-major C[m x n] = op(A) . op(B) + beta * C, op(X) = X^T when its flag is set. Offsets are
   * in elements into the given arrays; leading dimensions as in CBLAS.
   */
  sgemm(
    transA: boolean,
    transB: boolean,
    m: number,
    n: number,
    k: number,
    a: Float32Array,
    lda: number,
    b: Float32Array,
    ldb: number,
    beta: number,
    c: Float32Array,
    ldc: number,
  ): void;
}

export type BlasResult = { ok: true; blas: Blas } | { ok: false; reason: string };

/**
 * Libraries with an optimised sgemm. Debian's reference libblas.so.3 also exports cblas_sgemm but
 * is an order of magnitude slower than the wasm kernels, so it is never picked by the search.
 */
const CANDIDATES = [
  "libopenblas.so.0",
  "libopenblas.so",
  "/usr/lib/x86_64-linux-gnu/openblas-openmp/libopenblas.so.0",
  "/usr/lib/x86_64-linux-gnu/openblas-pthread/libopenblas.so.0",
  "/usr/lib/aarch64-linux-gnu/openblas-openmp/libopenblas.so.0",
  "/usr/lib/aarch64-linux-gnu/openblas-pthread/libopenblas.so.0",
  "libblis.so.4",
  "libmkl_rt.so.2",
  "libmkl_rt.so",
  "/opt/homebrew/opt/openblas/lib/libopenblas.dylib",
  "/usr/local/opt/openblas/lib/libopenblas.dylib",
];

/**
 * Products with m*n*k below this run on one OpenBLAS thread, larger ones on all of the library's
 * threads (OpenBLAS itself goes multi-threaded above 64^3). 2^22 is between ring8's 128x128x128
 * products (2.1M, faster and cheaper on one thread: bench/blas-threads.ts) and 192x192x192 (7.1M).
 */
export const SMALL_PRODUCT = 1 << 22;

/** The OpenBLAS threads an m x n x k product runs on, of the library's `threads`. */
export function productThreads(threads: number, m: number, n: number, k: number): number {
  return m * n * k < SMALL_PRODUCT ? 1 : threads;
}

/** GANC_BLAS_THREADS as a thread count, or undefined where it is not set to one. */
export function threadsSetting(env: NodeJS.ProcessEnv): number | undefined {
  const wanted = Number.parseInt(env.GANC_BLAS_THREADS ?? "", 10);
  return Number.isInteger(wanted) && wanted > 0 ? wanted : undefined;
}

/** C = beta * C for an sgemm whose sums are empty (k = 0), rows of C only (not the padding between them). */
export function emptySum(m: number, n: number, beta: number, c: Float32Array, ldc: number): void {
  if (beta === 1) return;
  for (let i = 0; i < m; i++) {
    if (beta === 0) c.fill(0, i * ldc, i * ldc + n);
    else for (let j = i * ldc; j < i * ldc + n; j++) c[j]! *= beta;
  }
}

const ROW_MAJOR = 101;
const NO_TRANS = 111;
const TRANS = 112;

let cached: BlasResult | undefined;

/** Loads the BLAS once per process (the answer, with the reason when there is none, is cached). */
export function loadBlas(env: NodeJS.ProcessEnv = process.env): BlasResult {
  if (cached === undefined) cached = probeBlas(env);
  return cached;
}

/**
 * What loadBlas would answer for `env`, without the cache (a library already loaded stays loaded).
 * `candidates`: the system libraries searched for (tests pass none to see the machine without them).
 */
export function probeBlas(env: NodeJS.ProcessEnv, candidates: readonly string[] = CANDIDATES): BlasResult {
  const setting = (env.GANC_BLAS ?? "").trim();
  if (isOff(setting)) return { ok: false, reason: "turned off by GANC_BLAS" };
  if (/^mlas$/i.test(setting)) return probeMlas(env);
  const found = requireKoffi();
  if (!found.ok) return orMlas(found.reason, setting, env);
  const koffi = found.koffi;
  return withOpenMpSettings(() => loadFirst(koffi, setting, env, candidates));
}

function loadFirst(koffi: Koffi, setting: string, env: NodeJS.ProcessEnv, candidates: readonly string[]): BlasResult {
  const files = namesFile(setting) ? [setting] : candidates;
  const failures: string[] = [];
  for (const file of files) {
    let lib: KoffiLib;
    try {
      lib = koffi.load(file);
    } catch (err) {
      failures.push(`${file}: ${firstLine(err)}`);
      continue;
    }
    try {
      return { ok: true, blas: bind(koffi, lib, file, env) };
    } catch (err) {
      failures.push(`${file}: ${firstLine(err)}`);
    }
  }
  if (setting !== "" && files.length === 1) return { ok: false, reason: `GANC_BLAS=${setting} could not be used: ${failures[0]}` };
  return orMlas("no OpenBLAS, BLIS or MKL library found (Debian: apt-get install libopenblas0-openmp)", setting, env);
}

/** Without a system BLAS, MLAS; without either, both reasons. A library named by GANC_BLAS has no stand-in. */
function orMlas(reason: string, setting: string, env: NodeJS.ProcessEnv): BlasResult {
  if (namesFile(setting)) return { ok: false, reason };
  const mlas = probeMlas(env);
  return mlas.ok ? mlas : { ok: false, reason: `${reason}; ${mlas.reason}` };
}

function bind(koffi: Koffi, lib: KoffiLib, file: string, env: NodeJS.ProcessEnv): Blas {
  const gemm = lib.func(
    "void cblas_sgemm(int order, int transA, int transB, int m, int n, int k, float alpha, " +
      "const float *a, int lda, const float *b, int ldb, float beta, _Inout_ float *c, int ldc)",
  ) as (...args: unknown[]) => void;
  const optional = (decl: string): ((...args: unknown[]) => unknown) | undefined => {
    try {
      return lib.func(decl) as (...args: unknown[]) => unknown;
    } catch {
      return undefined;
    }
  };
  const config = optional("const char *openblas_get_config()");
  const getThreads = optional("int openblas_get_num_threads()");
  const setThreads = optional("void openblas_set_num_threads(int n)");
  const wanted = threadsSetting(env);
  if (setThreads !== undefined && wanted !== undefined) setThreads(wanted);
  const version = config !== undefined ? /OpenBLAS\s+[\d.]+/.exec(String(config()))?.[0] : undefined;
  const name = version ?? (/blis/i.test(file) ? "BLIS" : /mkl/i.test(file) ? "MKL" : file);
  const threads = getThreads !== undefined ? Number(getThreads()) : undefined;
  // The thread count set last: set again only when a product on the other side of SMALL_PRODUCT
  // comes (one call through koffi, about a microsecond; a trainer's products are mostly all small
  // or all large, so this rarely happens more than a few times an iteration). In OpenBLAS's OpenMP
  // build (openblas_get_parallel() 2) the count is OpenMP's, which oneDNN sets too: then the record is
  // the one both keep (ffi.ts, openMpThreads), so that every product of a shape runs on the same threads.
  const parallel = optional("int openblas_get_parallel()");
  const record = parallel !== undefined && Number(parallel()) === 2 ? openMpThreads : { last: undefined as number | undefined };
  record.last = threads;

  return {
    name,
    file,
    threads,
    sgemm(transA, transB, m, n, k, a, lda, b, ldb, beta, c, ldc) {
      if (m === 0 || n === 0) return;
      if (k === 0) return emptySum(m, n, beta, c, ldc);
      if (setThreads !== undefined && threads !== undefined && threads > 1) {
        const want = productThreads(threads, m, n, k);
        if (want !== record.last) {
          setThreads(want);
          record.last = want;
        }
      }
      gemm(ROW_MAJOR, transA ? TRANS : NO_TRANS, transB ? TRANS : NO_TRANS, m, n, k, 1, a, lda, b, ldb, beta, c, ldc);
    },
  };
}
