import * as fs from "node:fs";
import * as path from "node:path";
import { PNG } from "pngjs";
import { describe, expect, it } from "vitest";
import { loadLatestCheckpoint } from "../../src/runtime/checkpoint.ts";
import { ganc, readJsonl, tmpDir } from "../helpers.ts";
import { readEvents } from "../tb-reader.ts";

describe("TensorBoard logs from a training run on the wasm backend", () => {
  it("hold scalars equal to metrics.jsonl, histograms of every variable and gradient, the sample grid and the spec", () => {
    const out = tmpDir();
    const r = ganc(["train", "test/fixtures/ring8.gan", "--out", out, "--steps", "20", "--log-every", "5", "--sample-every", "10", "--histogram-every", "10", "--quiet"]);
    expect(r.code, r.stderr).toBe(0);
    const files = fs.readdirSync(path.join(out, "tb"));
    expect(files).toHaveLength(1);
    expect(files[0]).toMatch(/^events\.out\.tfevents\.\d+\./);
    // readEvents checks both CRCs of every record.
    const events = readEvents(path.join(out, "tb", files[0]!));
    expect(events[0]!.fileVersion).toBe("brain.Event:2");

    const byTag = new Map<string, { step: number; v: (typeof events)[number]["values"][number] }[]>();
    for (const e of events) for (const v of e.values) byTag.set(v.tag, [...(byTag.get(v.tag) ?? []), { step: e.step, v }]);
    for (const [tag, list] of byTag) {
      const steps = list.map((x) => x.step);
      expect(steps, tag).toEqual([...steps].sort((a, b) => a - b));
    }

    // Scalars: exactly the logged values, at the logged steps.
    const metrics = readJsonl(path.join(out, "metrics.jsonl"));
    for (const name of ["d", "g"]) {
      const tb = byTag.get(`loss/${name}`)!.map((x) => [x.step, x.v.simpleValue]);
      expect(tb).toEqual(metrics.map((m) => [m.step, Math.fround(m[name]!)]));
    }

    // Histograms: every variable (weights/...) and every gradient (grad/<step>/...) at steps 10 and 20,
    // each counting exactly as many values as the variable has.
    const ckpt = loadLatestCheckpoint(path.join(out, "checkpoints"))!;
    const sizes = new Map(ckpt.payload.tensors.filter((t) => t.name.startsWith("var:")).map((t) => [t.name.slice(4), t.data.length]));
    expect(sizes.size).toBeGreaterThan(0);
    for (const [name, size] of sizes) {
      const h = byTag.get(`weights/${name}`);
      expect(h?.map((x) => x.step), name).toEqual([10, 20]);
      for (const { v } of h!) expect(v.histo!.counts.reduce((a, b) => a + b, 0)).toBe(size);
    }
    const gradTags = [...byTag.keys()].filter((t) => t.startsWith("grad/"));
    expect(gradTags).toContain("grad/d/D/dense1/kernel");
    expect(gradTags).toContain("grad/g/G/dense1/kernel");
    for (const t of gradTags) {
      const size = sizes.get(t.split("/").slice(2).join("/"))!;
      for (const { v } of byTag.get(t)!) expect(v.histo!.counts.reduce((a, b) => a + b, 0)).toBe(size);
    }

    // The sample image: a valid PNG of the stated size, the same bytes as the grid on disk at step 20.
    const img = byTag.get("samples")!.at(-1)!;
    expect(img.step).toBe(20);
    const png = PNG.sync.read(Buffer.from(img.v.image!.encoded));
    expect([png.width, png.height]).toEqual([img.v.image!.width, img.v.image!.height]);
    expect(Buffer.from(img.v.image!.encoded).equals(fs.readFileSync(path.join(out, "samples", "step-0000020.png")))).toBe(true);

    // Text: the resolved spec at step 0 and the backend.
    expect(byTag.get("spec")![0]!.v.tensor!.strings[0]).toMatch(/net G\(z\) \{ +# z: \[8\] -> \[/);
    expect(byTag.get("backend")![0]!.v.tensor!.strings[0]).toMatch(/^wasm/);
  }, 120_000);
});
