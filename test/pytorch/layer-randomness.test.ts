import * as fs from "node:fs";
import * as path from "node:path";
import { spawnSync } from "node:child_process";
import * as tf from "@tensorflow/tfjs";
import { describe, expect, it } from "vitest";
import { PY_RUNTIME } from "../../src/codegen/pytorch/runtime.ts";
import { PY_LAYER_RUNTIME } from "../../src/codegen/pytorch/runtime-layers.ts";
import { keyState, Rng } from "../../src/runtime/rng.ts";
import { tmpDir } from "../helpers.ts";
import { pythonWithTorch, skipNote } from "../python.ts";

/**
 * The random draws of the newer layers in the PyTorch trainer's runtime, against the TypeScript trainer's:
 * dropout's multipliers (tf.dropout with a numeric seed, drawn by seedrandom's alea, ported) for several seeds
 * and rates, exactly; the hash keys of diffaug's draws (cyrb128, rng.ts keyState) and the draws at such a key
 * (diff_augment itself, its shifts and cutouts, is checked by the cross-engine oracle on test/fixtures/pytorch-layers.gan).
 */
const py = pythonWithTorch();

const SCRIPT = String.raw`
out = {"dropout": {}, "keys": {}, "draws": {}}
x = torch.ones(2, 3, 5, 7)  # NCHW: ganc's [2, 5, 7, 3]
for seed in (1, 2, 17, 123456):
    for rate in (0.3, 0.5):
        out["dropout"]["%d/%s" % (seed, rate)] = to_nhwc(dropout(x, rate, "train", seed)).reshape(-1).tolist()
for key in ("", "diffaug/7/0/0/d:12", "diffaug/-3/41/2/g:5"):
    out["keys"][key] = key_state(key)
    rng = Rng.from_state(key_state(key))
    out["draws"][key] = [rng.uniform() for _ in range(9)]
print(json.dumps(out))
`;

describe.skipIf(!py.python)("PyTorch runtime: the draws of dropout and diffaug", () => {
  it("dropout's masks are tf.dropout's; diffaug's keys and draws are the TypeScript trainer's", () => {
    const dir = tmpDir("ganc-pylayers-");
    const file = path.join(dir, "check.py");
    const head = "import math, os, sys, json, struct, zlib, hashlib, argparse, time\nimport numpy as np\nimport torch\nimport torch.nn.functional as F\n";
    fs.writeFileSync(file, head + PY_RUNTIME + PY_LAYER_RUNTIME + SCRIPT);
    const r = spawnSync(py.python!, [file], { encoding: "utf8", timeout: 300_000 });
    expect(r.status, r.stderr).toBe(0);
    const got = JSON.parse(r.stdout) as { dropout: Record<string, number[]>; keys: Record<string, number[]>; draws: Record<string, number[]> };
    for (const seed of [1, 2, 17, 123456])
      for (const rate of [0.3, 0.5]) {
        const want = tf.tidy(() => Array.from(tf.dropout(tf.ones([2, 5, 7, 3]), rate, undefined, seed).dataSync()));
        expect(got.dropout[`${seed}/${rate}`], `seed ${seed}, rate ${rate}`).toEqual(want);
        expect(new Set(want).size, "both kept and dropped values").toBe(2);
      }
    for (const key of ["", "diffaug/7/0/0/d:12", "diffaug/-3/41/2/g:5"]) {
      expect(got.keys[key], `keyState(${JSON.stringify(key)})`).toEqual(keyState(key));
      const rng = Rng.fromState(keyState(key));
      expect(got.draws[key]).toEqual(Array.from({ length: 9 }, () => rng.uniform()));
    }
    fs.rmSync(dir, { recursive: true, force: true });
  }, 300_000);
});
skipNote("the draws of dropout and diffaug", py);
