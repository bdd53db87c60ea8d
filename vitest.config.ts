import { defineConfig } from "vitest/config";
import { BaseSequencer, type TestSpecification } from "vitest/node";
import { useChromiumVulkanLoader } from "./test/vulkan-loader.ts";

// Dawn's Vulkan loader for the webgpu tests, before any test process starts (test/vulkan-loader.ts says why).
useChromiumVulkanLoader(import.meta.dirname);

/**
 * The slowest test files, in seconds of a fresh-clone CI run (2 cores). vitest runs the files it has no
 * timings for (a fresh clone) largest first; these are mostly small files that wait on trainer processes,
 * so they came last and the run ended with one of them alone on the machine (ring8-modes-wasm ran its last
 * 43 s by itself). Started first, the short files fill in around them. Files not listed keep vitest's order
 * after these; a file that is renamed or gone is simply not matched.
 */
const SLOW_FIRST = [
  "test/pytorch/ddp.test.ts", // 134
  "test/opt/equivalence.test.ts", // 101
  "test/train/ring8-modes-wasm.test.ts", // 95
  "test/runtime/webgpu.test.ts", // 45 (SwiftShader)
  "test/pytorch/oracle.test.ts", // 87
  "test/variants/check-train.test.ts", // 76
  "test/train/reliability.test.ts", // 71
  "test/tools/export.test.ts", // 69
  "test/ui/playground-browser.test.ts", // 66
  "test/train/ring8-modes-blas.test.ts", // 61
  "test/variants/variants.test.ts", // 58
  "test/pytorch/checkpoint-crossing.test.ts", // 53
  "test/cli/startup.test.ts", // 48
  "test/train/runfolder.test.ts", // 47
  "test/train/style-mixing.test.ts", // 44
  "test/cli/cli.test.ts", // 34
  "test/opt/stats.test.ts", // 32
  "test/train/train.test.ts", // 32
  "test/train/lazy.test.ts", // 29
  "test/train/sampling.test.ts", // 26
  "test/tools/report.test.ts", // 26
  "test/runtime/wasm-threads.test.ts", // 25
  "test/train/diffaug-run.test.ts", // 22
];

/** Test folders of the compiler alone (no training, no backend): run without a fresh process per file. */
const COMPILER = ["test/parser", "test/codegen", "test/lsp", "test/functions", "test/format", "test/errors", "test/editors", "test/golden", "test/data", "test/layers"];

class SlowFirstSequencer extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files);
    const rank = (f: TestSpecification) => {
      const rel = f.moduleId.slice(f.project.config.root.length).replace(/\\/g, "/").replace(/^\//, "");
      const i = SLOW_FIRST.indexOf(rel);
      return i < 0 ? SLOW_FIRST.length : i;
    };
    // a stable sort: the files not listed keep vitest's order
    return sorted.map((f, i) => ({ f, i, r: rank(f) })).sort((a, b) => a.r - b.r || a.i - b.i).map((x) => x.f);
  }
}

export default defineConfig({
  test: {
    setupFiles: ["test/setup.ts"],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: "forks",
    // vitest's default is one worker per core minus one: a single worker on a 2-core machine. Most tests
    // here wait on a child trainer process, so two at a time keep both cores busy.
    maxWorkers: 2,
    sequence: { sequencer: SlowFirstSequencer },
    // The compiler's tests (parsing, checking, code generation, the editor tools) neither train nor change a
    // backend: they share their worker's modules instead of importing the compiler again for every file (about
    // 1.5 s a file; 47 files took 127 s instead of 172 s at a load average of 5). Everything that trains, picks
    // a backend or registers kernels keeps a fresh process per file.
    projects: [
      { extends: true, test: { name: "compiler", include: COMPILER.map((d) => `${d}/**/*.test.ts`), isolate: false, setupFiles: ["test/setup.ts", "test/setup-yaml.ts"] } },
      { extends: true, test: { name: "runs", include: ["test/**/*.test.ts"], exclude: COMPILER.map((d) => `${d}/**`) } },
    ],
    // CI also writes a JSON report, from which .ci/run prints its one-line summary.
    reporters: process.env.CI ? ["default", ["json", { outputFile: ".cache/vitest-report.json" }]] : ["default"],
  },
});
