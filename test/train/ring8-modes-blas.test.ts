import { describe } from "vitest";
import { probeBlas } from "../../src/runtime/kernels/index.ts";
import { ringModesTest } from "./ring8-modes.ts";

// Where no native BLAS is installed, ring8-modes-wasm.test.ts is the one that runs.
describe.skipIf(!probeBlas(process.env).ok)("training (the native BLAS)", () => {
  ringModesTest("on");
});
