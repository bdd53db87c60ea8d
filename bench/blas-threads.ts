/**
 * One OpenBLAS sgemm per shape on 1 and on 2 threads, alternating (1, 2, 1, 2), through koffi as the
 * runtime calls it: wall time per product (median and fastest) and CPU time per product (all threads),
 * and whether the two thread counts give the same bits. Used to place SMALL_PRODUCT
 * (src/runtime/kernels/blas.ts), the size under which products run on one thread.
 *
 *   nice node bin/run-ts.mjs bench/blas-threads.ts
 */
import { createRequire } from "node:module";
import { probeBlas } from "../src/runtime/kernels/index.ts";

const found = probeBlas(process.env);
if (!found.ok) {
  console.error(`no BLAS: ${found.reason}`);
  process.exit(1);
}
type Fn = (...args: unknown[]) => unknown;
const koffi = createRequire(import.meta.url)("koffi") as { load(file: string): { func(decl: string): Fn } };
const lib = koffi.load(found.blas.file);
const gemm = lib.func(
  "void cblas_sgemm(int order, int transA, int transB, int m, int n, int k, float alpha, const float *a, int lda, const float *b, int ldb, float beta, _Inout_ float *c, int ldc)",
);
const setThreads = lib.func("void openblas_set_num_threads(int n)");
const shapes = [[128, 128, 128], [128, 128, 8], [128, 2, 128], [192, 192, 192], [256, 256, 256], [128, 512, 512], [384, 384, 384], [512, 512, 512], [3136, 128, 1024]] as const;
console.log(`${found.blas.name} (${found.blas.file}); load average ${(await import("node:os")).loadavg()[0]!.toFixed(1)}`);
for (const [m, n, k] of shapes) {
  const a = Float32Array.from({ length: m * k }, () => Math.random());
  const b = Float32Array.from({ length: k * n }, () => Math.random());
  const c = new Float32Array(m * n);
  const res: string[] = [];
  const outs: Float32Array[] = [];
  for (const t of [1, 2, 1, 2]) {
    setThreads(t);
    const reps = Math.max(5, Math.min(2000, Math.floor(2e9 / (m * n * k))));
    for (let i = 0; i < 3; i++) gemm(101, 111, 111, m, n, k, 1, a, k, b, n, 0, c, n);
    const times: number[] = [];
    const cpu0 = process.cpuUsage();
    for (let i = 0; i < reps; i++) {
      const t0 = process.hrtime.bigint();
      gemm(101, 111, 111, m, n, k, 1, a, k, b, n, 0, c, n);
      times.push(Number(process.hrtime.bigint() - t0) / 1e3);
    }
    const cpu = process.cpuUsage(cpu0);
    times.sort((x, y) => x - y);
    res.push(`${t} thread${t > 1 ? "s" : ""}: ${times[times.length >> 1]!.toFixed(1)} us (fastest ${times[0]!.toFixed(1)}), CPU ${((cpu.user + cpu.system) / reps).toFixed(1)} us`);
    outs.push(c.slice());
  }
  const same = Buffer.from(outs[0]!.buffer).equals(Buffer.from(outs[1]!.buffer));
  console.log(`${m}x${n}x${k} (${((m * n * k) / 1e6).toFixed(2)}M multiply-adds, same bits: ${same ? "yes" : "no"}) | ${res.join(" | ")}`);
}
