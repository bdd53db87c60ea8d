import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { GANC_WASM_BASE64 } from "../../src/runtime/kernels/wasm/ganc.wasm.ts";
import { withSharedMemoryImport } from "../../src/runtime/kernels/wasm/index.ts";
import { wantedThreads } from "../../src/runtime/wasm-threads.ts";
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
    const one = run("1");
    const two = run("2");
    expect(one.stderr).toMatch(/backend: wasm \(SIMD, 1 thread,/);
    expect(two.stderr).toMatch(/backend: wasm \(SIMD, 2 threads,/);
    const ckpt = "checkpoints/ckpt-00000002.ganckpt";
    const a = fs.readFileSync(path.join(one.out, ckpt));
    const b = fs.readFileSync(path.join(two.out, ckpt));
    expect(a.length).toBeGreaterThan(1_000_000); // the weights and Adam moments of both nets
    expect(a.equals(b)).toBe(true);
    expect(fs.readFileSync(path.join(one.out, "samples/latest.png")).equals(fs.readFileSync(path.join(two.out, "samples/latest.png")))).toBe(true);
  }, 900_000);
});
