import * as fs from "node:fs";
import * as path from "node:path";
import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { compileText } from "../../src/compile.ts";
import { ROOT, tmpDir } from "../helpers.ts";
import { pythonWithTorch, skipNote } from "../python.ts";

/**
 * The Python trainers stay away from what PyTorch 2.x removed or changed, since only 1.13 runs here (Debian's
 * python3-torch): checked on the generated source of every spec in specs/ (the trainer part and the runtime).
 * - torch.load: weights_only defaults to True from 2.6, which refuses plain pickles; checkpoints are ganc's own
 *   format, read with NumPy, so the trainer has no torch.load (one added later must say weights_only=).
 * - torch.cuda.amp.autocast and torch.cuda.amp.GradScaler are deprecated in 2.x: torch.autocast("cuda"), and
 *   torch.amp.GradScaler where it exists (2.3 and later), torch.cuda.amp's only as the fallback for older ones.
 * - torch.distributed.launch (the launcher before torchrun) passes --local_rank (1.x) or --local-rank (2.x)
 *   to each process unless --use-env: the trainer accepts both (torchrun sets LOCAL_RANK instead).
 */
const py = pythonWithTorch();

const trainers = fs
  .readdirSync(path.join(ROOT, "specs"))
  .filter((f) => f.endsWith(".gan"))
  .sort()
  .map((f) => ({ name: f, c: compileText(fs.readFileSync(path.join(ROOT, "specs", f), "utf8"), path.join("specs", f), { target: "pytorch" }) }))
  .filter((t) => t.c.code !== null);

describe("PyTorch target: APIs of PyTorch 1.13 and 2.x", () => {
  it("no torch.load without weights_only, no torch.cuda.amp but GradScaler's fallback, no --local_rank refused", () => {
    expect(trainers.length).toBeGreaterThan(15);
    for (const { name, c } of trainers) {
      const code = c.code!;
      for (const m of code.matchAll(/torch\.load\(([^)]*)\)/g)) expect(m[1], `${name}: ${m[0]}`).toMatch(/weights_only=/);
      const cudaAmp = [...code.matchAll(/torch\.cuda\.amp\.\w+/g)].map((m) => m[0]);
      expect(cudaAmp, name).toEqual(["torch.cuda.amp.GradScaler"]);
      expect(code, name).toContain('    amp = getattr(torch, "amp", None)\n    if amp is not None and hasattr(amp, "GradScaler"):\n        return amp.GradScaler("cuda")\n    return torch.cuda.amp.GradScaler()');
      expect(code, name).toContain('torch.autocast("cuda", dtype=torch.float16)');
      expect(code, name).toContain('p.add_argument("--local-rank", "--local_rank", dest="local_rank", type=int, help=argparse.SUPPRESS)');
    }
  });

  it.skipIf(!py.python)("the trainer takes torch.distributed.launch's --local_rank and --local-rank", () => {
    const dir = tmpDir("ganc-pyversions-");
    const file = path.join(dir, "ring8.py");
    fs.writeFileSync(file, trainers.find((t) => t.name === "ring8.gan")!.c.code!);
    const script = `import importlib.util, sys\nspec = importlib.util.spec_from_file_location("t", sys.argv[1])\nt = importlib.util.module_from_spec(spec)\nspec.loader.exec_module(t)\nprint([t.Run.parse(t.SPEC, a).local_rank for a in (["--local_rank", "1"], ["--local-rank=3"], [])])`;
    const r = spawnSync(py.python!, ["-c", script, file], { encoding: "utf8", timeout: 120_000 });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe("[1, 3, None]");
  }, 120_000);
});
skipNote("the --local_rank check", py);
