import type * as A from "./ast.ts";
import { DATA_SOURCES, LAYERS, NOISE_DISTS, OPTIMIZERS, canonicalLayer, type Signature } from "./signatures.ts";

/**
 * Prints an AST back as a spec, in either form: `.gan` text or `.gan.yaml`. Reading the printed text
 * gives the same AST again (spans aside), which the tests check for every spec in specs/; `ganc convert`
 * uses this to turn one form into the other. Comments are not part of the AST and are not carried over.
 */
const PREC: Record<A.BinaryExpr["op"], number> = { "+": 1, "-": 1, "*": 2, "/": 2 };

function number(v: number): string {
  if (Object.is(v, -0)) return "-0";
  if (Number.isInteger(v) && Math.abs(v) < 1e9) return String(v);
  const s = String(v);
  const e = v.toExponential().replace("e+", "e");
  return e.length < s.length && Number(e) === v ? e : s;
}

/** An expression with the fewest parentheses that keep its tree. */
export function printExpr(e: A.Expr, parentPrec = 0, rightOperand = false): string {
  switch (e.kind) {
    case "Number":
      return number(e.value);
    case "String":
      return JSON.stringify(e.value);
    case "Name":
      return e.name;
    case "List":
      return `[${e.items.map((x) => printExpr(x)).join(", ")}]`;
    case "Call":
      return `${e.callee.name}(${e.args.map(printArg).join(", ")})`;
    case "Member":
      return `${printExpr(e.object, 4)}.${e.member.name}`;
    case "Unary":
      return wrap(`-${printExpr(e.operand, 3)}`, 3, parentPrec, false);
    case "Binary": {
      const p = PREC[e.op];
      const text = `${printExpr(e.left, p)} ${e.op} ${printExpr(e.right, p, true)}`;
      return wrap(text, p, parentPrec, rightOperand);
    }
  }
}

function wrap(text: string, prec: number, parentPrec: number, rightOperand: boolean): string {
  return prec < parentPrec || (rightOperand && prec === parentPrec) ? `(${text})` : text;
}

function printArg(a: A.Arg): string {
  return a.name ? `${a.name.name}=${printExpr(a.value)}` : printExpr(a.value);
}

/**
 * Arguments in signature order print positionally, up to `maxPositional` of them, while they run unbroken
 * from the first parameter; the rest by name (`dense 1024`, `conv 64 kernel=4 stride=2`).
 */
function printArgs(sig: Signature | undefined, args: readonly A.Arg[], maxPositional = Infinity): string[] {
  const out: string[] = [];
  let positional = true;
  args.forEach((a, i) => {
    const param = sig?.params[i];
    const variadic = param?.endsWith("...") && a.name?.name === param.slice(0, -3);
    if (positional && i < maxPositional && a.name && (param === a.name.name || variadic)) {
      out.push(variadic && a.value.kind === "List" ? a.value.items.map((x) => printExpr(x)).join(", ") : printExpr(a.value));
    } else {
      positional = false;
      out.push(printArg(a));
    }
  });
  return out;
}

export function printLayer(l: A.Layer): string {
  const args = printArgs(LAYERS[canonicalLayer(l.op.name)], l.args, 1);
  // A bare positional argument may not start with a name (it would read as the next layer): use parentheses.
  const needsParens = args.some((a, i) => !/^[A-Za-z_]\w*=/.test(a) && (/^[A-Za-z_]/.test(a) || !l.args[i]!.name) && i === 0);
  const body = args.length === 0 ? l.op.name : needsParens ? `${l.op.name}(${args.join(", ")})` : `${l.op.name} ${args.join(" ")}`;
  return l.tap ? `${body} -> ${l.tap.name}` : body;
}

/**
 * How `ganc check --resolved` lays out a spec: `line(offset)` gives the line a declaration or layer had in
 * the file it came from, and the printer puts it on that line again (layers that shared a line share one),
 * so a trainer compiled from the printed spec points at the same lines; `comment` adds a trailing comment.
 */
export interface PrintLayout {
  readonly line: (offset: number) => number;
  readonly comment?: (node: A.Decl | readonly A.Layer[]) => string | null;
}

export function printDsl(spec: A.Spec, layout?: PrintLayout): string {
  const out: string[] = [];
  const emit = (text: string, at?: { span: A.Span }, node?: A.Decl | readonly A.Layer[]) => {
    if (layout && at) while (out.length + 1 < layout.line(at.span.start)) out.push("");
    const c = layout?.comment && node ? layout.comment(node) : null;
    out.push(c ? `${text}   # ${c}` : text);
  };
  if (spec.name !== null) out.push(`gan ${JSON.stringify(spec.name)}`);
  if (spec.name !== null && !layout) out.push("");
  let prev: A.Decl["kind"] | null = null;
  for (const d of spec.decls) {
    if (!layout && prev !== null && (d.kind === "Net" || prev === "Net" || d.kind === "Block" || prev === "Block" || (d.kind !== prev && !(isExprDecl(d.kind) && isExprDecl(prev))))) out.push("");
    prev = d.kind;
    switch (d.kind) {
      case "Data":
        emit(`data ${d.name.name}: ${d.source.name}(${printArgs(DATA_SOURCES[d.source.name], d.args, 0).join(", ")})`, d, d);
        break;
      case "Noise":
        emit(`noise ${d.name.name}: ${d.dist.name}(${printArgs(NOISE_DISTS[d.dist.name], d.args).join(", ")})`, d, d);
        break;
      case "Block":
      case "Net": {
        const head =
          d.kind === "Net"
            ? `net ${d.name.name}(${d.params.map((p) => p.name).join(", ")}) {`
            : `block ${d.name.name}(${d.params.map((p) => (p.dflt ? `${p.name.name}=${printExpr(p.dflt)}` : p.name.name)).join(", ")}) {`;
        // With a layout, the layers that shared a line in the source share one again, and so do the braces
        // with the layers they stood beside (`net G(z) { dense 16, relu }`).
        const groups: A.Layer[][] = [];
        for (const l of d.layers) {
          const last = groups[groups.length - 1];
          if (layout && last && layout.line(last[0]!.span.start) === layout.line(l.span.start)) last.push(l);
          else groups.push([l]);
        }
        const first = groups[0];
        const headShared = !!(layout && first && layout.line(first[0]!.span.start) === layout.line(d.span.start));
        const lastGroup = groups[groups.length - 1];
        const closeShared = !!(layout && lastGroup && layout.line(d.span.end - 1) === layout.line(lastGroup[lastGroup.length - 1]!.span.start));
        if (!headShared) emit(head, d, d);
        groups.forEach((g, i) => {
          const text = `${g.map(printLayer).join(", ")}${closeShared && i === groups.length - 1 ? " }" : ""}`;
          if (i === 0 && headShared) {
            const layers = layout?.comment?.(g);
            const net = layout?.comment?.(d);
            emit(`${head} ${text}`, d, undefined);
            const c = [net, layers].filter(Boolean).join("; ");
            if (c) out[out.length - 1] += `   # ${c}`;
          } else emit(`  ${text}`, g[0], g);
        });
        if (!closeShared) out.push("}");
        break;
      }
      case "Value":
        emit(`${d.name.name} = ${printExpr(d.expr)}`, d, d);
        break;
      case "Loss":
        emit(`loss ${d.name.name} = ${printExpr(d.expr)}`, d, d);
        break;
      case "State":
        emit(`state ${d.name.name} = ${printExpr(d.init)}`, d, d);
        break;
      case "Step": {
        const o = d.optimizer;
        const args = o.args.length ? `(${printArgs(OPTIMIZERS[o.name.name], o.args, 0).join(", ")})` : "";
        emit(`step ${d.name.name}: ${o.name.name}${args} minimize ${d.loss.name} over ${d.over.map((n) => n.name).join(", ")}${d.shared ? " shared" : ""}`, d, d);
        break;
      }
      case "After":
        emit(`after ${d.step.name}: ${d.target ? `${d.target.name} = ` : ""}${printExpr(d.expr)}`, d, d);
        break;
      case "Train":
        emit(`train { ${d.settings.map(printArg).join(", ")} }`, d, d);
        break;
    }
  }
  return out.join("\n") + "\n";
}

const isExprDecl = (k: A.Decl["kind"]) => k === "Value" || k === "Loss";

// ---- YAML ----------------------------------------------------------------------------------------------

const RESERVED_SCALARS = /^(?:true|false|null|~|yes|no|on|off|y|n)$/i;

/**
 * A YAML scalar for an expression string: plain where YAML reads it back as the same string, else double
 * quoted. Inside a flow collection (`{ ... }`, `[ ... ]`) commas and brackets end a plain scalar too. Quotes
 * inside (diffaug's policy) are plain text in YAML; only one at the start would open a quoted scalar.
 */
function yamlString(s: string, flow = false): string {
  const plainSafe =
    /^[A-Za-z_(0-9.]/.test(s) &&
    !/^[-+]?(?:\d|\.\d)/.test(s) &&
    !RESERVED_SCALARS.test(s) &&
    !/:(\s|$)|\s#|\s$/.test(s) &&
    !/^["'`]/.test(s) &&
    !(flow && /[,\[\]{}]/.test(s));
  return plainSafe ? s : JSON.stringify(s);
}

/** A YAML value for an argument: numbers, true/false and lists natively, every other expression as text. */
function yamlValue(e: A.Expr, flow: boolean, literalString = false): string {
  if (e.kind === "Number") return Number.isFinite(e.value) ? number(e.value) : JSON.stringify(printExpr(e));
  if (e.kind === "Name" && (e.name === "true" || e.name === "false")) return e.name;
  if (e.kind === "List") return `[${e.items.map((x) => yamlValue(x, true)).join(", ")}]`;
  if (e.kind === "String" && literalString) return JSON.stringify(e.value);
  return yamlString(printExpr(e), flow);
}

function yamlArgs(args: readonly A.Arg[], flow: boolean, literal: (name: string) => boolean = () => false): string[] {
  return args.map((a) => `${a.name?.name ?? "_"}: ${yamlValue(a.value, flow, literal(a.name?.name ?? ""))}`);
}

export function printYaml(spec: A.Spec, schemaPath = "../grammar/gan.schema.json", layout?: PrintLayout): string {
  const out: string[] = [`# yaml-language-server: $schema=${schemaPath}`];
  const of = <K extends A.Decl["kind"]>(k: K) => spec.decls.filter((d): d is Extract<A.Decl, { kind: K }> => d.kind === k);
  if (spec.name !== null) out.push(`gan: ${yamlString(spec.name)}`);
  /** A line of a section: its text, and with a layout, where it came from and what to note after it. */
  type Line = { text: string; at?: A.Span; node?: A.Decl | readonly A.Layer[] };
  const lineOf = (l: Line) => (layout && l.at && l.at.start >= 0 ? layout.line(l.at.start) : 0);
  const padTo = (target: number) => {
    while (out.length + 1 < target) out.push("");
  };
  const section = (title: string, lines: Line[]) => {
    if (!lines.length) return;
    if (layout) padTo(lineOf(lines[0]!) - 1);
    else out.push("");
    out.push(`${title}:`);
    for (const l of lines) {
      padTo(lineOf(l));
      const c = layout?.comment && l.node ? layout.comment(l.node) : null;
      out.push(`  ${l.text}${c ? `   # ${c}` : ""}`);
    }
  };
  const plain = (text: string): Line => ({ text });
  section("data", of("Data").map((d) => ({ text: `${d.name.name}: { ${[`source: ${d.source.name}`, ...yamlArgs(d.args, true, (n) => n === "path")].join(", ")} }`, at: d.span, node: d })));
  section("noise", of("Noise").map((d) => ({ text: `${d.name.name}: { ${[`dist: ${d.dist.name}`, ...yamlArgs(d.args, true)].join(", ")} }`, at: d.span, node: d })));
  section(
    "blocks",
    of("Block").flatMap((b): Line[] => [
      { text: `${b.name.name}:`, at: b.name.span, node: b },
      plain(`  params: [${b.params.map((p) => (p.dflt ? `{ ${p.name.name}: ${yamlValue(p.dflt, true)} }` : p.name.name)).join(", ")}]`),
      plain("  layers:"),
      ...b.layers.map((l): Line => ({ text: `    - ${yamlString(printLayer(l))}`, at: l.span })),
    ]),
  );
  section(
    "nets",
    of("Net").flatMap((n): Line[] => [
      { text: `${n.name.name}:`, at: n.name.span, node: n },
      plain(`  inputs: [${n.params.map((p) => p.name).join(", ")}]`),
      plain("  layers:"),
      ...n.layers.map((l): Line => ({ text: `    - ${yamlString(printLayer(l))}`, at: l.span, node: [l] })),
    ]),
  );
  section("values", of("Value").map((d) => ({ text: `${d.name.name}: ${yamlValue(d.expr, false)}`, at: d.span, node: d })));
  section("losses", of("Loss").map((d) => ({ text: `${d.name.name}: ${yamlString(printExpr(d.expr))}`, at: d.span, node: d })));
  section("states", of("State").map((d) => ({ text: `${d.name.name}: ${yamlValue(d.init, false)}`, at: d.span, node: d })));
  section(
    "steps",
    of("Step").map((s) => {
      const o = s.optimizer;
      const opt = o.args.length ? `{ ${o.name.name}: { ${yamlArgs(o.args, true).join(", ")} } }` : o.name.name;
      return { text: `${s.name.name}: { optimizer: ${opt}, minimize: ${s.loss.name}, over: [${s.over.map((n) => n.name).join(", ")}]${s.shared ? ", shared: true" : ""} }`, at: s.span, node: s };
    }),
  );
  const afters = of("After");
  const afterSteps = [...new Set(afters.map((a) => a.step.name))];
  section(
    "after",
    afterSteps.map((step) => {
      const these = afters.filter((a) => a.step.name === step);
      return { text: `${step}: [${these.map((a) => JSON.stringify(`${a.target ? `${a.target.name} = ` : ""}${printExpr(a.expr)}`)).join(", ")}]`, at: these[0]!.span };
    }),
  );
  const train = of("Train")[0];
  if (train) section("train", train.settings.map((a) => ({ text: yamlArgs([a], false)[0]!, at: a.span })));
  return out.join("\n") + "\n";
}
