import * as fs from "node:fs";
import * as path from "node:path";
import { spawnSync } from "node:child_process";
import * as tf from "@tensorflow/tfjs";
import { describe, expect, it } from "vitest";
import { PY_RUNTIME } from "../../src/codegen/pytorch/runtime.ts";
import { PY_LAYER_RUNTIME } from "../../src/codegen/pytorch/runtime-layers.ts";
import { keyState, Rng } from "../../src/runtime/rng.ts";
import { tmpDir } from "../helpers.ts";
import { addNoiseOf, noiseOf } from "../../src/layers/noise.ts";
import { runtime as mixRuntime } from "../../src/functions/mix.ts";
import { pythonWithTorch, skipNote } from "../python.ts";

/**
 * The random draws of the newer layers in the PyTorch trainer's runtime, against the TypeScript trainer's:
 * dropout's multipliers (tf.dropout with a numeric seed, drawn by seedrandom's alea, ported) for several seeds
 * and rates, exactly; the noise layer's standard normal maps (tf.randomNormal with a numeric seed: the Marsaglia
 * polar method on alea, ported) and mix's crossovers at their keys, exactly; the hash keys of diffaug's draws (cyrb128, rng.ts keyState) and the draws at such a key
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
out["normal"] = {}
for seed in (1, 2, 17, 435745794):
    out["normal"][str(seed)] = random_normal(301, seed).tolist()
# Long runs (1024 values and more) go by lanes of alea's draws: against tf.randomNormal, and against the
# draw-by-draw loop on a larger count (several lanes' boundaries, a second round of pairs).
out["normalLong"] = {}
for seed in (3, 2 ** 31 - 1):
    out["normalLong"][str(seed)] = random_normal(5001, seed).tolist()
out["lanesEqualLoop"] = [bool(np.array_equal(random_normal(n, s).view(np.uint32), random_normal_each(n, Alea(str(s))).view(np.uint32))) for s, n in ((5, 1024), (6, 1025), (7, 65537))]
g = Alea("11")
u, z = alea_draws(alea_number(g), 3001)
out["aleaDraws"] = [bool(np.array_equal(u, g.fill(3001))), z == alea_number(g)]
strength = torch.tensor([0.5, -1.0, 2.0])
out["noise"] = to_nhwc(add_noise(torch.zeros(2, 3, 5, 7), strength, 9)).reshape(-1).tolist()
out["mix"] = []
for k in range(40):
    ws = mix_styles(torch.ones(2, 4), torch.full((2, 4), 2.0), 5, 0.7, key_state("diffaug/7/%d/0/g:3" % k))
    out["mix"].append(ws[0, :, 0].tolist())
print(json.dumps(out))
`;

describe.skipIf(!py.python)("PyTorch runtime: the draws of dropout, noise, mix and diffaug", () => {
  it("dropout's masks are tf.dropout's, noise's maps tf.randomNormal's; mix's crossovers, diffaug's keys and draws are the TypeScript trainer's", () => {
    const dir = tmpDir("ganc-pylayers-");
    const file = path.join(dir, "check.py");
    const head = "import math, os, sys, json, struct, zlib, hashlib, argparse, time\nimport numpy as np\nimport torch\nimport torch.nn.functional as F\n";
    fs.writeFileSync(file, head + PY_RUNTIME + PY_LAYER_RUNTIME + SCRIPT);
    const r = spawnSync(py.python!, [file], { encoding: "utf8", timeout: 300_000 });
    expect(r.status, r.stderr).toBe(0);
    const got = JSON.parse(r.stdout) as { dropout: Record<string, number[]>; keys: Record<string, number[]>; draws: Record<string, number[]>; normal: Record<string, number[]>; normalLong: Record<string, number[]>; lanesEqualLoop: boolean[]; aleaDraws: boolean[]; noise: number[]; mix: number[][] };
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
    // The noise layer's draws: tf.randomNormal with a numeric seed (an odd count: the last pair's second value
    // is drawn and dropped), and x + n * s with n one map per pixel over ganc's NHWC layout.
    for (const seed of [1, 2, 17, 435745794]) expect(got.normal[String(seed)], `randomNormal, seed ${seed}`).toEqual(Array.from(tf.randomNormal([301], 0, 1, "float32", seed).dataSync()));
    for (const seed of [3, 2 ** 31 - 1]) expect(got.normalLong[String(seed)], `randomNormal by lanes, seed ${seed}`).toEqual(Array.from(tf.randomNormal([5001], 0, 1, "float32", seed).dataSync()));
    expect(got.lanesEqualLoop).toEqual([true, true, true]);
    expect(got.aleaDraws, "alea's draws by lanes, and its state after them").toEqual([true, true]);
    const strength = tf.tensor1d([0.5, -1, 2]);
    expect(got.noise).toEqual(Array.from(addNoiseOf(tf, tf.zeros([2, 5, 7, 3]), strength, noiseOf(tf, tf.zeros([2, 5, 7, 3]), 9)).dataSync()));
    // mix's crossover at a key: the stack's layers from w1 (1) and w2 (2), both branches (mixed, not mixed) seen.
    const mixStyles = mixRuntime(tf, (key) => Rng.fromState([...key]));
    const want = Array.from({ length: 40 }, (_, k) => Array.from(tf.tidy(() => tf.slice(mixStyles(tf.ones([2, 4]), tf.fill([2, 4], 2), 5, 0.7, keyState(`diffaug/7/${k}/0/g:3`)), [0, 0, 0], [1, 5, 1])).dataSync()));
    expect(got.mix).toEqual(want);
    const crossovers = new Set(want.map((l) => l.indexOf(2)));
    expect([...crossovers].sort()).toEqual([-1, 1, 2, 3, 4]);
    fs.rmSync(dir, { recursive: true, force: true });
  }, 300_000);
});
skipNote("the draws of dropout and diffaug", py);
