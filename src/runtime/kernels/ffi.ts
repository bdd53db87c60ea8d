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

/** A loader's setting (GANC_BLAS, GANC_DNNL) that turns it off. */
export const isOff = (setting: string): boolean => /^(off|0|false|no|none)$/i.test(setting);

/** A setting that names a library file rather than turning the search on. */
export const namesFile = (setting: string): boolean => setting !== "" && !/^(on|auto|1|true|yes)$/i.test(setting);

export function firstLine(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split("\n")[0]!.trim();
}
