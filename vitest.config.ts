import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    setupFiles: ["test/setup.ts"],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: "forks",
    // vitest's default is one worker per core minus one: a single worker on a 2-core machine. Most tests
    // here wait on a child trainer process, so two at a time keep both cores busy.
    maxWorkers: 2,
    // CI also writes a JSON report, from which .ci/run prints its one-line summary.
    reporters: process.env.CI ? ["default", ["json", { outputFile: ".cache/vitest-report.json" }]] : ["default"],
  },
});
