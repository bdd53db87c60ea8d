import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ganc, readJsonl, removeTmpDirs, tmpDir } from "../helpers.ts";
import { skipNote, webgpuDevice } from "../webgpu.ts";

const gpu = webgpuDevice();
skipNote("the webgpu backend's tests", gpu);
afterAll(removeTmpDirs);

describe("the webgpu backend where Dawn finds no adapter", () => {
  it("ganc train --backend webgpu stops with one line saying so, and writes no run", () => {
    const out = path.join(tmpDir(), "run");
    const none = path.join(tmpDir(), "no-such-driver.json");
    const r = ganc(["train", "specs/ring8.gan", "--steps", "1", "--backend", "webgpu", "--out", out], {
      env: { ...process.env, VK_DRIVER_FILES: none, VK_ICD_FILENAMES: none, XDG_RUNTIME_DIR: "/tmp" },
    });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/backend 'webgpu' is unavailable: (no WebGPU adapter \(Dawn found no usable Vulkan, Metal or D3D12 device\)|webgpu is not installed: npm install webgpu)/);
    // no stack trace of ours (Dawn itself prints its Vulkan warnings with the C++ source line)
    expect(r.stderr).not.toMatch(/\n\s+at .*\.(ts|js|mjs|cjs):\d+/);
    expect(fs.existsSync(path.join(out, "checkpoints"))).toBe(false);
  });
});

describe.skipIf(gpu.env === null)(`the webgpu backend in Node (Dawn on ${gpu.adapter || "no adapter"})`, () => {
  it("ganc train --backend webgpu names its adapter; with ganc's WGSL kernels (batch norm, spectral norm, relu's gradient, Adam) an optimized trainer keeps to --no-opt's and the cpu backend's losses", () => {
    // ring8 with batch norm in both nets, relu and leaky relu, spectral norm in D: every kernel of
    // src/runtime/kernels/webgpu/ runs
    const dir = tmpDir();
    const spec = path.join(dir, "bn8.gan");
    fs.writeFileSync(
      spec,
      fs
        .readFileSync("specs/ring8.gan", "utf8")
        .replace('gan "ring8"', 'gan "bn8"')
        .replace("dense 128, relu\n  dense 128, relu", "dense 64, batchnorm, relu\n  dense 64, batchnorm, relu")
        .replace("dense 128, lrelu 0.2\n  dense 128, lrelu 0.2", "dense 64 sn=true, lrelu 0.2\n  dense 64 sn=true, batchnorm, lrelu 0.2"),
    );
    expect(fs.readFileSync(spec, "utf8").match(/batchnorm/g)).toHaveLength(3);
    expect(fs.readFileSync(spec, "utf8").match(/sn=true/g)).toHaveLength(2);
    const stderr: Record<string, string> = {};
    const train = (name: string, args: string[]) => {
      const out = path.join(dir, name);
      const r = ganc(["train", spec, "--steps", "4", "--log-every", "1", "--out", out, ...args], { env: gpu.env! });
      expect(r.stderr + r.stdout).toContain("done at iteration 4");
      stderr[name] = r.stderr;
      return readJsonl(path.join(out, "metrics.jsonl"));
    };
    const optimized = train("opt", ["--backend", "webgpu", "--stats", path.join(dir, "stats.json"), "--stats-iteration", "3"]);
    const reference = train("no-opt", ["--backend", "webgpu", "--no-opt"]);
    const cpu = train("cpu", ["--backend", "cpu"]);
    // tfjs-backend-webgpu registers itself only where navigator.gpu exists when its module loads: before Dawn was
    // installed first, this said "Backend name 'webgpu' not found in registry"
    expect(stderr.opt).toContain(`backend: webgpu (Dawn, ${gpu.adapter.split(" ")[0]}`);
    expect(stderr.opt).toContain("ganc training kernels)");
    const stats = JSON.parse(fs.readFileSync(path.join(dir, "stats.json"), "utf8")) as { byKernel: Record<string, unknown>; dispatches: number; kernels: number };
    for (const k of ["GancAdam", "GancBatchNormTrain", "GancBatchNormGrad", "GancReluGrad", "GancBnFactors", "GancMovingAverages"]) expect(stats.byKernel).toHaveProperty(k);
    // the spectral-norm ops ran (under their weights' names), and without the stock power step's tf.norm chains
    // (Pow, Sqrt): GancPowerStep runs below the engine, with no name in the profile
    expect(Object.keys(stats.byKernel).filter((k) => k.startsWith("sn "))).toHaveLength(2);
    for (const k of ["Pow", "Sqrt"]) expect(stats.byKernel).not.toHaveProperty(k);
    expect(stats.dispatches).toBeGreaterThan(0);
    expect(optimized.map((m) => m.step)).toEqual([1, 2, 3, 4]);
    for (const [i, m] of optimized.entries()) {
      for (const key of ["d", "d_real", "d_fake", "g"]) {
        // the kernels sum in another order than tfjs's reductions: float32 roundings apart, not bits
        for (const other of [reference, cpu]) expect(Math.abs(m[key]! - other[i]![key]!)).toBeLessThan(1e-6 * Math.abs(other[i]![key]!));
      }
    }
  });
});
