import { describe, expect, it } from "vitest";
import { loadBlas, probeBlas } from "../../src/runtime/kernels/index.ts";
import * as path from "node:path";
import { ganc, tmpDir } from "../helpers.ts";

// What the wasm backend does about a native BLAS, whatever this machine has.
describe("finding the native BLAS", () => {
  it("GANC_BLAS=off turns it off, saying so", () => {
    expect(probeBlas({ GANC_BLAS: "off" })).toEqual({ ok: false, reason: "turned off by GANC_BLAS" });
    expect(probeBlas({ GANC_BLAS: "0" })).toEqual({ ok: false, reason: "turned off by GANC_BLAS" });
  });

  it("a library named by GANC_BLAS that cannot be loaded is a reason naming it, not a crash", () => {
    const r = probeBlas({ GANC_BLAS: "/nonexistent/libopenblas.so.0" });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason).toMatch(/^GANC_BLAS=\/nonexistent\/libopenblas\.so\.0 could not be used: /);
  });

  it("a library without cblas_sgemm is refused", () => {
    const r = probeBlas({ GANC_BLAS: "libc.so.6" });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason).toMatch(/cblas_sgemm/);
  });

  const found = loadBlas();
  it.skipIf(!found.ok)("where one is installed, its sgemm computes a row-major product with transposes", () => {
    if (!found.ok) return;
    expect(found.blas.name).toMatch(/\S/);
    const a = new Float32Array([1, 2, 3, 4, 5, 6]); // [2, 3]
    const b = new Float32Array([1, 0, 2, 0, 1, 1]); // [2, 3], used transposed: [3, 2]
    const c = new Float32Array(4);
    found.blas.sgemm(false, true, 2, 2, 3, a, 3, b, 3, 0, c, 2);
    expect(Array.from(c)).toEqual([1 + 6, 2 + 3, 4 + 12, 5 + 6]);
  });

  it("the trainer's backend line says when the BLAS is off", () => {
    const r = ganc(["train", "test/fixtures/ring8.gan", "--steps", "1", "--out", path.join(tmpDir(), "run"), "--backend", "wasm"], {
      env: { ...process.env, GANC_BLAS: "off" },
    });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/backend: wasm \(.*no native BLAS: turned off by GANC_BLAS\)/);
  }, 60_000);
});
