import * as fs from "node:fs";
import * as path from "node:path";
import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { ganc, ROOT, tmpDir } from "../helpers.ts";
import { pythonWithTorch, skipNote } from "../python.ts";

/**
 * Lazy regularization on both targets: test/fixtures/lazy-r1.gan (every(4, d_reg, adjust=true), d_reg on step
 * d's optimizer), with the R1 weight raised to 2000 so that its scaled gradients move D visibly, trained for its
 * 12 iterations by the TypeScript trainer (--no-opt, cpu backend) and by the PyTorch trainer, each drawing its
 * own initial weights, noise and toy data from the same seed, and logging every iteration. The regularization
 * step must run on the same iterations (4, 8, 12: r1 is logged only then), and every logged loss of every
 * iteration must agree to 1e-4 relative: this holds only when the gradients are scaled by 4, the zeros given
 * for the variables r1 does not reach, the Adam shared by both steps and its rate and betas adjusted by 4/5.
 */
const py = pythonWithTorch();

interface Row {
  step: number;
  [k: string]: number;
}

const rows = (file: string): Row[] =>
  fs
    .readFileSync(file, "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as Row);

describe.skipIf(!py.python)("lazy regularization: the PyTorch trainer runs every(k, ...) as the TypeScript trainer does", () => {
  it("lazy-r1: the same iterations run d_reg, and the losses of all 12 iterations agree", () => {
    const dir = tmpDir("ganc-lazy-");
    const spec = path.join(dir, "lazy-r1.gan");
    const text = fs.readFileSync(path.join(ROOT, "test/fixtures/lazy-r1.gan"), "utf8");
    expect(text).toContain("loss r1 = 5 * sum(");
    fs.writeFileSync(spec, text.replace("loss r1 = 5 * sum(", "loss r1 = 2000 * sum("));
    const trainer = path.join(dir, "trainer.py");
    let r = ganc(["compile", spec, "--target", "pytorch", "-o", trainer]);
    expect(r.code, r.stderr).toBe(0);
    r = ganc(["train", spec, "--no-opt", "--backend", "cpu", "--quiet", "--out", path.join(dir, "tfjs")]);
    expect(r.code, r.stderr).toBe(0);
    const p = spawnSync(py.python!, [trainer, "--quiet", "--device", "cpu", "--out", path.join(dir, "torch")], { encoding: "utf8", timeout: 300_000 });
    expect(p.status, p.stderr).toBe(0);
    const a = rows(path.join(dir, "tfjs", "metrics.jsonl"));
    const b = rows(path.join(dir, "torch", "metrics.jsonl"));
    expect(a.map((x) => x.step)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    expect(b.map((x) => x.step)).toEqual(a.map((x) => x.step));
    const ran = (rs: Row[]) => rs.filter((x) => "r1" in x).map((x) => x.step);
    expect(ran(a)).toEqual([4, 8, 12]);
    expect(ran(b)).toEqual([4, 8, 12]);
    const problems: string[] = [];
    for (let i = 0; i < a.length; i++)
      for (const k of ["d", "g", "r1"]) {
        if (!(k in a[i]!)) continue;
        const x = a[i]![k]!;
        const y = b[i]![k]!;
        if (!(Math.abs(x - y) <= 1e-4 * Math.abs(x) + 1e-9)) problems.push(`iteration ${a[i]!.step}: ${k} ${x} (TypeScript) against ${y} (PyTorch)`);
      }
    expect(problems).toEqual([]);
  }, 600_000);
});
skipNote("the lazy regularization comparison", py);
