/**
 * The language features in process, on specs the protocol test does not open: blocks (hover on an
 * instance, references, rename refusals), YAML completion by key, the outline of blocks, quick fixes.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import "../../src/parser/yaml/load.ts";
import { analyze, occurrences, symbolAt } from "../../src/lsp/analysis.ts";
import { complete, didYouMean, hover, outline, rename } from "../../src/lsp/features.ts";
import { ROOT } from "../helpers.ts";

const read = (f: string) => fs.readFileSync(path.join(ROOT, f), "utf8");
const BLOCKS = read("test/fixtures/graph-blocks.gan");
const a = analyze(BLOCKS, "graph-blocks.gan");
const at = (needle: string, k = 0, text = BLOCKS) => {
  const i = text.indexOf(needle);
  if (i < 0) throw new Error(`'${needle}' not found`);
  return i + k;
};
const labels = (r: { entries: { label: string }[] }) => r.entries.map((e) => e.label);

describe("blocks", () => {
  it("checks clean", () => expect(a.diagnostics.filter((d) => d.severity === "error")).toEqual([]));

  it("hover on an instance gives its shapes across the expanded layers and their variables", () => {
    const h = hover(a, at("  Up(12)", 3))!;
    expect(h.markdown).toContain("block instance `Up`");
    expect(h.markdown).toContain("`G/up2`: [7, 7, 8] → **[14, 14, 12]**");
    expect(h.markdown).toMatch(/`G\/up2\/conv1\/kernel` \[3, 3, 8, 12\]/);
  });

  it("the declaration and every instance are references of a block", () => {
    const s = symbolAt(a, at("block Up", 6))!;
    expect(s).toMatchObject({ name: "Up", kind: "block" });
    expect(occurrences(a, "Up", "block").map((x) => BLOCKS.slice(x.start, x.end))).toEqual(["Up", "Up", "Up", "Up"]);
  });

  it("a block cannot be renamed to a layer kind or to a name already declared", () => {
    expect(rename(a, at("block Up", 6), "dense")).toEqual({ ok: false, message: "'dense' is a layer kind" });
    expect(rename(a, at("block Up", 6), "Down")).toMatchObject({ ok: false, message: expect.stringContaining("already declared") });
    expect(rename(a, at("block Up", 6), "2x")).toMatchObject({ ok: false, message: expect.stringContaining("not a name") });
    const r = rename(a, at("block Up", 6), "Upsample");
    expect(r.ok && r.spans.length).toBe(4);
  });

  it("the outline lists blocks with their layers, and nets with their shapes", () => {
    const o = outline(a);
    expect(o.map((x) => `${x.kind} ${x.name}`)).toEqual(["data real", "noise z", "block Up", "block Down", "net G", "net D", "value fake", "loss d", "loss g", "step d", "step g", "train train"]);
    expect(o.find((x) => x.name === "G")!.detail).toBe("(z) -> [28, 28, 1]");
    expect(o.find((x) => x.name === "Down")!.children.map((c) => c.name)).toEqual(["conv", "lrelu"]);
  });

  it("completion offers the block names among the layer kinds, and a train setting's names", () => {
    const net = at("  Up(12)", 2);
    expect(labels(complete(a, net, false))).toEqual(expect.arrayContaining(["Up", "Down", "dense", "conv"]));
    expect(labels(complete(a, at("schedule=[d, g]", 10), false))).toEqual(["d", "g"]);
    expect(labels(complete(a, at("step d: adam", 5 + 3), false))).toEqual(["adam", "rmsprop", "sgd", "momentum"]);
  });
});

describe("YAML completion by key", () => {
  const YAML = read("specs/gan.gan.yaml");
  const y = analyze(YAML, "gan.gan.yaml");
  const c = (needle: string, k = 0) => labels(complete(y, at(needle, k, YAML), true));
  it("data sources, distributions, optimizer names, layer kinds, train settings, steps", () => {
    expect(c("source: mnist", 8)).toEqual(expect.arrayContaining(["mnist", "cifar10"]));
    expect(c("dist: uniform", 6)).toEqual(["uniform", "normal", "categorical"]);
    expect(c("- dense 1024", 2)).toEqual(expect.arrayContaining(["dense", "batchnorm"]));
    expect(c("- dense 1024", 8)).toEqual(expect.arrayContaining(["units", "init"]));
    expect(c("schedule: [d, g]", 11)).toEqual(["d", "g"]);
    expect(c("over: [D]", 7)).toEqual(["G", "D"]);
    expect(c("adam: { lr", 8)).toEqual(expect.arrayContaining(["lr", "beta1"]));
  });
});

describe("quick fixes", () => {
  it("take the suggestion of a did-you-mean message when its range is the misspelled name", () => {
    expect(didYouMean("net D has no tap 'logits'; did you mean 'logit'?", "logits")).toBe("logit");
    expect(didYouMean("unknown layer 'dens'; did you mean 'dense'?", "dens")).toBe("dense");
    // Not where the range is more than a name, nor without a suggestion.
    expect(didYouMean("did you mean 'logit'?", "D(fake).logits")).toBeNull();
    expect(didYouMean("net D has no tap 'x'", "x")).toBeNull();
  });
});

describe("hover while the spec has errors", () => {
  const SEED = read("specs/gan.gan");
  // An error in a loss: D and G checked (both are applied before it), so their shapes are known.
  const broken = SEED.replace("loss g = bce_logits(D(fake).logit, ones)", "loss g = bce_logits(D(fake).logit, onez)");
  const b = analyze(broken, "gan.gan");

  it("the spec has an error, so there is no program", () => {
    expect(b.diagnostics.map((d) => d.code)).toEqual(["E0123"]);
    expect(b.program).toBeNull();
  });

  it("shows the shapes of the nets that checked: a layer, a net's signature, a tap, the taps after '.'", () => {
    expect(hover(b, at("dense 1024", 2, broken))!.markdown).toContain("`G/dense1`: [62] → **[1024]**");
    expect(hover(b, at("net D", 4, broken))!.markdown).toContain("net D(x: [28, 28, 1]) -> [1]");
    expect(hover(b, at("logit, zeros", 1, broken))!.markdown).toContain("**tap** `logit` of net `D`: [batch, 1]");
    const partial = broken.replace("D(fake).logit, onez", "D(fake).lo, onez");
    const taps = complete(analyze(partial, "gan.gan"), at("D(fake).lo, onez", 10, partial), false);
    expect(taps.entries.find((e) => e.label === "logit")).toMatchObject({ detail: "[batch, 1]" });
  });

  it("a net whose own layers have an error has no shapes, the others keep theirs", () => {
    const bad = SEED.replace("conv 128 kernel=4 stride=2", "conv 128 kernel=4 stride=0");
    const c = analyze(bad, "gan.gan");
    expect(c.diagnostics.some((d) => d.severity === "error")).toBe(true);
    expect(hover(c, at("net D", 4, bad))!.markdown).toContain("_shapes appear once this net checks without errors_");
    expect(hover(c, at("net G", 4, bad))!.markdown).toContain("net G(z: [62]) -> [28, 28, 1]");
  });
});
