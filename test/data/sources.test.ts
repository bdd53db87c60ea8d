import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { stripSpans } from "../../src/parser/ast.ts";
import { checkText, compileText, resolvedText } from "../../src/compile.ts";
import { parseSpec } from "../../src/parser/index.ts";
import { printYaml } from "../../src/parser/print.ts";
import { loadDataset, SOURCES } from "../../src/data/index.ts";
import { DATA_SOURCES } from "../../src/parser/signatures.ts";
import { makeMnistColor, PALETTE } from "../../src/data/mnist-color.ts";
import { loadEmbeddedMnist } from "../../src/runtime/data.ts";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "ganc-sources-"));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** A small image GAN for `data` ([h, w, c] images): G ends in `c` channels at h x w. */
function ganSpec(data: string, [h, w, c]: number[]): string {
  return `gan "t"
data real: ${data}
noise z: uniform(-1, 1, [8])
net G(z) {
  dense ${h * w * c}, sigmoid
  reshape [${h}, ${w}, ${c}]
}
net D(x) {
  flatten, dense 1 -> logit
}
fake = G(z)
loss d = bce_logits(D(real).logit, ones) + bce_logits(D(fake).logit, zeros)
loss g = bce_logits(D(fake).logit, ones)
step d: adam(lr=1e-3) minimize d over D
step g: adam(lr=1e-3) minimize g over G
train { steps=10, schedule=[d, g] }
`;
}

/** The spec in both forms (the YAML one made by `ganc convert`'s printer), written beside `dir`. */
function bothForms(data: string, shape: number[]): { gan: string; yaml: string } {
  const text = ganSpec(data, shape);
  const gan = path.join(tmp, "t.gan");
  fs.writeFileSync(gan, text);
  const yamlText = printYaml(parseSpec(text, gan).spec!);
  const yaml = path.join(tmp, "t.gan.yaml");
  fs.writeFileSync(yaml, yamlText);
  return { gan, yaml };
}

describe("the data sources' table", () => {
  it("gives the binders every source's parameters, batch first", () => {
    expect(Object.keys(DATA_SOURCES)).toEqual(Object.keys(SOURCES));
    for (const [name, src] of Object.entries(SOURCES)) {
      expect(DATA_SOURCES[name]!.params, name).toEqual(Object.keys(src.params));
      expect(Object.keys(src.params)[0], name).toBe("batch");
    }
  });
});

describe("image folder declarations", () => {
  fs.mkdirSync(path.join(tmp, "photos/cats"), { recursive: true });
  fs.mkdirSync(path.join(tmp, "photos/dogs"), { recursive: true });
  fs.mkdirSync(path.join(tmp, "photos/.ganc-cache"), { recursive: true });

  it.each([
    ['images(batch=16, path="photos")', [64, 64, 3], { size: 64, channels: 3, resize: "crop", flip: false, labels: false }, 1, null],
    ['images(batch=16, path="photos", size=[24, 40], channels=1, resize=pad, flip=true, labels=true, limit=5)', [24, 40, 1], { size: [24, 40], channels: 1, resize: "pad", flip: true, labels: true, limit: 5 }, 2, ["cats", "dogs"]],
  ] as const)("%s: shape, classes and every argument resolved, in .gan and YAML alike", (data, shape, args, numClasses, classNames) => {
    const files = bothForms(data, [...shape]);
    const asts = [files.gan, files.yaml].map((f) => {
      const text = fs.readFileSync(f, "utf8");
      const r = checkText(text, f);
      expect(r.diagnostics, f).toEqual([]);
      const d = r.program!.data;
      expect(d.source).toBe("images");
      expect(d.shape).toEqual(shape);
      expect(d.args).toEqual(args);
      expect(d.numClasses).toBe(numClasses);
      expect(d.classNames).toEqual(classNames);
      // The trainer states the same, and --resolved prints every default and the classes.
      const code = compileText(text, f).code!;
      expect(code).toContain(`shape: [${shape.join(", ")}], numClasses: ${numClasses}, classNames: ${JSON.stringify(classNames)}, path: "photos"`);
      const resolved = resolvedText(text, f)!;
      for (const k of Object.keys(args)) expect(resolved, k).toMatch(new RegExp(`\\b${k}[=:]`));
      if (classNames) expect(resolved).toContain(`2 classes: cats, dogs`);
      else expect(resolved).toContain("no labels");
      return stripSpans(parseSpec(text, f).spec!.decls);
    });
    expect(asts[1]).toEqual(asts[0]);
  });
});

describe("mnist_color", () => {
  it("is 32x32x3 with 10 classes at check time, in .gan and YAML alike", () => {
    const files = bothForms("mnist_color(batch=32, limit=100)", [32, 32, 3]);
    for (const f of [files.gan, files.yaml]) {
      const r = checkText(fs.readFileSync(f, "utf8"), f);
      expect(r.diagnostics).toEqual([]);
      expect(r.program!.data).toMatchObject({ source: "mnist_color", shape: [32, 32, 3], numClasses: 10, labelled: true, args: { limit: 100 }, range: [0, 1] });
    }
    expect(fs.readFileSync(files.yaml, "utf8")).toContain("source: mnist_color, batch: 32, limit: 100");
  });

  it("loads through the sources' table: the digits' colored copies, read as batches in [0, 1]", async () => {
    const d = checkText(ganSpec("mnist_color(batch=32, limit=50)", [32, 32, 3]), path.join(tmp, "c.gan")).program!.data;
    const ds = await loadDataset({ ...d, shape: [...d.shape], classNames: null, args: { ...d.args } }, { specFile: path.join(tmp, "c.gan"), seed: 0 });
    expect([ds.name, ds.count, ds.shape, ds.numClasses]).toEqual(["mnist-color", 50, [32, 32, 3], 10]);
    const out = new Float32Array(2 * 3072);
    ds.read!([49, 0], out);
    const { bytes } = makeMnistColor(50);
    expect(Array.from(out, (v) => Math.round(v * 255))).toEqual([...bytes.subarray(49 * 3072, 50 * 3072), ...bytes.subarray(0, 3072)]);
  });

  it("is each embedded digit padded by 2, drawn bg + (fg - bg) * ink in two palette colors, labelled by the digit", () => {
    const m = loadEmbeddedMnist();
    const { bytes, labels, count } = makeMnistColor(200);
    expect(count).toBe(200);
    expect(Array.from(labels)).toEqual(Array.from(m.labels!.subarray(0, 200)));
    const pairs = new Set<string>();
    for (let i = 0; i < count; i++) {
      const img = bytes.subarray(i * 3072, (i + 1) * 3072);
      const bg = Array.from(img.subarray(0, 3)); // a corner is padding: pure background
      // The ink-most pixel of the digit is (nearly) the foreground.
      let best = 0;
      for (let k = 0; k < 784; k++) if (m.x[i * 784 + k]! > m.x[i * 784 + best]!) best = k;
      const ink = m.x[i * 784 + best]!;
      const at = ((Math.floor(best / 28) + 2) * 32 + (best % 28) + 2) * 3;
      const fg = PALETTE.find((c) => c.every((v, ch) => Math.abs(Math.round(bg[ch]! + (v - bg[ch]!) * ink) - img[at + ch]!) === 0));
      expect(PALETTE.some((c) => c.every((v, ch) => v === bg[ch]))).toBe(true);
      expect(fg, `image ${i}`).toBeDefined();
      // Every pixel follows the formula.
      const want = new Uint8Array(3072);
      for (let y = 0; y < 32; y++) {
        for (let x = 0; x < 32; x++) {
          const inside = y >= 2 && y < 30 && x >= 2 && x < 30;
          const a = inside ? m.x[i * 784 + (y - 2) * 28 + (x - 2)]! : 0;
          for (let ch = 0; ch < 3; ch++) want[(y * 32 + x) * 3 + ch] = Math.round(bg[ch]! + (fg![ch]! - bg[ch]!) * a);
        }
      }
      expect(img, `image ${i}`).toEqual(want);
      pairs.add(`${bg}/${fg}`);
    }
    expect(pairs.size).toBeGreaterThan(20);
    // Fixed colors: the set is the same in every process.
    expect(makeMnistColor(200).bytes).toEqual(bytes);
  });
});
