import * as fs from "node:fs";
import * as path from "node:path";
import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { ganc, tmpDir } from "../helpers.ts";
import { pythonWithTorch, skipNote } from "../python.ts";

/**
 * Spec names that the Python trainer uses itself (a value called `conv2d` or `flatten`, like the runtime's
 * functions; taps called `h` and `mode`, like the forward pass's locals; a noise called `b`, like the batch)
 * are renamed in the generated code, and the trainer runs: 3 iterations, every logged loss finite.
 */
const py = pythonWithTorch();

describe("PyTorch target: names the trainer uses itself", () => {
  it("renames them in the generated code", () => {
    const dir = tmpDir("ganc-pynames-");
    const out = path.join(dir, "trainer.py");
    const r = ganc(["compile", "test/fixtures/pytorch-names.gan", "--target", "pytorch", "-o", out]);
    expect(r.code, r.stderr).toBe(0);
    const code = fs.readFileSync(out, "utf8");
    expect(code).toContain("conv2d_ = (torch.mean(whole_batch(fake)) * b.b)");
    expect(code).toContain("flatten_ = std(whole_batch(fake))");
    expect(code).toContain('return {"out": h, "h": h_tap}');
    expect(code).toContain('return {"out": h, "mode": mode_tap, "logit": logit}');
    if (!py.python) return;
    const run = spawnSync(py.python, [out, "--out", path.join(dir, "run"), "--quiet"], { encoding: "utf8", timeout: 300_000 });
    expect(run.status, run.stderr).toBe(0);
    const lines = fs.readFileSync(path.join(dir, "run", "metrics.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l) as Record<string, number>);
    expect(lines.map((l) => l.step)).toEqual([1, 2, 3]);
    for (const l of lines) for (const k of ["d", "g"]) expect(Number.isFinite(l[k])).toBe(true);
    fs.rmSync(dir, { recursive: true, force: true });
  }, 300_000);
});
skipNote("running the renamed trainer", py);
