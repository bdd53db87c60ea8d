import { describe } from "vitest";
import { ringModesTest } from "./ring8-modes.ts";

describe("training (pure wasm, GANC_BLAS=off)", () => {
  ringModesTest("off");
});
