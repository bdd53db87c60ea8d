import { afterEach, beforeEach, describe, expect, it } from "vitest";
import fc from "fast-check";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as tf from "@tensorflow/tfjs";
import {
  CHECKPOINT_FORMAT_VERSION,
  CheckpointError,
  listCheckpoints,
  loadCheckpoint,
  loadLatestCheckpoint,
  saveCheckpoint,
  tensorsToSaved,
  type CheckpointPayload,
} from "../../src/runtime/checkpoint.ts";

let tmp: string;
beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "ganc-ckpt-"));
});
afterEach(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

function samplePayload(step = 10): CheckpointPayload {
  return {
    meta: { step, epoch: 2, rng: [1, -2, 3, 4], iterator: { pos: 17, order: [3, 1, 2] }, specHash: "abc", lossD: 0.25 },
    tensors: [
      { name: "gen/dense/kernel", shape: [2, 3], dtype: "float32", data: new Float32Array([1.5, -0, NaN, Infinity, -3e-38, 7]) },
      { name: "gen/dense/bias", shape: [3], dtype: "float32", data: new Float32Array([0.1, 0.2, 0.3]) },
      { name: "opt/iterations", shape: [], dtype: "int32", data: new Int32Array([42]) },
      { name: "labels", shape: [1, 5], dtype: "int32", data: new Int32Array([-(2 ** 31), -1, 0, 1, 2 ** 31 - 1]) },
      { name: "empty", shape: [0, 4], dtype: "float32", data: new Float32Array(0) },
    ],
  };
}

function bytesOf(a: Float32Array | Int32Array): Buffer {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength);
}

function expectSamePayload(got: CheckpointPayload, want: CheckpointPayload): void {
  expect(got.meta).toEqual(want.meta);
  expect(got.tensors.map((t) => [t.name, t.shape, t.dtype])).toEqual(want.tensors.map((t) => [t.name, t.shape, t.dtype]));
  got.tensors.forEach((t, i) => {
    expect(t.data).toBeInstanceOf(want.tensors[i].dtype === "float32" ? Float32Array : Int32Array);
    // Bitwise, so NaN and -0 count too.
    expect(bytesOf(t.data).equals(bytesOf(want.tensors[i].data))).toBe(true);
  });
}

function expectCheckpointError(fn: () => unknown, message?: RegExp): CheckpointError {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(CheckpointError);
  if (message) expect((caught as Error).message).toMatch(message);
  return caught as CheckpointError;
}

describe("saveCheckpoint / loadCheckpoint", () => {
  it("round-trips float32 and int32 tensors, shapes and meta exactly", () => {
    const payload = samplePayload();
    const file = saveCheckpoint(path.join(tmp, "nested", "ckpts"), 10, payload);
    expect(path.basename(file)).toBe("ckpt-00000010.ganckpt");
    expectSamePayload(loadCheckpoint(file), payload);
  });

  it("writes the documented layout: magic, version, header length, aligned data, trailing sha256", () => {
    const file = saveCheckpoint(tmp, 1, samplePayload());
    const buf = fs.readFileSync(file);
    expect(buf.subarray(0, 8).toString("latin1")).toBe("GANCKPT\n");
    expect(buf.readUInt32LE(8)).toBe(CHECKPOINT_FORMAT_VERSION);
    const headerLen = buf.readUInt32LE(12);
    const header = JSON.parse(buf.toString("utf8", 16, 16 + headerLen));
    const dataStart = Math.ceil((16 + headerLen) / 8) * 8;
    expect(dataStart + header.dataLength + 32).toBe(buf.length);
    for (const t of header.tensors) expect(t.offset % 8).toBe(0);
    const data = buf.subarray(dataStart, dataStart + header.dataLength);
    expect(createHash("sha256").update(data).digest("hex")).toBe(header.dataSha256);
    const digest = createHash("sha256").update(buf.subarray(0, buf.length - 32)).digest();
    expect(digest.equals(buf.subarray(buf.length - 32))).toBe(true);
  });

  it("detects a changed byte anywhere in the file (property): always a CheckpointError", () => {
    const file = saveCheckpoint(tmp, 1, samplePayload());
    const good = fs.readFileSync(file);
    const bad = path.join(tmp, "flipped.ganckpt");
    fc.assert(
      fc.property(fc.nat(good.length - 1), fc.integer({ min: 1, max: 255 }), (pos, mask) => {
        const buf = Buffer.from(good);
        buf[pos] ^= mask;
        fs.writeFileSync(bad, buf);
        expectCheckpointError(() => loadCheckpoint(bad), /corrupted|not a ganc checkpoint|truncated/);
      }),
      { numRuns: 300 },
    );
  });

  it("detects truncation at any length (property)", () => {
    const file = saveCheckpoint(tmp, 1, samplePayload());
    const good = fs.readFileSync(file);
    const cut = path.join(tmp, "cut.ganckpt");
    fc.assert(
      fc.property(fc.nat(good.length - 1), (len) => {
        fs.writeFileSync(cut, good.subarray(0, len));
        expectCheckpointError(() => loadCheckpoint(cut), /truncated/);
      }),
      { numRuns: 300 },
    );
    // The edges explicitly: empty, inside the data section, one byte short.
    for (const len of [0, 8, good.length - 40, good.length - 1]) {
      fs.writeFileSync(cut, good.subarray(0, len));
      expectCheckpointError(() => loadCheckpoint(cut), /truncated/);
    }
  });

  it("rejects a file that is not a checkpoint", () => {
    const f = path.join(tmp, "notes.ganckpt");
    fs.writeFileSync(f, "this is just some text that is long enough to pass the size checks....");
    const err = expectCheckpointError(() => loadCheckpoint(f), /not a ganc checkpoint/);
    expect(err.message).toContain(f);
    fs.writeFileSync(f, "hi");
    expectCheckpointError(() => loadCheckpoint(f), /not a ganc checkpoint/);
  });

  it("reports a missing file as a CheckpointError", () => {
    expectCheckpointError(() => loadCheckpoint(path.join(tmp, "nope.ganckpt")), /cannot read/);
  });

  it("refuses a newer format version with a clear message, and a damaged version field as corruption", () => {
    const file = saveCheckpoint(tmp, 1, samplePayload());
    const buf = fs.readFileSync(file);
    buf.writeUInt32LE(CHECKPOINT_FORMAT_VERSION + 1, 8);
    // A genuine newer file is internally consistent: recompute its trailing digest.
    createHash("sha256").update(buf.subarray(0, buf.length - 32)).digest().copy(buf, buf.length - 32);
    fs.writeFileSync(file, buf);
    expectCheckpointError(() => loadCheckpoint(file), /unsupported format version 2: written by a newer ganc/);

    buf.writeUInt32LE(7, 8); // digest now stale
    fs.writeFileSync(file, buf);
    expectCheckpointError(() => loadCheckpoint(file), /corrupted/);
  });

  it("checks the tensor data digest even when the trailing digest is consistent", () => {
    const file = saveCheckpoint(tmp, 1, samplePayload());
    const buf = fs.readFileSync(file);
    buf[buf.length - 40] ^= 0x01; // last bytes of the data section
    createHash("sha256").update(buf.subarray(0, buf.length - 32)).digest().copy(buf, buf.length - 32);
    fs.writeFileSync(file, buf);
    expectCheckpointError(() => loadCheckpoint(file), /tensor data checksum mismatch/);
  });

  it("rejects invalid tensors at save time and writes nothing", () => {
    const dir = path.join(tmp, "d");
    const bad = (t: object) => ({ meta: {}, tensors: [t] }) as unknown as CheckpointPayload;
    expectCheckpointError(() => saveCheckpoint(dir, 1, bad({ name: "w", shape: [2, 2], dtype: "float32", data: new Float32Array(3) })), /4 elements/);
    expectCheckpointError(() => saveCheckpoint(dir, 1, bad({ name: "w", shape: [1], dtype: "int32", data: new Float32Array(1) })), /Int32Array/);
    expectCheckpointError(() => saveCheckpoint(dir, 1, bad({ name: "w", shape: [1], dtype: "bool", data: new Int32Array(1) })), /dtype/);
    const w = { name: "w", shape: [1], dtype: "float32", data: new Float32Array(1) };
    expectCheckpointError(() => saveCheckpoint(dir, 1, { meta: {}, tensors: [w, w] } as CheckpointPayload), /twice/);
    expectCheckpointError(() => saveCheckpoint(dir, -1, { meta: {}, tensors: [] }), /step/);
    expect(fs.existsSync(dir)).toBe(false);
  });
});

describe("listCheckpoints / loadLatestCheckpoint", () => {
  it("lists checkpoints ascending by step, ignoring temp and unrelated files", () => {
    for (const step of [200, 3, 100_000_000, 45]) saveCheckpoint(tmp, step, samplePayload(step), { keep: 10 });
    fs.writeFileSync(path.join(tmp, ".ckpt-00000050.ganckpt.123.456.tmp"), "partial");
    fs.writeFileSync(path.join(tmp, "ckpt-12.ganckpt"), "short name");
    fs.writeFileSync(path.join(tmp, "readme.txt"), "x");
    expect(listCheckpoints(tmp).map((c) => c.step)).toEqual([3, 45, 200, 100_000_000]);
    expect(listCheckpoints(path.join(tmp, "missing"))).toEqual([]);
  });

  it("returns the newest checkpoint, or null when there is none", () => {
    expect(loadLatestCheckpoint(path.join(tmp, "missing"))).toBeNull();
    expect(loadLatestCheckpoint(tmp)).toBeNull();
    for (const step of [5, 15, 10]) saveCheckpoint(tmp, step, samplePayload(step));
    const latest = loadLatestCheckpoint(tmp)!;
    expect(latest.step).toBe(15);
    expect(latest.file).toBe(path.join(tmp, "ckpt-00000015.ganckpt"));
    expectSamePayload(latest.payload, samplePayload(15));
  });

  it("falls back to the previous good checkpoint and reports the skipped ones", () => {
    for (const step of [1, 2, 3, 4]) saveCheckpoint(tmp, step, samplePayload(step), { keep: 10 });
    const f4 = path.join(tmp, "ckpt-00000004.ganckpt");
    const f3 = path.join(tmp, "ckpt-00000003.ganckpt");
    fs.truncateSync(f4, 100); // a write cut short
    const buf = fs.readFileSync(f3);
    buf[buf.length - 50] ^= 0x10; // a flipped bit in the tensor data
    fs.writeFileSync(f3, buf);

    const skipped: [string, string][] = [];
    const latest = loadLatestCheckpoint(tmp, (file, reason) => skipped.push([file, reason]));
    expect(latest?.step).toBe(2);
    expectSamePayload(latest!.payload, samplePayload(2));
    expect(skipped.map(([f]) => f)).toEqual([f4, f3]);
    expect(skipped[0][1]).toMatch(/truncated/);
    expect(skipped[1][1]).toMatch(/corrupted/);
  });

  it("throws a CheckpointError naming every file when none is valid", () => {
    for (const step of [1, 2]) saveCheckpoint(tmp, step, samplePayload(step));
    fs.writeFileSync(path.join(tmp, "ckpt-00000001.ganckpt"), "garbage, not a checkpoint at all");
    fs.writeFileSync(path.join(tmp, "ckpt-00000002.ganckpt"), "");
    const err = expectCheckpointError(() => loadLatestCheckpoint(tmp), /no usable checkpoint/);
    expect(err.message).toMatch(/ckpt-00000001\.ganckpt: not a ganc checkpoint/);
    expect(err.message).toMatch(/ckpt-00000002\.ganckpt: truncated/);
  });

  it("skips a checkpoint whose file name does not match the step it holds", () => {
    saveCheckpoint(tmp, 1, samplePayload(1));
    const f = saveCheckpoint(tmp, 2, samplePayload(2));
    fs.renameSync(f, path.join(tmp, "ckpt-00000009.ganckpt"));
    const reasons: string[] = [];
    expect(loadLatestCheckpoint(tmp, (_f, r) => reasons.push(r))?.step).toBe(1);
    expect(reasons[0]).toMatch(/step 9 but it holds step 2/);
  });
});

describe("pruning and crash safety", () => {
  it("keeps only the newest 3 by default, or `keep`", () => {
    for (let step = 1; step <= 6; step++) saveCheckpoint(tmp, step * 10, samplePayload(step));
    expect(listCheckpoints(tmp).map((c) => c.step)).toEqual([40, 50, 60]);
    saveCheckpoint(tmp, 70, samplePayload(), { keep: 1 });
    expect(listCheckpoints(tmp).map((c) => c.step)).toEqual([70]);
  });

  it("never prunes the checkpoint it just wrote, even when newer steps exist", () => {
    for (const step of [10, 20, 30]) saveCheckpoint(tmp, step, samplePayload(step));
    saveCheckpoint(tmp, 15, samplePayload(15));
    expect(listCheckpoints(tmp).map((c) => c.step)).toEqual([15, 20, 30]);
  });

  it("leaves no temp files behind after saving", () => {
    for (let step = 0; step < 5; step++) saveCheckpoint(tmp, step, samplePayload(step));
    saveCheckpoint(tmp, 4, samplePayload(4)); // overwrite an existing step
    expect(fs.readdirSync(tmp).sort()).toEqual(["ckpt-00000002.ganckpt", "ckpt-00000003.ganckpt", "ckpt-00000004.ganckpt"]);
  });

  it("throws and leaves nothing behind when the target's parent is a file", () => {
    const blocker = path.join(tmp, "blocker");
    fs.writeFileSync(blocker, "i am a file");
    expectCheckpointError(() => saveCheckpoint(path.join(blocker, "ckpts"), 1, samplePayload()), /cannot write/);
    expect(fs.readdirSync(tmp)).toEqual(["blocker"]);
    expect(fs.readFileSync(blocker, "utf8")).toBe("i am a file");
  });

  // Permission bits do not stop root, so this case only means something for other users.
  it.skipIf(process.getuid?.() === 0)("throws and leaves nothing behind in an unwritable dir", () => {
    const ro = path.join(tmp, "ro");
    fs.mkdirSync(ro);
    fs.chmodSync(ro, 0o555);
    try {
      expectCheckpointError(() => saveCheckpoint(ro, 1, samplePayload()), /cannot write/);
      expect(fs.readdirSync(ro)).toEqual([]);
    } finally {
      fs.chmodSync(ro, 0o755);
    }
  });
});

describe("tensorsToSaved", () => {
  it("reads tensors in sorted name order and round-trips them through a checkpoint", async () => {
    const named = {
      "z/bias": tf.tensor1d([1, 2, 3]),
      "a/kernel": tf.tensor2d([[1, 2], [3, 4]]),
      "m/steps": tf.scalar(7, "int32"),
    };
    const saved = await tensorsToSaved(named);
    expect(saved.map((t) => t.name)).toEqual(["a/kernel", "m/steps", "z/bias"]);
    expect(saved.map((t) => t.dtype)).toEqual(["float32", "int32", "float32"]);
    expect(saved[0].shape).toEqual([2, 2]);
    expect(saved[1].shape).toEqual([]);
    const file = saveCheckpoint(tmp, 3, { meta: { step: 3 }, tensors: saved });
    const back = loadCheckpoint(file);
    expect(Array.from(back.tensors[0].data)).toEqual([1, 2, 3, 4]);
    expect(Array.from(back.tensors[1].data)).toEqual([7]);
    tf.dispose(Object.values(named));
  });

  it("refuses dtypes a checkpoint cannot hold", async () => {
    const b = tf.tensor1d([true, false], "bool");
    await expect(tensorsToSaved({ flags: b })).rejects.toThrow(/bool/);
    b.dispose();
  });
});

describe("RunCheckpoints.restore", () => {
  it("restores the optimizers' state to resume, and leaves it out to sample (no step is taken)", async () => {
    const { RunCheckpoints } = await import("../../src/runtime/run-checkpoints.ts");
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ganc-restore-"));
    try {
      const weights = () => {
        const v = tf.variable(tf.tensor1d([1, 2, 3]));
        const opt = tf.train.adam(0.1);
        return { v, opt, w: { vars: new Map([["w", { v, init: { kind: "zeros" as const } }]]), states: new Map<string, tf.Variable>(), optimizers: new Map<string, tf.Optimizer>([["step", opt]]) } };
      };
      const saved = weights();
      // one Adam step, so the checkpoint holds moments and an iteration count
      saved.opt.minimize(() => tf.sum(tf.square(saved.v)) as tf.Scalar, false, [saved.v]);
      const id = { spec: "s", specHash: "h", backend: "cpu", batch: 2, seed: 1 };
      await new RunCheckpoints(dir, 2).save(saved.w, { step: 1, iterator: { epoch: 0, cursor: 1 }, rng: [1, 2, 3, 4], dropoutSeed: 1 }, id);
      const run = { specHash: "h", batch: 2, stepsPerEpoch: 10, batchChange: false };
      /** How many tensors the optimizer holds (its iteration count, then Adam's two moments per variable once it has stepped) and its iteration count. */
      const state = async (o: tf.Optimizer) => {
        const ws = await o.getWeights();
        return [ws.length, ws[0]!.tensor.dataSync()[0]];
      };
      expect(await state(saved.opt)).toEqual([3, 1]);
      for (const sampling of [false, true]) {
        const into = weights();
        into.v.assign(tf.tensor1d([0, 0, 0]));
        await new RunCheckpoints(dir, 2).restore(into.w, { ...run, sampling }, () => {});
        expect(Array.from(into.v.dataSync())).toEqual(Array.from(saved.v.dataSync()));
        expect(await state(into.opt), sampling ? "sampling" : "resuming").toEqual(sampling ? [1, 0] : [3, 1]);
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
