import * as fs from "node:fs";
import * as path from "node:path";
import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { PY_RUNTIME } from "../../src/codegen/pytorch/runtime.ts";
import { Rng } from "../../src/runtime/rng.ts";
import { BatchIterator, toyDataset } from "../../src/runtime/data.ts";
import { tmpDir } from "../helpers.ts";
import { pythonWithTorch, skipNote } from "../python.ts";

/**
 * The PyTorch trainer's port of ganc's seeded generator draws what src/runtime/rng.ts draws: the same
 * uniform, normal and truncated-normal fills (and the same state after them, so the next draws agree too),
 * the same categorical draws, each epoch's data permutation, and the toy sets' points. Float32 fills are
 * compared exactly except for the Box-Muller ones (the platform's log/cos/sin against V8's: a last-bit
 * difference is allowed, 2 ulps of float32). Fills go by chunks of Rng.FILL_CHUNK draws (to bound their
 * temporaries' memory): three of the seeds use chunks of 97, so that the comparison covers chunk boundaries.
 * Draws made ahead of requests (the buffer of Xoroshiro128Plus) are checked against the draw-by-draw loop.
 */
const py = pythonWithTorch();

const SCRIPT = String.raw`
import json, sys
out = {}
for seed in (0, 1, 12345, 4294967295):
    # Seed 0 fills in one chunk; the odd seeds by chunks of 97 draws (or pairs): the chunks change nothing.
    Rng.FILL_CHUNK = 97 if seed % 2 else 1 << 16
    r = Rng(seed)
    u = r.fill_uniform(1001, -1, 1)
    n = r.fill_normal(999, 0, 0.02)
    t = r.fill_truncated_normal(777, 0.5, 2)
    s = [r.uniform(), r.normal(), r.uint32()]
    out[str(seed)] = {"u": u.tolist(), "n": n.tolist(), "t": t.tolist(), "after": s, "state": r.state()}
    it = BatchIterator(100, 7, seed)
    out[str(seed)]["order"] = [int(i) for _ in range(30) for i in it.next()]
    # Fills long enough to go by blocks of precomputed draws, across block boundaries, and the state after.
    out[str(seed)]["long"] = r.fill_uniform(4099, 0, 1).tolist() + r.fill_normal(2500, 1, 3).tolist() + [r.uniform()]
    big = BatchIterator(5000, 100, seed)
    out[str(seed)]["bigOrder"] = [int(i) for _ in range(60) for i in big.next()]
    # The vectorized rejection sampling against the draw-by-draw one, on sizes that reject about half the draws.
    sizes = np.array([2 ** 31 + 1 + k % 5 for k in range(300)] + [7, 3, 2] * 50, dtype=np.int64)
    g1, g2 = Xoroshiro128Plus.from_seed(seed), Xoroshiro128Plus.from_seed(seed)
    out[str(seed)]["ints"] = [uniform_ints(g1, sizes).tolist(), [uniform_int(g2, 0, int(n) - 1) for n in sizes]]
    # Draws made ahead (Xoroshiro128Plus.AHEAD) against the draw-by-draw loop, over random interleavings of
    # draws of every size, state reads and state writes: the same draws, and the same state after each.
    import random
    rnd, ref, gen, same = random.Random(seed), Xoroshiro128Plus.from_seed(seed), Xoroshiro128Plus.from_seed(seed), True
    for op in range(80):
        k = rnd.randrange(5)
        if k == 0:
            same &= gen.next() == ref.next()
        elif k <= 2:
            n = rnd.choice([1, 100, 128, 1000, 2048, 2049, 8192, 8193, 20000])
            same &= [int(v) for v in gen.raw(n)] == [ref.next() & M32 for _ in range(n)]
        elif k == 3:
            same &= gen.state() == ref.state()
        else:
            w = [rnd.getrandbits(32) for _ in range(4)]
            gen.s, ref.s = list(w), list(w)
    out[str(seed)]["ahead"] = [same, gen.state() == ref.state()]
    x, labels = toy_points("ring8", 50, seed)
    out[str(seed)]["toy"] = x.reshape(-1).tolist()
    out[str(seed)]["toyLabels"] = labels.tolist()
print(json.dumps(out))
`;

describe.skipIf(!py.python)("PyTorch runtime: the ported generator", () => {
  it("draws what ganc's generator draws, for several seeds", () => {
    const dir = tmpDir("ganc-pyrng-");
    const file = path.join(dir, "rng_check.py");
    fs.writeFileSync(file, "import math, os, sys, json, struct, zlib, hashlib, argparse, time\nimport numpy as np\nimport torch\nimport torch.nn.functional as F\n" + PY_RUNTIME + SCRIPT);
    const r = spawnSync(py.python!, [file], { encoding: "utf8", timeout: 300_000 });
    expect(r.status, r.stderr).toBe(0);
    const got = JSON.parse(r.stdout) as Record<string, Record<string, number[]>>;
    const close = (a: number[], b: Float32Array, what: string) => {
      expect(a.length, what).toBe(b.length);
      for (let i = 0; i < a.length; i++) {
        const tol = 2 * Math.abs(b[i]!) * 2 ** -23 + 1e-30;
        if (!(Math.abs(a[i]! - b[i]!) <= tol)) expect(`${what}[${i}] = ${a[i]}`).toBe(`${what}[${i}] = ${b[i]}`);
      }
    };
    for (const seed of [0, 1, 12345, 4294967295]) {
      const g = got[String(seed)]!;
      const rng = new Rng(seed);
      expect(g.u, `seed ${seed} fillUniform`).toEqual(Array.from(rng.fillUniform(new Float32Array(1001), -1, 1)));
      close(g.n!, rng.fillNormal(new Float32Array(999), 0, 0.02), `seed ${seed} fillNormal`);
      close(g.t!, rng.fillTruncatedNormal(new Float32Array(777), 0.5, 2), `seed ${seed} fillTruncatedNormal`);
      const after = [rng.uniform(), rng.normal(), rng.uint32()];
      expect(g.after![0]).toBe(after[0]);
      expect(Math.abs(g.after![1]! - after[1]!)).toBeLessThan(1e-14);
      expect(g.after![2]).toBe(after[2]);
      expect(g.state).toEqual(rng.getState());
      const it = new BatchIterator({ name: "n", shape: [1], count: 100, x: new Float32Array(100).map((_, i) => i), labels: null, numClasses: 1 }, 7, seed);
      const order: number[] = [];
      for (let k = 0; k < 30; k++) order.push(...Array.from(it.next().x));
      expect(g.order, `seed ${seed}: the data order`).toEqual(order);
      const long = [...Array.from(rng.fillUniform(new Float32Array(4099), 0, 1))];
      close(g.long!.slice(0, 4099), new Float32Array(long), `seed ${seed} long fillUniform`);
      close(g.long!.slice(4099, 4099 + 2500), rng.fillNormal(new Float32Array(2500), 1, 3), `seed ${seed} long fillNormal`);
      expect(g.long![4099 + 2500], `seed ${seed}: the draw after the long fills`).toBe(rng.uniform());
      const big = new BatchIterator({ name: "n", shape: [1], count: 5000, x: new Float32Array(5000).map((_, i) => i), labels: null, numClasses: 1 }, 100, seed);
      const bigOrder: number[] = [];
      for (let k = 0; k < 60; k++) bigOrder.push(...Array.from(big.next().x));
      expect(g.bigOrder, `seed ${seed}: the data order of 5,000 samples, into the second epoch`).toEqual(bigOrder);
      const ints = g.ints as unknown as [number[], number[]];
      expect(ints[0].length).toBe(450);
      expect(ints[0], `seed ${seed}: uniform_ints`).toEqual(ints[1]);
      expect(g.ahead, `seed ${seed}: draws made ahead against the draw-by-draw loop`).toEqual([true, true]);
      const toy = toyDataset("ring8", 50, seed);
      close(g.toy!, toy.x, `seed ${seed} ring8 points`);
      expect(g.toyLabels).toEqual(Array.from(toy.labels!));
    }
    fs.rmSync(dir, { recursive: true, force: true });
  }, 300_000);
});
skipNote("the ported generator's test", py);
