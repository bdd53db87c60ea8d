import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import sharp from "sharp";
import { loadCheckpoint, listCheckpoints } from "../../src/runtime/checkpoint.ts";
import { gancInProcess, tmpDir } from "../helpers.ts";

const root = tmpDir("ganc-train-images-");
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

const SPEC = `gan "folder"
data  real: images(batch=8, path="photos", size=8, channels=3, flip=true, labels=true)
noise z: uniform(-1, 1, [16])
net G(z) {
  dense 64, lrelu 0.2
  dense 192, sigmoid
  reshape [8, 8, 3]
}
net D(x) {
  flatten, dense 32, lrelu 0.2
  dense 1 -> logit
}
fake = G(z)
loss d = bce_logits(D(real).logit, ones) + bce_logits(D(fake).logit, zeros)
loss g = bce_logits(D(fake).logit, ones)
step d: adam(lr=2e-4, beta1=0.5) minimize d over D
step g: adam(lr=1e-3, beta1=0.5) minimize g over G
train { steps=14, sample_every=100, checkpoint_every=100, log_every=7 }
`;

describe("training on an image folder", () => {
  beforeAll(async () => {
    // Two classes of noise images of mixed sizes (so a flip changes what D sees), and a file that is no image.
    let s = 12345;
    const rnd = () => (s = (Math.imul(s, 1103515245) + 12345) >>> 0) >>> 24;
    for (const cls of ["circles", "squares"]) {
      for (let i = 0; i < 12; i++) {
        const w = 8 + (i % 3) * 4, h = 8 + (i % 2) * 6;
        const raw = Buffer.from(Array.from({ length: w * h * 3 }, rnd));
        const file = path.join(root, "photos", cls, `${i}.${i % 2 ? "jpg" : "png"}`);
        fs.mkdirSync(path.dirname(file), { recursive: true });
        const img = sharp(raw, { raw: { width: w, height: h, channels: 3 } });
        await (i % 2 ? img.jpeg() : img.png()).toFile(file);
      }
    }
    fs.writeFileSync(path.join(root, "photos", "squares", "broken.png"), "no PNG");
    fs.writeFileSync(path.join(root, "spec.gan"), SPEC);
  });

  it("N steps equal N/2 steps + --resume + the rest, bit for bit on wasm; the second run decodes nothing", async () => {
    // the commands run inside the test process (gancInProcess): the test is about what the runs compute and say
    const spec = path.join(root, "spec.gan");
    const a = path.join(root, "a");
    const b = path.join(root, "b");
    let r = await gancInProcess(["train", spec, "--out", a, "--backend", "wasm"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/data: decoded 24 images, skipped 1 file; cached in /);
    expect(r.stderr).toContain(`warning: ${path.join(root, "photos", "squares", "broken.png")}: `);
    const run = JSON.parse(fs.readFileSync(path.join(a, "run.json"), "utf8"));
    expect(run.data).toEqual({ name: "photos", count: 24, shape: [8, 8, 3], classes: [{ name: "circles", count: 12 }, { name: "squares", count: 12 }] });
    const report = path.join(root, "report.html");
    expect((await gancInProcess(["report", a, "-o", report])).code).toBe(0);
    expect(fs.readFileSync(report, "utf8")).toContain("<tr><th>classes</th><td>circles 12, squares 12</td></tr>");

    // Stopped mid-epoch (3 batches an epoch), then resumed.
    r = await gancInProcess(["train", spec, "--out", b, "--backend", "wasm", "--steps", "7"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/data: 24 images from the cache /);
    expect(r.stderr).not.toMatch(/decoding|decoded/);
    r = await gancInProcess(["train", spec, "--out", b, "--resume", "--steps", "14"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain("resumed from");

    const last = (dir: string) => loadCheckpoint(listCheckpoints(path.join(dir, "checkpoints")).pop()!.file);
    const ca = last(a);
    const cb = last(b);
    expect([ca.meta.step, cb.meta.step]).toEqual([14, 14]);
    expect(cb.tensors.map((t) => t.name)).toEqual(ca.tensors.map((t) => t.name));
    for (let i = 0; i < ca.tensors.length; i++) {
      expect(Buffer.from(cb.tensors[i]!.data.buffer).equals(Buffer.from(ca.tensors[i]!.data.buffer)), ca.tensors[i]!.name).toBe(true);
    }
  }, 240_000);
});
