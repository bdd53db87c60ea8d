/**
 * The server's incremental parse gives what parseSpec gives, spans included, after any sequence of edits
 * (fast-check), whether it put the spec together from its pieces or parsed the whole text.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseSpec } from "../../src/parser/index.ts";
import { IncrementalParser, pieceStarts } from "../../src/lsp/incremental.ts";
import { ROOT } from "../helpers.ts";
import { checkText } from "../../src/check.ts";

const SPECS = ["gan.gan", "began.gan", "infogan.gan", "wgan_gp.gan"].map((f) => fs.readFileSync(path.join(ROOT, "specs", f), "utf8"));
const PIECES = ["\n", "\r\n", " ", "=", "==", "loss x = a\n", "\nfake2 = G(z)\n", "net", "\nnet N(x) {\n  dense 4\n}\n", "}", "{", "(", ")", ",", "gan \"x\"\n", "\ngan \"y\"", "#", "\nstep", "x", "1", "\ntrain { steps=1 }", "\uFEFF", "\"", "-> t", "\nepochs=2"];
const edit = fc.record({ at: fc.double({ min: 0, max: 1, noNaN: true }), del: fc.nat({ max: 20 }), ins: fc.oneof(fc.constantFrom(...PIECES), fc.string({ maxLength: 4 })) });

describe("IncrementalParser", () => {
  it("cuts the seed spec where declarations start", () => {
    const text = SPECS[0]!;
    const starts = pieceStarts(text);
    expect(starts[0]).toBe(0);
    expect(starts.slice(1).map((s) => text.slice(s, text.indexOf("\n", s)))).toEqual([
      "noise z: uniform(-1, 1, [62])",
      "net G(z) {",
      "net D(x) {",
      "fake = G(z)",
      "loss d_real = bce_logits(D(real).logit, ones)",
      "loss d_fake = bce_logits(D(fake).logit, zeros)",
      "loss d = d_real + d_fake",
      "loss g = bce_logits(D(fake).logit, ones)",
      "step d: adam(lr=2e-4, beta1=0.5) minimize d over D",
      "step g: adam(lr=1e-3, beta1=0.5) minimize g over G",
      "train { epochs=25, schedule=[d, g], sample_every=300, checkpoint_every=epoch }",
    ]);
  });

  it("gives parseSpec's spec and diagnostics after every edit of a sequence", () => {
    let pieced = 0;
    let total = 0;
    fc.assert(
      fc.property(fc.nat({ max: SPECS.length - 1 }), fc.array(edit, { minLength: 1, maxLength: 6 }), (which, edits) => {
        const parser = new IncrementalParser();
        let text = SPECS[which]!;
        expect(parser.parse(text, "s.gan")).toEqual(parseSpec(text, "s.gan"));
        for (const e of edits) {
          const start = Math.floor(e.at * text.length);
          text = text.slice(0, start) + e.ins + text.slice(Math.min(text.length, start + e.del));
          const got = parser.parse(text, "s.gan");
          total++;
          if (parser.fromPieces) pieced++;
          expect(got).toEqual(parseSpec(text, "s.gan"));
        }
      }),
      { numRuns: 150, seed: 11 },
    );
    // Both ways were taken (most random edits break the spec somewhere, and then the whole text is parsed).
    expect(pieced).toBeGreaterThan(0);
    expect(pieced).toBeLessThan(total);
  });

  it("puts the spec together from pieces after every edit that keeps it well-formed", () => {
    fc.assert(
      fc.property(fc.nat({ max: SPECS.length - 1 }), fc.array(fc.tuple(fc.double({ min: 0, max: 1, noNaN: true }), fc.constantFrom("digit", "comment", "value", "space")), { minLength: 1, maxLength: 8 }), (which, edits) => {
        const parser = new IncrementalParser();
        let text = SPECS[which]!;
        parser.parse(text, "s.gan");
        for (const [w, kind] of edits) {
          const lines = text.split("\n");
          const i = Math.floor(w * lines.length) % lines.length;
          if (kind === "digit") lines[i] = lines[i]!.replace(/\b([1-9])\b/, (d) => String((Number(d) % 9) + 1));
          else if (kind === "comment") lines[i] = lines[i] + "  # note";
          else if (kind === "space") lines[i] = lines[i]!.replace(/, /, ",  ");
          else if (pieceStarts(text).includes(lines.slice(0, i).join("\n").length + (i ? 1 : 0)) && i > 0) lines.splice(i, 0, `extra${i} = ones`);
          text = lines.join("\n");
          const want = parseSpec(text, "s.gan");
          expect(parser.parse(text, "s.gan")).toEqual(want);
          expect(parser.fromPieces).toBe(want.diagnostics.length === 0);
        }
      }),
      { numRuns: 100, seed: 5 },
    );
  });
});

describe("checking with the last check's nets (NetCache)", () => {
  // Nets with blocks (sngan_resnet, biggan_lite), labels (cgan) and taps read by losses (began, infogan).
  const FILES = ["gan.gan", "began.gan", "infogan.gan", "wgan_gp.gan", "cgan.gan", "sngan_resnet.gan", "biggan_lite.gan"].map((f) => path.join(ROOT, "specs", f));
  const TEXTS = FILES.map((f) => fs.readFileSync(f, "utf8"));
  const lineEdit = fc.tuple(fc.double({ min: 0, max: 1, noNaN: true }), fc.constantFrom("digit", "comment", "blank", "space", "typo", "dup"));

  it("gives the whole-text check's diagnostics and program after every edit of a sequence", () => {
    let hits = 0;
    let moved = 0;
    let misses = 0;
    fc.assert(
      fc.property(fc.nat({ max: FILES.length - 1 }), fc.array(lineEdit, { minLength: 1, maxLength: 6 }), (which, edits) => {
        const file = FILES[which]!;
        const parser = new IncrementalParser();
        const check = (text: string) => checkText(text, file, (t, f) => parser.parse(t, f), { nets: parser.nets });
        let text = TEXTS[which]!;
        expect(check(text)).toEqual(checkText(text, file));
        for (const [w, kind] of edits) {
          const lines = text.split("\n");
          const i = Math.floor(w * lines.length) % lines.length;
          if (kind === "digit") lines[i] = lines[i]!.replace(/\b([1-9])\b/, (d) => String((Number(d) % 9) + 1));
          else if (kind === "comment") lines[i] = lines[i] + "  # note";
          else if (kind === "blank") lines.splice(i, 0, "");
          else if (kind === "space") lines[i] = lines[i]!.replace(/, /, ",  ");
          else if (kind === "typo") lines[i] = lines[i]!.replace(/[a-z](?=[a-z]*\b)/, "q");
          else lines.splice(i, 0, lines[i]!);
          text = lines.join("\n");
          expect(check(text)).toEqual(checkText(text, file));
        }
        hits += parser.nets.hits;
        moved += parser.nets.moved;
        misses += parser.nets.misses;
      }),
      { numRuns: 120, seed: 7 },
    );
    // The cache was used, with nets moved to other lines, and missed where a net or its inputs changed.
    expect(hits).toBeGreaterThan(100);
    expect(moved).toBeGreaterThan(20);
    expect(misses).toBeGreaterThan(0);
  });
});
