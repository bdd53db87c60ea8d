import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { loadCheckpoint, saveCheckpoint, type CheckpointPayload } from "../../src/runtime/checkpoint.ts";
import { specHash } from "../../src/spec-hash.ts";
import { checkpointFileName, encodeCheckpoint } from "../../src/ui/playground/checkpoint-bytes.ts";
import { sha256 } from "../../src/ui/playground/sha256.ts";
import { createHash as pageCreateHash } from "../../src/ui/playground/shims/crypto.ts";
import { tmpDir } from "../helpers.ts";

/** The page's checkpoint encoder and sha256 (no Buffer, no node:crypto) against the command line's. */
describe("the playground's checkpoint bytes", () => {
  it("sha256 gives node:crypto's digest at every padding boundary", () => {
    for (const n of [0, 1, 55, 56, 63, 64, 65, 119, 120, 1000, 4099]) {
      const bytes = Uint8Array.from({ length: n }, (_, i) => (i * 131 + 7) & 255);
      expect(Buffer.from(sha256(bytes)).toString("hex"), `length ${n}`).toBe(createHash("sha256").update(bytes).digest("hex"));
    }
  });

  it("the page's node:crypto gives the spec hash the compiler gives", () => {
    const text = fs.readFileSync(path.join(__dirname, "../../specs/ring8.gan"), "utf8");
    expect((pageCreateHash("sha256").update(text).digest("hex") as string).slice(0, 16)).toBe(specHash(text));
    expect(() => pageCreateHash("md5")).toThrow(/not available in the browser/);
  });

  it("encodes exactly the bytes saveCheckpoint writes, and loadCheckpoint reads them back", () => {
    const payload: CheckpointPayload = {
      meta: { spec: "ring8", specHash: "0123456789abcdef", step: 7, iterator: { epoch: 0, cursor: 7 }, rng: [1, 2, 3, 4], dropoutSeed: 1, optimizers: { d: ["iter", "x/m"] } },
      tensors: [
        { name: "opt:d:0", shape: [], dtype: "int32", data: new Int32Array([7]) },
        { name: "var:G/dense1/bias", shape: [3], dtype: "float32", data: new Float32Array([0.5, -1.25, 3e-8]) },
        { name: "var:G/dense1/kernel", shape: [2, 3], dtype: "float32", data: new Float32Array([1, 2, 3, 4, 5, Number.MIN_VALUE]) },
      ],
    };
    const dir = tmpDir("ganc-page-ckpt-");
    const file = saveCheckpoint(dir, 7, payload);
    expect(path.basename(file)).toBe(checkpointFileName(7));
    const page = encodeCheckpoint(7, payload);
    expect(Buffer.from(page).equals(fs.readFileSync(file))).toBe(true);
    const other = path.join(dir, "from-page.ganckpt");
    fs.writeFileSync(other, page);
    const back = loadCheckpoint(other);
    expect(back.meta).toEqual(payload.meta);
    expect(back.tensors.map((t) => [t.name, t.shape, Array.from(t.data)])).toEqual(payload.tensors.map((t) => [t.name, t.shape, Array.from(t.data)]));
  });
});
