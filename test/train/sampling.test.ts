import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { ganc, tmpDir } from "../helpers.ts";

const read = (file: string): { shape: number[]; data: number[] } => JSON.parse(fs.readFileSync(file, "utf8"));

describe("sampling in chunks (bounded memory for any -n)", () => {
  it("gives the values of one call on all n: bit for bit on cpu and on wasm without the BLAS, to rounding with it", () => {
    const dir = tmpDir();
    const out = path.join(dir, "run");
    // mlp-ema: the averaged weights are swapped in around all the chunks.
    expect(ganc(["train", "test/fixtures/mlp-ema.gan", "--out", out, "--steps", "2", "--quiet"]).code).toBe(0);
    const sample = (file: string, chunk: number, backend: string, env: NodeJS.ProcessEnv = {}) => {
      const r = ganc(["sample", out, "-n", "300", "-o", path.join(dir, file), "--backend", backend], { env: { ...process.env, ...env, GANC_SAMPLE_CHUNK: String(chunk) } });
      expect(r.code, r.stderr).toBe(0);
      return read(path.join(dir, file));
    };
    for (const [backend, env] of [["cpu", {}], ["wasm", { GANC_BLAS: "off" }]] as const) {
      const whole = sample(`${backend}-whole.json`, 100000, backend, env);
      const chunked = sample(`${backend}-chunked.json`, 64, backend, env);
      expect(chunked.shape).toEqual([300, 28, 28, 1]);
      expect(whole.shape).toEqual(chunked.shape);
      expect(chunked.data).toEqual(whole.data);
    }
    // OpenBLAS picks its kernels by the number of rows, so the last bit of a value may differ.
    const whole = sample("blas-whole.json", 100000, "wasm");
    const chunked = sample("blas-chunked.json", 64, "wasm");
    expect(chunked.data.length).toBe(whole.data.length);
    expect(chunked.data.reduce((m, v, i) => Math.max(m, Math.abs(v - whole.data[i]!)), 0)).toBeLessThanOrEqual(2e-6);
  }, 180_000);
});
