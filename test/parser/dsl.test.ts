import * as fs from "node:fs";
import { describe, expect, it } from "vitest";
import { stripSpans, type Arg, type Decl, type Expr, type Layer, type Spec } from "../../src/parser/ast.ts";
import { SourceText, toJson } from "../../src/parser/diagnostics.ts";
import { parseDsl, parseExpression, parseLayer } from "../../src/parser/dsl/index.ts";
import { ganErrorMessages } from "../../src/parser/dsl/messages.ts";
import { ganParser } from "../../src/parser/dsl/parser.ts";
import { parseSpec } from "../../src/parser/index.ts";
import { canonicalLayer } from "../../src/parser/signatures.ts";

const seedText = fs.readFileSync(new URL("../../specs/gan.gan", import.meta.url), "utf8");

function parseOk(text: string, file = "t.gan"): Spec {
  const r = parseDsl(text, file);
  expect(r.diagnostics).toEqual([]);
  return r.value!;
}

function exprOf(text: string): unknown {
  const r = parseExpression(text, "e.gan");
  expect(r.diagnostics).toEqual([]);
  return stripSpans(r.value);
}

function layerOf(text: string): Layer {
  const r = parseLayer(text, "l.gan");
  expect(r.diagnostics).toEqual([]);
  return r.value!;
}

/** The bound arguments of a declaration as { name: value } (positional ones that stayed unbound as `_0`, `_1`). */
function argsOf(args: readonly Arg[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  args.forEach((a, i) => (out[a.name ? a.name.name : `_${i}`] = value(a.value)));
  return out;
}

/** A compact reading of an expression: numbers, strings, names as `$name`, lists as arrays, the rest stripped. */
function value(e: Expr): unknown {
  switch (e.kind) {
    case "Number":
    case "String":
      return e.value;
    case "Name":
      return `$${e.name}`;
    case "List":
      return e.items.map(value);
    default:
      return stripSpans(e);
  }
}

const N = (name: string) => ({ kind: "Name", name });
const Num = (v: number) => ({ kind: "Number", value: v });
const Bin = (op: string, left: unknown, right: unknown) => ({ kind: "Binary", op, left, right });
const Neg = (operand: unknown) => ({ kind: "Unary", op: "-", operand });

/** Diagnostics of `text` as code, line, column and message. */
function diagsOf(text: string, file = "t.gan"): { code: string; line: number; column: number; message: string }[] {
  const src = new SourceText(file, text);
  return parseDsl(text, file).diagnostics.map((d) => {
    const j = toJson(d, src);
    return { code: j.code, line: j.line, column: j.column, message: j.message };
  });
}

describe("the seed spec", () => {
  const spec = parseOk(seedText, "specs/gan.gan");
  const decl = <K extends Decl["kind"]>(kind: K, i = 0) => spec.decls.filter((d): d is Extract<Decl, { kind: K }> => d.kind === kind)[i]!;

  it("parses with no diagnostics, through parseSpec too", () => {
    const r = parseSpec(seedText, "specs/gan.gan");
    expect(r.diagnostics).toEqual([]);
    expect(stripSpans(r.spec)).toEqual(stripSpans(spec));
    expect(spec.file).toBe("specs/gan.gan");
    expect(spec.name).toBe("gan");
  });

  it("has its declarations in order", () => {
    expect(spec.decls.map((d) => d.kind)).toEqual(["Data", "Noise", "Net", "Net", "Value", "Loss", "Loss", "Loss", "Loss", "Step", "Step", "Train"]);
    expect(spec.decls.map((d) => ("name" in d ? d.name.name : d.kind))).toEqual(["real", "z", "G", "D", "fake", "d_real", "d_fake", "d", "g", "d", "g", "Train"]);
  });

  it("binds the data source and the noise by their signatures", () => {
    const data = decl("Data");
    expect(data.source.name).toBe("mnist");
    expect(argsOf(data.args)).toEqual({ batch: 64 });
    const noise = decl("Noise");
    expect(noise.dist.name).toBe("uniform");
    expect(argsOf(noise.args)).toEqual({ low: -1, high: 1, shape: [62] });
  });

  it("reads G's layers, one per comma or line", () => {
    const g = decl("Net", 0);
    expect(g.name.name).toBe("G");
    expect(g.params.map((p) => p.name)).toEqual(["z"]);
    expect(g.layers.map((l) => l.op.name)).toEqual(["dense", "batchnorm", "relu", "dense", "batchnorm", "relu", "reshape", "deconv", "batchnorm", "relu", "deconv", "sigmoid"]);
    expect(g.layers.map((l) => argsOf(l.args))).toEqual([
      { units: 1024 }, {}, {},
      { units: Bin("*", Bin("*", Num(7), Num(7)), Num(128)) }, {}, {},
      { shape: [7, 7, 128] },
      { filters: 64, kernel: 4, stride: 2 }, {}, {},
      { filters: 1, kernel: 4, stride: 2 }, {},
    ]);
    expect(g.layers.every((l) => l.tap === null)).toBe(true);
  });

  it("reads D's layers and attaches each tap to the last layer before its arrow", () => {
    const d = decl("Net", 1);
    expect(d.params.map((p) => p.name)).toEqual(["x"]);
    expect(d.layers.map((l) => l.op.name)).toEqual(["conv", "lrelu", "conv", "batchnorm", "lrelu", "flatten", "dense", "batchnorm", "lrelu", "dense"]);
    expect(d.layers.map((l) => l.tap?.name ?? null)).toEqual([null, null, null, null, null, null, null, null, "features", "logit"]);
    expect(argsOf(d.layers[0]!.args)).toEqual({ filters: 64, kernel: 4, stride: 2 });
    expect(argsOf(d.layers[1]!.args)).toEqual({ alpha: 0.2 });
    expect(argsOf(d.layers[9]!.args)).toEqual({ units: 1 });
  });

  it("reads values and losses as expressions", () => {
    expect(stripSpans(decl("Value").expr)).toEqual({ kind: "Call", callee: { kind: "Ident", name: "G" }, args: [{ kind: "Arg", name: null, value: N("z") }] });
    const dReal = decl("Loss", 0);
    expect(dReal.name.name).toBe("d_real");
    expect(stripSpans(dReal.expr)).toEqual({
      kind: "Call",
      callee: { kind: "Ident", name: "bce_logits" },
      args: [
        {
          kind: "Arg",
          name: null,
          value: { kind: "Member", object: { kind: "Call", callee: { kind: "Ident", name: "D" }, args: [{ kind: "Arg", name: null, value: N("real") }] }, member: { kind: "Ident", name: "logit" } },
        },
        { kind: "Arg", name: null, value: N("ones") },
      ],
    });
    expect(stripSpans(decl("Loss", 2).expr)).toEqual(Bin("+", N("d_real"), N("d_fake")));
  });

  it("reads the steps", () => {
    const [d, g] = [decl("Step", 0), decl("Step", 1)];
    expect([d.name.name, d.optimizer.name.name, d.loss.name, d.over.map((o) => o.name), d.shared]).toEqual(["d", "adam", "d", ["D"], false]);
    expect(argsOf(d.optimizer.args)).toEqual({ lr: 2e-4, beta1: 0.5 });
    expect([g.name.name, g.loss.name, g.over.map((o) => o.name)]).toEqual(["g", "g", ["G"]]);
    expect(argsOf(g.optimizer.args)).toEqual({ lr: 1e-3, beta1: 0.5 });
    expect(seedText.slice(d.optimizer.span.start, d.optimizer.span.end)).toBe("adam(lr=2e-4, beta1=0.5)");
  });

  it("reads the train settings", () => {
    expect(argsOf(decl("Train").settings)).toEqual({ epochs: 25, schedule: ["$d", "$g"], sample_every: 300, checkpoint_every: "$epoch" });
  });

  it("gives every name written in the file the span of its text", () => {
    const idents: { name: string; span: { start: number; end: number } }[] = [];
    for (const d of spec.decls) {
      if ("name" in d) idents.push(d.name);
      if (d.kind === "Net") for (const l of d.layers) idents.push(l.op, ...(l.tap ? [l.tap] : []), ...d.params);
      if (d.kind === "Step") idents.push(d.optimizer.name, d.loss, ...d.over);
      if (d.kind === "Data") idents.push(d.source);
      if (d.kind === "Noise") idents.push(d.dist);
    }
    expect(idents.length).toBeGreaterThan(40);
    for (const id of idents) expect(seedText.slice(id.span.start, id.span.end)).toBe(id.name);
    const g = decl("Net", 0);
    expect(seedText.slice(g.layers[3]!.span.start, g.layers[3]!.span.end)).toBe("dense 7*7*128");
    expect(seedText.slice(g.layers[7]!.span.start, g.layers[7]!.span.end)).toBe("deconv 64 kernel=4 stride=2");
    expect(seedText.slice(decl("Loss", 2).span.start, decl("Loss", 2).span.end)).toBe("loss d = d_real + d_fake");
  });
});

describe("expressions", () => {
  it("binds * tighter than +", () => {
    expect(exprOf("a + b * c")).toEqual(Bin("+", N("a"), Bin("*", N("b"), N("c"))));
    expect(exprOf("a * b + c")).toEqual(Bin("+", Bin("*", N("a"), N("b")), N("c")));
    expect(exprOf("(a + b) * c")).toEqual(Bin("*", Bin("+", N("a"), N("b")), N("c")));
  });

  it("binds unary minus tighter than *", () => {
    expect(exprOf("-x * y")).toEqual(Bin("*", Neg(N("x")), N("y")));
    expect(exprOf("x * -y")).toEqual(Bin("*", N("x"), Neg(N("y"))));
    expect(exprOf("- -x")).toEqual(Neg(Neg(N("x"))));
  });

  it("makes - and / left associative", () => {
    expect(exprOf("a - b - c")).toEqual(Bin("-", Bin("-", N("a"), N("b")), N("c")));
    expect(exprOf("a / b / c")).toEqual(Bin("/", Bin("/", N("a"), N("b")), N("c")));
    expect(exprOf("a - b + c")).toEqual(Bin("+", Bin("-", N("a"), N("b")), N("c")));
  });

  it("folds a negated number into the literal", () => {
    expect(exprOf("-3")).toEqual(Num(-3));
    expect(exprOf("-2e-4")).toEqual(Num(-2e-4));
    expect(exprOf("1 - 3")).toEqual(Bin("-", Num(1), Num(3)));
  });

  it("reads numbers, strings, lists, calls with named arguments, and member chains", () => {
    expect(exprOf(".5")).toEqual(Num(0.5));
    expect(exprOf("1.")).toEqual(Num(1));
    expect(exprOf("1E3")).toEqual(Num(1000));
    expect(exprOf("1e999")).toEqual(Num(Infinity));
    expect(exprOf('"a\\"b"')).toEqual({ kind: "String", value: 'a"b' });
    expect(exprOf("[]")).toEqual({ kind: "List", items: [] });
    expect(exprOf("[1, [2]]")).toEqual({ kind: "List", items: [Num(1), { kind: "List", items: [Num(2)] }] });
    expect(exprOf("f(a, k=2)")).toEqual({
      kind: "Call",
      callee: { kind: "Ident", name: "f" },
      args: [{ kind: "Arg", name: null, value: N("a") }, { kind: "Arg", name: { kind: "Ident", name: "k" }, value: Num(2) }],
    });
    expect(exprOf("real.label.x")).toEqual({ kind: "Member", object: { kind: "Member", object: N("real"), member: { kind: "Ident", name: "label" } }, member: { kind: "Ident", name: "x" } });
  });

  it("gives binary, unary, call and member nodes the span from their first to their last token", () => {
    for (const text of ["-a * b + c", "- -x", "f(a, [1, 2]).t / 2", "D(x).logit"]) {
      const e = parseExpression(`  ${text}  `, "e.gan").value!;
      expect(`  ${text}  `.slice(e.span.start, e.span.end)).toBe(text);
    }
  });

  // Known problem: a parenthesised operand gives its parent the span of the inner expression, without the
  // parentheses, so `(a + b) * c` is underlined from `a` and `x * (a + b)` up to `b`.
  it("includes the parentheses of an operand in the span of its parent", () => {
    for (const text of ["-a * (b + c)", "(a + b) * c", "-(a)"]) {
      const e = parseExpression(`  ${text}  `, "e.gan").value!;
      expect(`  ${text}  `.slice(e.span.start, e.span.end)).toBe(text);
    }
  });

  it("shifts spans by the base offset", () => {
    const r = parseExpression("a + b", "e.gan", 100);
    expect(r.value!.span).toEqual({ start: 100, end: 105 });
    const bad = parseExpression("a +", "e.gan", 100);
    expect(bad.diagnostics.map((d) => [d.code, d.span.start])).toEqual([["E0002", 103]]);
  });

  it("refuses input after a complete expression or layer", () => {
    expect(parseExpression("a b", "e.gan").diagnostics.map((d) => [d.code, d.message, d.span])).toEqual([["E0002", "unexpected name 'b'", { start: 2, end: 3 }]]);
    expect(parseLayer("dense 1 dense 2", "l.gan").diagnostics.map((d) => [d.code, d.span])).toEqual([["E0002", { start: 8, end: 13 }]]);
  });
});

describe("arguments bound by position", () => {
  it("names a layer's bare positional arguments after its signature", () => {
    expect(argsOf(layerOf("dense 1024").args)).toEqual({ units: 1024 });
    expect(argsOf(layerOf("conv 64 4 2").args)).toEqual({ filters: 64, kernel: 4, stride: 2 });
    expect(argsOf(layerOf("reshape [7, 7, 128]").args)).toEqual({ shape: [7, 7, 128] });
    expect(argsOf(layerOf("lrelu 0.2").args)).toEqual({ alpha: 0.2 });
    expect(argsOf(layerOf("dropout rate=0.3").args)).toEqual({ rate: 0.3 });
  });

  it("binds parenthesised arguments the same way as bare ones", () => {
    expect(stripSpans(layerOf("conv(64, 4, stride=2)"))).toEqual(stripSpans(layerOf("conv 64 4 stride=2")));
  });

  it("names the positional arguments of data sources, noise and optimizers", () => {
    const spec = parseOk("data r: mnist(32, \"digits\")\nnoise z: uniform(-1, 1, [62])\nnoise c: categorical(10)\nnoise n: normal(0, 0.5, [2])\nstep s: adam(1e-3, 0.5) minimize l over G\n");
    const [data, z, c, n, step] = spec.decls as [Extract<Decl, { kind: "Data" }>, Extract<Decl, { kind: "Noise" }>, Extract<Decl, { kind: "Noise" }>, Extract<Decl, { kind: "Noise" }>, Extract<Decl, { kind: "Step" }>];
    expect(argsOf(data.args)).toEqual({ batch: 32, path: "digits" });
    expect(argsOf(z.args)).toEqual({ low: -1, high: 1, shape: [62] });
    expect(argsOf(c.args)).toEqual({ classes: 10 });
    expect(argsOf(n.args)).toEqual({ mean: 0, std: 0.5, shape: [2] });
    expect(argsOf(step.optimizer.args)).toEqual({ lr: 1e-3, beta1: 0.5 });
  });

  it("spells short parameter names canonically", () => {
    const l = layerOf("conv 64 k=4 s=2 p=valid");
    expect(argsOf(l.args)).toEqual({ filters: 64, kernel: 4, stride: 2, padding: "$valid" });
    expect(l.args[1]!.name!.span).toEqual({ start: 8, end: 9 }); // the alias as written
  });

  it("collects the positional arguments of a variadic parameter into one list", () => {
    expect(argsOf(layerOf("concat(y, w)").args)).toEqual({ inputs: ["$y", "$w"] });
  });

  it("leaves surplus positional arguments, and those of unknown layers, unnamed for the checker", () => {
    expect(argsOf(layerOf("lrelu 0.2 0.3").args)).toEqual({ alpha: 0.2, _1: 0.3 });
    expect(argsOf(layerOf("foo 1 x=2").args)).toEqual({ _0: 1, x: 2 });
    expect(argsOf(layerOf("relu 1").args)).toEqual({ _0: 1 });
  });

  it("reads a bare positional argument that is an expression, not a name", () => {
    expect(argsOf(layerOf("dense -1").args)).toEqual({ units: -1 });
    expect(argsOf(layerOf("dense (n)").args)).toEqual({ units: "$n" });
    // A name after a layer starts the next layer: `dense n` is two layers.
    expect(parseLayer("dense n", "l.gan").diagnostics.map((d) => d.code)).toEqual(["E0002"]);
  });
});

describe("layer aliases", () => {
  const cases: [string, string, Record<string, unknown>][] = [
    ["conv 8 3", "conv2d", { filters: 8, kernel: 3 }],
    ["deconv 8 3", "conv2dTranspose", { filters: 8, kernel: 3 }],
    ["conv2d_transpose 8 3", "conv2dTranspose", { filters: 8, kernel: 3 }],
    ["fc 10", "dense", { units: 10 }],
    ["bn 0.99", "batchnorm", { decay: 0.99 }],
    ["ln 1e-3", "layernorm", { epsilon: 1e-3 }],
    ["lrelu 0.1", "leakyrelu", { alpha: 0.1 }],
    ["leaky_relu 0.1", "leakyrelu", { alpha: 0.1 }],
    ["leakyrelu 0.1", "leakyrelu", { alpha: 0.1 }],
  ];
  it.each(cases)("%s is %s", (text, canonical, args) => {
    const l = layerOf(text);
    expect(canonicalLayer(l.op.name)).toBe(canonical);
    expect(argsOf(l.args)).toEqual(args);
  });
});

describe("layers and lists of layers", () => {
  it("separates layers by commas or line ends, with an optional trailing comma", () => {
    const spec = parseOk("net N(x) {\n  dense 4, relu,\n  dense(2) -> out, sigmoid\n  flatten\n}\n");
    const net = spec.decls[0] as Extract<Decl, { kind: "Net" }>;
    expect(net.layers.map((l) => [l.op.name, l.tap?.name ?? null])).toEqual([["dense", null], ["relu", null], ["dense", "out"], ["sigmoid", null], ["flatten", null]]);
  });

  it("accepts both comment styles, and 'shared' and several nets in a step", () => {
    const spec = parseOk("# one\n// two\nstep s: sgd minimize l over G, E shared // three\n");
    const s = spec.decls[0] as Extract<Decl, { kind: "Step" }>;
    expect([s.optimizer.name.name, s.optimizer.args, s.over.map((o) => o.name), s.shared]).toEqual(["sgd", [], ["G", "E"], true]);
  });

  it("reads state, after-assignments and after-actions", () => {
    const spec = parseOk("state k = 0\nafter d: k = k + 1\nafter d: clip_weights(D, 0.01)\n");
    expect(stripSpans(spec.decls)).toEqual([
      { kind: "State", name: { kind: "Ident", name: "k" }, init: Num(0) },
      { kind: "After", step: { kind: "Ident", name: "d" }, target: { kind: "Ident", name: "k" }, expr: Bin("+", N("k"), Num(1)) },
      {
        kind: "After",
        step: { kind: "Ident", name: "d" },
        target: null,
        expr: { kind: "Call", callee: { kind: "Ident", name: "clip_weights" }, args: [{ kind: "Arg", name: null, value: N("D") }, { kind: "Arg", name: null, value: Num(0.01) }] },
      },
    ]);
  });

  it("gives a spec without a name the name null", () => {
    expect(parseOk("x = 1\n").name).toBeNull();
  });
});

describe("syntax diagnostics", () => {
  it("E0001 for a character outside the language, with its line and column", () => {
    // The syntax error that the missing character causes in the same declaration is not reported again.
    expect(diagsOf("x = 1\ny = 2 @ 3\n")).toEqual([{ code: "E0001", line: 2, column: 7, message: "unexpected character '@'" }]);
  });

  it("E0008 a single-quoted string: write double quotes", () => {
    expect(diagsOf("data r: mnist(path='x')\n")).toEqual([{ code: "E0008", line: 1, column: 20, message: 'strings use double quotes: write "..."' }]);
  });

  it("E0001 names control characters and replacement characters by code point", () => {
    expect(diagsOf("x = 1\u0001\n")[0]).toMatchObject({ code: "E0001", line: 1, column: 6, message: "unexpected character U+0001" });
    expect(diagsOf("x = 1\ufffd\n")[0]).toMatchObject({ code: "E0001", line: 1, column: 6, message: "unexpected character U+FFFD (the file is not valid UTF-8)" });
  });

  it("E0001 covers both halves of a character outside the BMP", () => {
    const d = parseDsl("x = 1 \u{1F600}\n", "t.gan").diagnostics[0]!;
    expect([d.code, d.span, d.message]).toEqual(["E0001", { start: 6, end: 8 }, "unexpected character '\u{1F600}'"]);
  });

  it("E0002 for a missing '}' at the end of the file, just after the last token", () => {
    expect(diagsOf("net N(x) {\n  dense 1\n")).toEqual([{ code: "E0002", line: 2, column: 10, message: "expected '}', found end of input" }]);
  });

  it("E0002 for a missing '}' before the next declaration", () => {
    expect(diagsOf("net N(x) {\n  dense 1\nnet M(y) {\n  relu\n}\n")).toEqual([{ code: "E0002", line: 3, column: 1, message: "expected '}', found keyword 'net'" }]);
  });

  it("E0002 for a missing ')' in a net's inputs", () => {
    expect(diagsOf("net N(x, y {\n  relu\n}\n")).toEqual([{ code: "E0002", line: 1, column: 12, message: "expected ')', found '{'" }]);
  });

  it("E0002 for a missing ')' in a call", () => {
    expect(diagsOf("loss l = mean(x\nloss m = 1\n")).toEqual([{ code: "E0002", line: 2, column: 1, message: "expected ',' or ')', found keyword 'loss'" }]);
  });

  it("E0002 for a missing ':' in a data declaration", () => {
    expect(diagsOf("data r mnist\n")).toEqual([{ code: "E0002", line: 1, column: 8, message: "expected ':', found name 'mnist'" }]);
  });

  it("E0002 for a missing '=' in a train setting", () => {
    expect(diagsOf("train {\n  epochs 25\n}\n")).toEqual([{ code: "E0002", line: 2, column: 10, message: "expected '=', found number 25" }]);
  });

  it("E0002 for a missing 'minimize' and a missing 'over'", () => {
    expect(diagsOf("step s: adam l over G\n")).toEqual([{ code: "E0002", line: 1, column: 14, message: "expected 'minimize', found name 'l'" }]);
    expect(diagsOf("step s: adam minimize l G\n")).toEqual([{ code: "E0002", line: 1, column: 25, message: "expected 'over', found name 'G'" }]);
  });

  it("E0002 for a keyword where a name belongs, at the keyword", () => {
    expect(diagsOf("loss step = 1\n")[0]).toEqual({ code: "E0002", line: 1, column: 6, message: "expected a name, found keyword 'step'" });
    expect(diagsOf("noise over: normal\n")[0]).toEqual({ code: "E0002", line: 1, column: 7, message: "expected a name, found keyword 'over'" });
  });

  it("E0002 for a tap that is not a name", () => {
    expect(diagsOf("net N(x) {\n  dense 1 -> 2\n}\n")).toEqual([{ code: "E0002", line: 2, column: 14, message: "expected a name, found number 2" }]);
  });

  it("E0002 for a missing expression, at the token that follows", () => {
    expect(diagsOf("loss l =\nloss m = 1\n")).toEqual([{ code: "E0002", line: 2, column: 1, message: "expected an expression, found keyword 'loss'" }]);
    expect(diagsOf("x = 1 +")).toEqual([{ code: "E0002", line: 1, column: 8, message: "expected an expression, found end of input" }]);
  });

  it("E0002 for a declaration that does not start with a declaration keyword or a name", () => {
    const d = diagsOf("x = 1\n] = 2\n");
    expect(d[0]).toMatchObject({ code: "E0002", line: 2, column: 1 });
  });

  it("E0003 for nesting deeper than 200, at the first bracket too deep, whatever its kind", () => {
    const deep = (n: number) => `x = ${"(".repeat(n)}1${")".repeat(n)}\n`;
    expect(diagsOf(deep(200))).toEqual([]);
    expect(diagsOf(deep(201))).toEqual([{ code: "E0003", line: 1, column: 5 + 200, message: "nesting deeper than 200 levels" }]);
    const mixed = `x = ${"([".repeat(100)}[1]${"])".repeat(100)}\n`;
    expect(diagsOf(mixed)).toEqual([{ code: "E0003", line: 1, column: 5 + 200, message: "nesting deeper than 200 levels" }]);
  });

  it("E0004 for an empty spec, one of only comments and one of only a BOM", () => {
    for (const text of ["", "# nothing\n// here\n", "\ufeff", " \t\r\n"]) {
      expect(diagsOf(text)).toEqual([{ code: "E0004", line: 1, column: 1, message: "the spec is empty: it declares no networks, losses or steps" }]);
    }
  });

  it("counts columns in UTF-16 code units after a BOM and across CRLF and CR line ends", () => {
    for (const [text, line, column] of [
      ["\ufeffdata r mnist\n", 1, 8],
      ["x = 1\r\ndata r mnist\r\n", 2, 8],
      ["x = 1\rdata r mnist\r", 2, 8],
      ["x = \"\u00e9\u00e9\"\ndata r mnist\n", 2, 8],
    ] as const) {
      expect(diagsOf(text)[0]).toMatchObject({ code: "E0002", line, column });
    }
  });

  it("reports every syntax error in the file, not just the first", () => {
    const d = diagsOf("data r mnist\nnoise z normal\n");
    expect(d.map((x) => [x.code, x.line, x.column])).toEqual([["E0002", 1, 8], ["E0002", 2, 9]]);
  });

  it("syntax errors are worded by chevrotain's error message provider (ganErrorMessages), not rewritten from its English", () => {
    const parser = ganParser();
    parser.input = [];
    expect((parser as unknown as { errorMessageProvider: unknown }).errorMessageProvider).toBe(ganErrorMessages);
    const cases: [string, string][] = [
      ["data r mnist\n", "expected ':', found name 'mnist'"], // a token mismatch
      ["loss g = (1 + \n", "expected an expression, found end of input"], // no alternative in an expression
      ["step d: adam(lr=1 minimize d over D\n", "expected ',' or ')', found keyword 'minimize'"], // an unclosed argument list
      ["step d: adam() minimize d over\n", "expected a name, found end of input"], // at least one name
      ["}\n", "unexpected '}'"], // input left over after the last declaration
      ["net G(z) { dense 1 }\n= 3\n", "expected a new declaration (data, noise, net, loss, step, state, after, train, or name = expression), found '='"],
    ];
    for (const [text, message] of cases) {
      const d = diagsOf(text).filter((x) => x.code === "E0002");
      expect(d.map((x) => x.message), text).toEqual([message]);
    }
  });
});
