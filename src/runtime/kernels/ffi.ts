import { createRequire } from "node:module";

/**
 * What the native-library loaders (blas.ts, dnnl.ts) share: koffi, the optional FFI package they reach their
 * libraries through, and how they read their environment variable and report a failure.
 */
export interface KoffiLib {
  func(decl: string): unknown;
}
export interface Koffi {
  load(file: string): KoffiLib;
  struct(name: string, members: Record<string, string>): unknown;
  decode(value: unknown, type: unknown, length?: number): unknown;
  proto(decl: string): unknown;
}

/** koffi, or why not (it is an optional dependency). */
export function requireKoffi(): { ok: true; koffi: Koffi } | { ok: false; reason: string } {
  try {
    return { ok: true, koffi: createRequire(import.meta.url)("koffi") as Koffi };
  } catch (err) {
    return { ok: false, reason: `the optional package koffi is not installed (${firstLine(err)})` };
  }
}

/**
 * The calling thread's OpenMP thread count as ganc's loaders last set it, where OpenBLAS's threads are OpenMP's
 * (its OpenMP build): openblas_set_num_threads sets that count, oneDNN reads it, and OpenBLAS takes it over
 * again before each product when someone else changed it. blas.ts runs small products on one thread and dnnl.ts
 * puts the count back before each convolution; each must know what the other did, or a small product after a
 * convolution runs on the convolution's threads. That is not only slower: OpenBLAS's sums for a shape can
 * depend on its thread count (on its Haswell and Zen kernels, an 8x1024x62 product gave other bits on one
 * thread than on two), so the same product in two places of a trainer gave two answers.
 */
export const openMpThreads: { last: number | undefined } = { last: undefined };

/** A loader's setting (GANC_BLAS, GANC_DNNL) that turns it off. */
export const isOff = (setting: string): boolean => /^(off|0|false|no|none)$/i.test(setting);

/** A setting that names a library file rather than turning the search on. */
export const namesFile = (setting: string): boolean => setting !== "" && !/^(on|auto|1|true|yes)$/i.test(setting);

export function firstLine(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split("\n")[0]!.trim();
}

/**
 * Runs `load` (a native library's first load) with ganc's OpenMP setting in the environment, where libgomp
 * reads it when the first library that needs it (OpenBLAS's OpenMP build, oneDNN) loads: OpenMP's helper
 * threads spin for about 0.2 ms after a parallel region before they sleep (GOMP_SPINCOUNT, about 100,000
 * iterations a millisecond). Sleeping at once (OMP_WAIT_POLICY=PASSIVE, which ganc set before it ran oneDNN)
 * cost a wake-up of 50-100 us per region, and oneDNN's convolutions come as many short regions with a little
 * single-threaded work between them; libgomp's default (about 3 ms) wakes them as seldom but spins through
 * the longer single-threaded stretches too. Reduced sngan_resnet, four alternating rounds, median ms (CPU
 * ms): PASSIVE 788 (1,116), this 636 (1,037), the default 646 (1,264). A value the user set (either
 * variable) is kept; ours is removed again afterwards, so that child processes (PyTorch in the benchmark)
 * keep their own default.
 */
export function withOpenMpSettings<T>(load: () => T): T {
  const set = process.env.OMP_WAIT_POLICY === undefined && process.env.GOMP_SPINCOUNT === undefined;
  if (set) process.env.GOMP_SPINCOUNT = "20000";
  try {
    return load();
  } finally {
    if (set) delete process.env.GOMP_SPINCOUNT;
  }
}
