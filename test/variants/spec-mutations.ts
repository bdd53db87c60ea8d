/**
 * Mutations of the specs in specs/ for the checker-vs-runtime property test (test/variants/check-train.test.ts)
 * and scripts/fuzz-check-train.ts: swap nets, taps and operands, change noise shapes, add operators and
 * functions. Every mutation is a small text edit of the .gan form; the nets are shrunk first so that one
 * training iteration is quick.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import * as fc from "fast-check";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

/** Narrow layers and blocks: same structure and shapes where they matter (outputs of 1, 10, 12 units stay; 8 channels suit attention). */
export function shrink(text: string): string {
  return text
    .replace(/\b(dense|conv|deconv|conv2d|conv2dTranspose) (\d+)\b(?!\*)/g, (w, op: string, n: string) => (Number(n) > 16 ? `${op} 8` : w))
    .replace(/(\d+\*\d+\*)(\d+)/g, (w, a: string, n: string) => (Number(n) > 16 ? `${a}8` : w))
    .replace(/\b(\d+)(\*\d+\*\d+)/g, (w, n: string, a: string) => (Number(n) > 16 ? `8${a}` : w))
    .replace(/reshape \[(\d+), (\d+), (\d+)\]/g, (w, a: string, b: string, c: string) => (Number(c) > 16 ? `reshape [${a}, ${b}, 8]` : w))
    // one D step per G step: the repeated D steps of biggan_lite (4) and sngan_resnet (5) made their
    // iterations the slowest by far (a repeat count changes nothing a mutant checks)
    .replace(/schedule=\[\d+\*d, g\]/g, "schedule=[d, g]")
    // colored MNIST is made image by image when loaded: 64 of them are enough for an iteration
    .replace(/mnist_color\(batch=(\d+)\)/g, "mnist_color(batch=$1, limit=64)")
    // block instances' widths (their first argument) and class embeddings
    .replace(/\b([A-Z]\w*)\((\d+)\b/g, (w, b: string, n: string) => (Number(n) > 16 ? `${b}(8` : w))
    // a second width of a block instance (stylegan2_lite's DBlock(cin, ch)), modulated convs and the
    // learned constant input
    .replace(/\b([A-Z]\w*\(\d+, )(\d+)\)/g, (w, head: string, n: string) => (Number(n) > 16 ? `${head}8)` : w))
    .replace(/\bmodconv\((\d+),/g, (w, n: string) => (Number(n) > 16 ? "modconv(8," : w))
    .replace(/\bconst \[(\d+), (\d+), (\d+)\]/g, (w, a: string, b: string, c: string) => (Number(c) > 16 ? `const [${a}, ${b}, 8]` : w))
    .replace(/\bembed\((\w+), (\d+)\b/g, (w, y: string, n: string) => (Number(n) > 16 ? `embed(${y}, 8` : w));
}

export const SPECS: readonly { name: string; text: string }[] = fs
  .readdirSync(path.join(ROOT, "specs"))
  .filter((f) => f.endsWith(".gan"))
  .sort()
  .map((f) => ({ name: f, text: shrink(fs.readFileSync(path.join(ROOT, "specs", f), "utf8")) }));

/** Lines holding expressions: values and losses (`name = ...`, `loss name = ...`). */
function exprLines(lines: string[]): number[] {
  return lines.flatMap((l, i) => (/^(loss\s+)?\w+\s*=/.test(l) ? [i] : []));
}

const rhsOf = (line: string) => {
  const m = /^((?:loss\s+)?\w+\s*=\s*)(.*?)(\s*(?:#.*)?)$/.exec(line)!;
  return { head: m[1]!, rhs: m[2]!, tail: m[3]! };
};

function names(text: string) {
  const nets = [...text.matchAll(/^net (\w+)\(/gm)].map((m) => m[1]!);
  const taps = [...new Set([...text.matchAll(/-> (\w+)/g)].map((m) => m[1]!)), "out"];
  const noise = [...text.matchAll(/^noise (\w+)/gm)].map((m) => m[1]!);
  const data = /^data\s+(\w+)/m.exec(text)?.[1] ?? "real";
  const values = [...text.matchAll(/^(?:loss\s+)?(\w+)\s*=/gm)].map((m) => m[1]!);
  return { nets, taps, noise, data, values };
}

type Mutation = (text: string, pick: (n: number) => number) => string;

const UNARY = ["mean", "sum", "sample_mean", "sample_norm", "abs", "square", "sigmoid", "tanh", "relu", "softplus", "exp", "pullaway", "std", "norm"];
const PAIR = ["bce_logits", "mse", "l1", "max", "min", "bce", "softmax_ce"];
const SHAPES = ["[1]", "[1, 1, 1]", "[2]", "[10]", "[62]", "[28, 28, 1]", "[1, 1]", "[7, 7, 1]"];

function term(text: string, pick: (n: number) => number): string {
  const n = names(text);
  const opts = [n.data, `${n.data}.label`, ...n.noise, ...n.values, "1", "0.5", "batch", "ones"];
  for (const net of n.nets) for (const t of n.taps) opts.push(`${net}(${[n.data, ...n.noise, ...n.values][pick(1 + n.noise.length + n.values.length)]}).${t}`);
  for (const net of n.nets) opts.push(`${net}(${n.data})`);
  return opts[pick(opts.length)]!;
}

function onExprLine(text: string, pick: (n: number) => number, f: (rhs: string) => string): string {
  const lines = text.split("\n");
  const idx = exprLines(lines);
  if (!idx.length) return text;
  const i = idx[pick(idx.length)]!;
  const { head, rhs, tail } = rhsOf(lines[i]!);
  lines[i] = head + f(rhs) + tail;
  return lines.join("\n");
}

function replaceNth(s: string, re: RegExp, pick: (n: number) => number, f: (m: RegExpMatchArray) => string): string {
  const all = [...s.matchAll(re)];
  if (!all.length) return s;
  const m = all[pick(all.length)]!;
  return s.slice(0, m.index!) + f(m) + s.slice(m.index! + m[0].length);
}

export const MUTATIONS: Readonly<Record<string, Mutation>> = {
  swapNet: (t, pick) => {
    const n = names(t).nets;
    return onExprLine(t, pick, (rhs) => replaceNth(rhs, new RegExp(`\\b(${n.join("|")})\\(`, "g"), pick, () => `${n[pick(n.length)]}(`));
  },
  swapTap: (t, pick) => {
    const taps = names(t).taps;
    return onExprLine(t, pick, (rhs) => replaceNth(rhs, /\)\.(\w+)/g, pick, () => (pick(4) === 0 ? ")" : `).${taps[pick(taps.length)]}`)));
  },
  swapArg: (t, pick) => onExprLine(t, pick, (rhs) => replaceNth(rhs, /\b([A-Z]\w*)\((\w+)\)/g, pick, (m) => `${m[1]}(${term(t, pick).replace(/\(.*$/, "") || m[2]})`)),
  noiseShape: (t, pick) => replaceNth(t, /^(noise \w+: (?:uniform|normal)\([^[\n]*)\[[^\]]*\]/gm, pick, (m) => `${m[1]}${SHAPES[pick(SHAPES.length)]}`),
  swapOperands: (t, pick) =>
    onExprLine(t, pick, (rhs) => replaceNth(rhs, /([\w.]+(?:\([^()]*\))?(?:\.\w+)?) ([-+*/]) ([\w.]+(?:\([^()]*\))?(?:\.\w+)?)/g, pick, (m) => `${m[3]} ${m[2]} ${m[1]}`)),
  addOperator: (t, pick) => onExprLine(t, pick, (rhs) => `(${rhs}) ${"+-*/"[pick(4)]} ${term(t, pick)}`),
  wrapUnary: (t, pick) => onExprLine(t, pick, (rhs) => `${UNARY[pick(UNARY.length)]}(${rhs})`),
  wrapPair: (t, pick) => onExprLine(t, pick, (rhs) => (pick(2) ? `${PAIR[pick(PAIR.length)]}(${rhs}, ${term(t, pick)})` : `${PAIR[pick(PAIR.length)]}(${term(t, pick)}, ${rhs})`)),
  replaceExpr: (t, pick) => onExprLine(t, pick, () => term(t, pick)),
};

export interface Mutant {
  spec: string;
  mutations: string[];
  text: string;
}

/** A spec of specs/ with one to three mutations; the choices come from fast-check, so failures shrink and replay. */
export const mutantArb: fc.Arbitrary<Mutant> = fc
  .record({
    spec: fc.integer({ min: 0, max: SPECS.length - 1 }),
    steps: fc.array(fc.record({ kind: fc.constantFrom(...Object.keys(MUTATIONS)), choices: fc.array(fc.nat(), { minLength: 8, maxLength: 8 }) }), { minLength: 1, maxLength: 3 }),
  })
  .map(({ spec, steps }) => {
    let text = SPECS[spec]!.text;
    for (const s of steps) {
      let k = 0;
      const pick = (n: number) => (n <= 0 ? 0 : s.choices[k++ % s.choices.length]! % n);
      text = MUTATIONS[s.kind]!(text, pick);
    }
    return { spec: SPECS[spec]!.name, mutations: steps.map((s) => s.kind), text };
  });
