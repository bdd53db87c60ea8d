import { C } from "../codes.ts";
import { Ajv, type ErrorObject, type ValidateFunction } from "ajv";
import { isAlias, isMap, isScalar, isSeq, parseDocument, visit, type Document, type Node as YNode, type Pair, type Scalar, type YAMLMap } from "yaml";
import schema from "../../../grammar/gan.schema.json" with { type: "json" };
import type * as A from "../ast.ts";
import { bindArgs } from "../bind.ts";
import { error, suggest, warning, type Diagnostic, type Note } from "../diagnostics.ts";
import { parseExpression, parseLayer, type ParseResult } from "../dsl/index.ts";
import { useYamlFrontEnd } from "../index.ts";
import { DATA_SOURCES, LAYERS, NOISE_DISTS, OPTIMIZERS, canonicalLayer } from "../signatures.ts";

/**
 * The `.gan.yaml` front end. Stages, each stopping the parse when it finds an error:
 *   1. YAML syntax (E0601), duplicate keys (E0602), alias cycles (E0603) and bombs (E0607), empty or non-mapping documents
 *      (E0604, E0605), keys that are lists or mappings (E0606);
 *   2. the JSON schema `grammar/gan.schema.json` (E0610-E0615), every error mapped back to its YAML node;
 *   3. building the AST: expression and layer strings go through the `.gan` parser with their offset in the file,
 *      so their diagnostics (E0001-E0003) point inside the YAML string.
 * The result is the same AST the `.gan` form gives: the same binding of arguments, the same node kinds.
 */
export function parseYamlSpec(text: string, file: string): ParseResult<A.Spec> {
  const doc = parseDocument(text, { uniqueKeys: true, prettyErrors: false });
  const diagnostics = yamlDiagnostics(doc, text, file);
  if (diagnostics.some((d) => d.severity === "error")) return { value: null, diagnostics };

  const root = doc.contents;
  if (root === null || (isScalar(root) && root.value === null)) {
    diagnostics.push(error(C.E0604, "the YAML document is empty; a spec is a mapping with data, nets, losses and steps", file, { start: 0, end: 0 }));
    return { value: null, diagnostics };
  }
  if (!isMap(root)) {
    const what = isSeq(root) ? "a list" : "a single value";
    diagnostics.push(error(C.E0605, `a spec must be a mapping of keys (data, nets, losses, steps, ...), not ${what}`, file, rangeOf(root)));
    return { value: null, diagnostics };
  }

  const data = toData(doc, file);
  if (!data.ok) return { value: null, diagnostics: [...diagnostics, data.problem] };

  const schemaErrors = validateSchema(data.value, doc, root, file);
  if (schemaErrors.length > 0) return { value: null, diagnostics: [...diagnostics, ...schemaErrors] };

  const b = new Builder(doc, text, file);
  const spec = b.spec(root);
  diagnostics.push(...b.diags);
  return { value: b.diags.some((d) => d.severity === "error") ? null : spec, diagnostics };
}

/** Expanding more aliases than this (counted the way the yaml package counts them) is refused as a resource attack. */
const MAX_ALIAS_COUNT = 100;

// ---------------------------------------------------------------------------------------------------------------
// Stage 1: YAML

function yamlDiagnostics(doc: Document.Parsed, text: string, file: string): Diagnostic[] {
  const out: Diagnostic[] = [];
  // The yaml package may place an error at end of input one past the last character.
  const within = (pos: [number, number]) => clamp({ start: pos[0], end: pos[1] }, { start: 0, end: text.length });
  for (const e of doc.errors) {
    const span = within(e.pos);
    if (e.code === "DUPLICATE_KEY") {
      const key = text.slice(span.start, span.end).trim();
      const first = firstOccurrence(doc, span.start);
      const notes: Note[] = first ? [{ message: "first defined here", file, span: first }] : [];
      out.push(error(C.E0602, `duplicate key '${key}'`, file, span, notes));
    } else {
      out.push(error(C.E0601, `YAML syntax error: ${lowerFirst(e.message)}`, file, span));
    }
  }
  for (const w of doc.warnings) out.push(warning(C.W0601, `YAML: ${lowerFirst(w.message)}`, file, within(w.pos)));
  return out;
}

/** The earlier key of a duplicate pair whose second key starts at `offset`. */
function firstOccurrence(doc: Document.Parsed, offset: number): A.Span | null {
  let found: A.Span | null = null;
  visit(doc, {
    Map(_, map) {
      const dup = map.items.find((p) => isScalar(p.key) && p.key.range?.[0] === offset);
      if (!dup) return undefined;
      const first = map.items.find((p) => p !== dup && isScalar(p.key) && isScalar(dup.key) && p.key.value === dup.key.value);
      if (first && isScalar(first.key)) found = rangeOf(first.key);
      return visit.BREAK;
    },
  });
  return found;
}

/**
 * The document as plain data for the schema. Refuses an alias that refers to a node containing it (an infinite
 * document), found without expanding anything, and documents whose aliases expand beyond MAX_ALIAS_COUNT
 * ("billion laughs"), which the yaml package detects while expanding.
 */
function toData(doc: Document.Parsed, file: string): { ok: true; value: unknown } | { ok: false; problem: Diagnostic } {
  let problem: Diagnostic | null = null;
  visit(doc, {
    Pair(_, pair) {
      // A list or mapping as a key (`? [a, b]: 1`) has no JSON equivalent; every key in a spec is a name.
      const key = isAlias(pair.key) ? pair.key.resolve(doc) : pair.key;
      if (key && !isScalar(key)) {
        problem = error(C.E0606, "a key must be a plain name, not a list or a mapping", file, rangeOf(pair.key as YNode));
        return visit.BREAK;
      }
      return undefined;
    },
    Alias(_, alias, path) {
      const target = alias.resolve(doc);
      if (target && path.includes(target as never)) {
        problem = error(C.E0603, `alias '*${alias.source}' refers to a node that contains it; the document would be infinite`, file, rangeOf(alias));
        return visit.BREAK;
      }
      return undefined;
    },
  });
  if (problem) return { ok: false, problem };
  try {
    return { ok: true, value: doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT }) };
  } catch (e) {
    let first: A.Span = { start: 0, end: 0 };
    visit(doc, {
      Alias(_, alias) {
        first = rangeOf(alias);
        return visit.BREAK;
      },
    });
    const why = e instanceof ReferenceError ? `its aliases expand to too many nodes (more than ${MAX_ALIAS_COUNT} alias expansions); refusing to expand them` : (e as Error).message;
    return { ok: false, problem: error(C.E0607, `the YAML document cannot be read: ${why}`, file, first) };
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Stage 2: the schema

// Compiled on first use (~150 ms of CPU), not when the module loads: `ganc check x.gan` never needs it.
let validator: ValidateFunction | undefined;

function validateSchema(data: unknown, doc: Document.Parsed, root: YAMLMap, file: string): Diagnostic[] {
  const validate = (validator ??= new Ajv({ allErrors: true, verbose: true, strict: true, allowUnionTypes: true }).compile(schema));
  if (validate(data)) return [];
  const out: Diagnostic[] = [];
  const seen = new Set<string>();
  // `optimizer: d` names another step, whose optimizer this step updates with: the schema cannot know the
  // step names, so its enum of optimizers does not apply to them (the checker resolves the name).
  const steps = data !== null && typeof data === "object" ? (data as { steps?: unknown }).steps : undefined;
  const borrowed = (at: string) => {
    const m = /^\/steps\/([^/]+)\/optimizer$/.exec(at);
    if (!m || steps === null || typeof steps !== "object") return false;
    const v = ((steps as Record<string, { optimizer?: unknown } | null>)[m[1]!] ?? {}).optimizer;
    return typeof v === "string" && Object.hasOwn(steps, v);
  };
  const errors = (validate.errors ?? []).filter((e) => !borrowed(e.instancePath));
  if (errors.length === 0) return [];
  // Several keys missing from one mapping make one report.
  const missing = new Map<string, string[]>();
  for (const e of errors) {
    if (e.keyword === "required") missing.set(e.instancePath, [...(missing.get(e.instancePath) ?? []), (e.params as { missingProperty: string }).missingProperty]);
  }
  for (const e of errors) {
    const names = e.keyword === "required" ? missing.get(e.instancePath)! : [];
    if (names.length > 1 && names[0] !== (e.params as { missingProperty: string }).missingProperty) continue;
    const d = names.length > 1 ? missingKeys(names, e, doc, root, file) : schemaDiagnostic(e, doc, root, file);
    if (!d) continue;
    const id = `${d.code}:${d.span.start}:${d.message}`;
    if (seen.has(id)) continue;
    seen.add(id);
    out.push(d);
  }
  return out.sort((a, b) => a.span.start - b.span.start || a.code.localeCompare(b.code));
}

type Seg = string | number;

interface Located {
  /** The node at the path (null when the key has no value). */
  readonly node: YNode | null;
  /** The key of the pair holding the node, when its parent is a mapping. */
  readonly key: YNode | null;
}

/** Walks a JSON pointer through the YAML tree, following aliases the way `toJS` does. */
function locate(doc: Document.Parsed, root: YNode, segs: readonly Seg[]): Located {
  let node: YNode | null = root;
  let key: YNode | null = null;
  for (const s of segs) {
    node = deref(doc, node);
    if (isMap(node)) {
      const pair: Pair | undefined = node.items.find((p) => keyText(p.key) === String(s));
      key = (pair?.key as YNode | undefined) ?? null;
      node = (pair?.value as YNode | null | undefined) ?? null;
    } else if (isSeq(node)) {
      key = null;
      node = (node.items[Number(s)] as YNode | undefined) ?? null;
    } else break;
  }
  return { node: deref(doc, node), key };
}

function pathSegs(instancePath: string): Seg[] {
  if (!instancePath) return [];
  return instancePath
    .slice(1)
    .split("/")
    .map((s) => s.replace(/~1/g, "/").replace(/~0/g, "~"))
    .map((s) => (/^\d+$/.test(s) ? Number(s) : s));
}

function schemaDiagnostic(e: ErrorObject, doc: Document.Parsed, root: YAMLMap, file: string): Diagnostic | null {
  // `if` only says a then/else branch failed, and `propertyNames` repeats its inner error: both add nothing.
  if (e.keyword === "if" || e.keyword === "propertyNames") return null;
  const segs = pathSegs(e.instancePath);
  const at = locate(doc, root, segs);
  const nodeSpan = at.node ? rangeOf(at.node) : at.key ? rangeOf(at.key) : { start: 0, end: 0 };
  const subject = describePath(segs);
  const parent = e.parentSchema as { properties?: Record<string, { description?: string }> } | undefined;

  switch (e.keyword) {
    case "additionalProperties": {
      const name = (e.params as { additionalProperty: string }).additionalProperty;
      const key = at.node && isMap(at.node) ? at.node.items.find((p) => keyText(p.key) === name)?.key : null;
      const known = Object.keys(parent?.properties ?? {});
      const s = suggest(name, known);
      const what = isLayerItem(segs) ? `unknown layer '${name}'` : isOptimizer(segs) ? `unknown optimizer '${name}'` : `unknown key '${name}' in ${subject}`;
      const hint = s ? `; did you mean '${s}'?` : known.length > 0 && known.length <= 12 ? ` (expected ${known.join(", ")})` : "";
      return error(C.E0610, what + hint, file, key ? rangeOf(key as YNode) : nodeSpan);
    }
    case "required": {
      const name = (e.params as { missingProperty: string }).missingProperty;
      const hint = parent?.properties?.[name]?.description;
      return error(C.E0612, `${subject} is missing '${name}'${hint ? ` (${hint})` : ""}`, file, requiredSpan(at));
    }
    case "type": {
      // JSON Schema numbers are finite: YAML's .inf and .nan fail `type: number`.
      if (at.node && isScalar(at.node) && typeof at.node.value === "number" && !Number.isFinite(at.node.value)) {
        return error(C.E0611, `${subject} must be a finite number, got ${at.node.source ?? at.node.value}`, file, nodeSpan);
      }
      const want = (e.params as { type: string | string[] }).type;
      const types = Array.isArray(want) ? want : String(want).split(",");
      const list = types.map((t) => (t === "boolean" && types.length > 1 ? "true/false" : typeWord(t)));
      const expected = list.length === 1 ? list[0] : `${list.slice(0, -1).join(", ")} or ${list[list.length - 1]}`;
      return error(C.E0611, `${subject} must be ${expected}, got ${yamlKind(at.node)}`, file, nodeSpan);
    }
    case "enum": {
      const allowed = (e.params as { allowedValues: unknown[] }).allowedValues.map(String);
      const got = at.node && isScalar(at.node) ? String(at.node.value) : "";
      const s = suggest(got, allowed);
      const label = enumLabel(segs);
      return error(C.E0613, `unknown ${label} '${got}'${s ? `; did you mean '${s}'?` : ` (expected ${allowed.join(", ")})`}`, file, nodeSpan);
    }
    case "pattern": {
      const rule = "letters, digits and _, not starting with a digit";
      if (e.propertyName !== undefined) {
        const key = at.node && isMap(at.node) ? at.node.items.find((p) => keyText(p.key) === e.propertyName)?.key : null;
        return error(C.E0614, `'${e.propertyName}' is not a valid name in ${subject}: use ${rule}`, file, key ? rangeOf(key as YNode) : nodeSpan);
      }
      const got = at.node && isScalar(at.node) ? String(at.node.value) : "";
      return error(C.E0614, `${subject} must be a name (${rule}), got '${got}'`, file, nodeSpan);
    }
    case "minProperties":
    case "maxProperties": {
      if (isLayerItem(segs)) return error(C.E0615, `${subject} must have exactly one key, the layer name, like {conv2d: {filters: 64, kernel: 4}}`, file, nodeSpan);
      if (isOptimizer(segs)) return error(C.E0615, `${subject} must have exactly one key, the optimizer name, like {adam: {lr: 2.0e-4}}`, file, nodeSpan);
      return error(C.E0617, `${subject} ${e.message ?? "is invalid"}`, file, nodeSpan);
    }
    default:
      return error(C.E0617, `${subject} ${e.message ?? "is invalid"}`, file, nodeSpan);
  }
}

function missingKeys(names: string[], e: ErrorObject, doc: Document.Parsed, root: YAMLMap, file: string): Diagnostic {
  const segs = pathSegs(e.instancePath);
  const list = names.map((n) => `'${n}'`);
  const joined = `${list.slice(0, -1).join(", ")} and ${list[list.length - 1]}`;
  return error(C.E0612, `${describePath(segs)} is missing ${joined}`, file, requiredSpan(locate(doc, root, segs)));
}

/** A missing key is reported at the key naming the incomplete mapping (`d:` of a step), or at the mapping's start. */
function requiredSpan(at: Located): A.Span {
  if (at.key) return rangeOf(at.key);
  if (at.node) return { start: rangeOf(at.node).start, end: rangeOf(at.node).start };
  return { start: 0, end: 0 };
}

const isLayerItem = (s: readonly Seg[]) => s.length === 4 && (s[0] === "nets" || s[0] === "blocks") && s[2] === "layers";
const isOptimizer = (s: readonly Seg[]) => s.length === 3 && s[0] === "steps" && s[2] === "optimizer";

function enumLabel(s: readonly Seg[]): string {
  if (s.length === 3 && s[0] === "data" && s[2] === "source") return "data source";
  if (s.length === 3 && s[0] === "noise" && s[2] === "dist") return "noise distribution";
  if (isOptimizer(s)) return "optimizer";
  return `value for ${describePath(s)}`;
}

const SECTION_ITEM: Record<string, string> = {
  data: "data", noise: "noise", nets: "net", blocks: "block", values: "value", losses: "loss", states: "state", steps: "step",
};

/** A path in the spec's own words: "layer 3 of net 'G'", "the optimizer of step 'd'". */
function describePath(s: readonly Seg[]): string {
  if (s.length === 0) return "the spec";
  const [section, name] = s;
  if (s.length === 1) return `'${section}'`;
  if (section === "after" && s.length === 2) return `the actions after step '${name}'`;
  if (s.length === 2 && typeof section === "string" && SECTION_ITEM[section]) return `${SECTION_ITEM[section]} '${name}'`;
  if (section === "nets" && s[2] === "layers" && s.length >= 4) {
    const layer = `layer ${(s[3] as number) + 1} of net '${name}'`;
    if (s.length === 4) return layer;
    if (s.length === 5) return `the arguments of ${s[4]} (${layer})`;
  }
  if (section === "steps" && s[2] === "optimizer") {
    if (s.length === 3) return `the optimizer of step '${name}'`;
    if (s.length === 4) return `the settings of optimizer '${s[3]}' (step '${name}')`;
  }
  const last = s[s.length - 1]!;
  const rest = describePath(s.slice(0, -1));
  return typeof last === "number" ? `item ${last + 1} of ${rest}` : `'${last}' of ${rest}`;
}

function typeWord(t: string): string {
  const words: Record<string, string> = { string: "a string", number: "a number", integer: "a whole number", boolean: "true or false", array: "a list", object: "a mapping", null: "empty" };
  return words[t] ?? t;
}

function yamlKind(n: YNode | null): string {
  if (!n) return "nothing";
  if (isMap(n)) return "a mapping";
  if (isSeq(n)) return "a list";
  if (isScalar(n)) {
    const v = n.value;
    if (v === null || v === undefined) return "nothing";
    if (typeof v === "number") return `the number ${v}`;
    if (typeof v === "boolean") return String(v);
    if (typeof v === "string") return `the string '${v.length > 40 ? v.slice(0, 37) + "..." : v}'`;
  }
  return "a value of another kind";
}

// ---------------------------------------------------------------------------------------------------------------
// Stage 3: the AST

/**
 * Builds the AST from a document the schema accepted. Errors in expression and layer strings are collected (the
 * offending node is replaced by a placeholder) so that one run reports all of them; the spec is then discarded.
 */
class Builder {
  readonly diags: Diagnostic[] = [];

  constructor(
    private readonly doc: Document.Parsed,
    private readonly text: string,
    private readonly file: string,
  ) {}

  spec(root: YAMLMap): A.Spec {
    let name: string | null = null;
    const decls: A.Decl[] = [];
    // Sections in file order, entries of a section in file order.
    for (const { key, value } of this.pairs(root)) {
      switch (keyText(key)) {
        case "gan":
          name = String((deref(this.doc, value) as Scalar).value);
          break;
        case "data":
          for (const p of this.pairs(value)) decls.push(this.source("Data", p, "source"));
          break;
        case "noise":
          for (const p of this.pairs(value)) decls.push(this.source("Noise", p, "dist"));
          break;
        case "nets":
          for (const p of this.pairs(value)) decls.push(this.net(p));
          break;
        case "blocks":
          for (const p of this.pairs(value)) decls.push(this.block(p));
          break;
        case "values":
          for (const p of this.pairs(value)) decls.push({ kind: "Value", name: this.ident(p.key), expr: this.value(p.value), span: pairSpan(p) });
          break;
        case "losses":
          for (const p of this.pairs(value)) decls.push({ kind: "Loss", name: this.ident(p.key), expr: this.value(p.value), span: pairSpan(p) });
          break;
        case "states":
          for (const p of this.pairs(value)) decls.push({ kind: "State", name: this.ident(p.key), init: this.value(p.value), span: pairSpan(p) });
          break;
        case "steps":
          for (const p of this.pairs(value)) decls.push(this.step(p));
          break;
        case "after":
          for (const p of this.pairs(value)) decls.push(...this.after(p));
          break;
        case "train":
          decls.push({ kind: "Train", settings: this.pairs(value).map((p) => this.arg(p)), span: pairSpan({ key, value }) });
          break;
      }
    }
    return { kind: "Spec", file: this.file, name, decls, span: { start: 0, end: this.text.length } };
  }

  private source(kind: "Data" | "Noise", p: KV, selector: "source" | "dist"): A.DataDecl | A.NoiseDecl {
    const entries = this.pairs(p.value);
    const sel = entries.find((e) => keyText(e.key) === selector)!;
    const which = this.ident(sel.value);
    const raw = entries.filter((e) => e !== sel).map((e) => this.arg(e, kind === "Data" && keyText(e.key) === "path"));
    const name = this.ident(p.key);
    const span = pairSpan(p);
    if (kind === "Data") return { kind, name, source: which, args: bindArgs(DATA_SOURCES[which.name], raw), span };
    return { kind, name, dist: which, args: bindArgs(NOISE_DISTS[which.name], raw), span };
  }

  private net(p: KV): A.NetDecl {
    const fields = this.fields(p.value);
    const layers = this.items(fields.get("layers")!).map((l) => this.layer(l));
    return { kind: "Net", name: this.ident(p.key), params: this.names(fields.get("inputs")!), layers, span: pairSpan(p) };
  }

  /** `Up: { params: [ch, { up: 2 }], layers: [...] }`: a parameter is a name, or a name with its default. */
  private block(p: KV): A.BlockDecl {
    const fields = this.fields(p.value);
    const raw = fields.get("params");
    const params = (raw ? this.items(raw) : []).map((item): A.BlockParam => {
      if (isScalar(item)) {
        const name = this.ident(item);
        return { kind: "BlockParam", name, dflt: null, span: name.span };
      }
      const [only] = this.pairs(item);
      return { kind: "BlockParam", name: this.ident(only!.key), dflt: this.value(only!.value), span: pairSpan(only!) };
    });
    const layers = this.items(fields.get("layers")!).map((l) => this.layer(l));
    return { kind: "Block", name: this.ident(p.key), params, layers, span: pairSpan(p) };
  }

  /** `"deconv 64 kernel=4 stride=2 -> x"`, `relu`, or `{conv2d: {filters: 64, tap: x}}`. */
  private layer(n: YNode): A.Layer {
    if (isScalar(n)) {
      const before = this.diags.length;
      const r = this.parseIn(n, parseLayer);
      if (r) return r;
      if (this.diags.length > before && hasTopLevelComma(String(n.value))) {
        // `"flatten, dense 1024"` is a .gan line of several layers; in YAML each list item is one layer.
        const d = this.diags[before]!;
        this.diags[before] = { ...d, message: `${d.message}; each item of a layer list is one layer, so write these as separate items` };
      }
      const op: A.Ident = { kind: "Ident", name: String(n.value), span: rangeOf(n) };
      return { kind: "Layer", op, args: [], tap: null, span: rangeOf(n) };
    }
    const [only] = this.pairs(n);
    const op = this.ident(only!.key);
    let tap: A.Ident | null = null;
    const raw: A.Arg[] = [];
    for (const e of this.pairs(only!.value)) {
      if (keyText(e.key) === "tap") tap = this.ident(e.value);
      else raw.push(this.arg(e));
    }
    return { kind: "Layer", op, args: bindArgs(LAYERS[canonicalLayer(op.name)], raw), tap, span: rangeOf(n) };
  }

  private step(p: KV): A.StepDecl {
    const f = this.fields(p.value);
    const o = f.get("optimizer")!;
    let optimizer: A.OptimizerRef;
    if (isScalar(o)) {
      optimizer = { kind: "Optimizer", name: this.ident(o), args: [], span: rangeOf(o) };
    } else {
      const [only] = this.pairs(o);
      const name = this.ident(only!.key);
      const args = bindArgs(OPTIMIZERS[name.name], this.pairs(only!.value).map((e) => this.arg(e)));
      optimizer = { kind: "Optimizer", name, args, span: rangeOf(o) };
    }
    const shared = f.get("shared");
    return {
      kind: "Step",
      name: this.ident(p.key),
      optimizer,
      loss: this.ident(f.get("minimize")!),
      over: this.names(f.get("over")!),
      shared: shared !== undefined && isScalar(shared) && shared.value === true,
      span: pairSpan(p),
    };
  }

  /** One decl per action; `k = expr` assigns a state variable, anything else is an action call. */
  private after(p: KV): A.AfterDecl[] {
    const step = this.ident(p.key);
    const v = deref(this.doc, p.value)!;
    const actions = isSeq(v) ? this.items(v) : [v];
    return actions.map((n) => {
      const s = n as Scalar;
      const text = String(s.value);
      const assign = /^(\s*)([A-Za-z_][A-Za-z0-9_]*)\s*=/.exec(text);
      const { base } = this.contentOffset(s);
      let target: A.Ident | null = null;
      let expr: A.Expr;
      if (assign) {
        const start = base + assign[1]!.length;
        target = { kind: "Ident", name: assign[2]!, span: { start, end: start + assign[2]!.length } };
        expr = this.parseIn(s, (t, f, b) => parseExpression(t.slice(assign[0].length), f, b + assign[0].length)) ?? placeholder(s);
      } else {
        expr = this.parseIn(s, parseExpression) ?? placeholder(s);
      }
      return { kind: "After", step, target, expr, span: rangeOf(s) };
    });
  }

  /** A named argument; `literal` keeps a string as a String node instead of parsing it (`path`). */
  private arg(p: KV, literal = false): A.Arg {
    const name = this.ident(p.key);
    const v = deref(this.doc, p.value);
    const value: A.Expr =
      literal && isScalar(v) && typeof v.value === "string" ? { kind: "String", value: v.value, span: rangeOf(v) } : this.value(p.value);
    return { kind: "Arg", name, value, span: { start: name.span.start, end: value.span.end } };
  }

  /** A YAML value in expression position: numbers, true/false (names, as in `.gan`), lists, expression strings. */
  private value(raw: YNode | null): A.Expr {
    const n = deref(this.doc, raw);
    if (isSeq(n)) return { kind: "List", items: this.items(n).map((x) => this.value(x)), span: rangeOf(n) };
    if (isScalar(n)) {
      const v = n.value;
      const span = rangeOf(n);
      if (typeof v === "number") return { kind: "Number", value: v, span }; // finite: the schema refuses .inf and .nan
      if (typeof v === "boolean") return { kind: "Name", name: String(v), span };
      if (typeof v === "string") return this.parseIn(n, parseExpression) ?? placeholder(n);
    }
    // The schema admits nothing else here.
    throw new Error(`unexpected YAML value at offset ${raw?.range?.[0] ?? 0}`);
  }

  /** Parses a scalar's text with the `.gan` parser, spans shifted to where the text sits in the file. */
  private parseIn<T>(s: Scalar, parse: (text: string, file: string, base: number) => ParseResult<T>): T | null {
    const { base, exact } = this.contentOffset(s);
    if (exact) {
      const r = parse(String(s.value), this.file, base);
      this.diags.push(...r.diagnostics);
      return r.value;
    }
    // Folded lines, block indentation, escapes: offsets in the value are not offsets in the file. Parse at
    // offset 0, then move every span through a map from value positions to file positions.
    const map = this.valueToFile(s);
    const r = parse(String(s.value), this.file, 0);
    const outer = rangeOf(s);
    const move = (sp: A.Span): A.Span => clamp({ start: map(sp.start), end: sp.end > sp.start ? map(sp.end - 1) + 1 : map(sp.start) }, outer);
    for (const d of r.diagnostics) this.diags.push({ ...d, span: move(d.span), notes: d.notes.map((n) => ({ ...n, span: move(n.span) })) });
    return r.value === null ? null : (moveSpans(r.value, move) as T);
  }

  /**
   * Aligns a scalar's value with its source text: each value character is found at or after the previous
   * one's source position, skipping what YAML removed (indentation, line breaks folded to spaces, quotes)
   * and treating an escape sequence as the one character it stands for.
   */
  private valueToFile(s: Scalar): (i: number) => number {
    const [start, end] = s.range ?? [0, 0];
    const src = this.text.slice(start, end);
    const value = String(s.value);
    const isWs = (c: string | undefined) => c === " " || c === "\t" || c === "\n" || c === "\r";
    const at: number[] = [];
    let j = s.type === "BLOCK_LITERAL" || s.type === "BLOCK_FOLDED" ? src.indexOf("\n") + 1 : s.type === "QUOTE_DOUBLE" || s.type === "QUOTE_SINGLE" ? 1 : 0;
    for (let i = 0; i < value.length; i++) {
      const c = value[i]!;
      if (s.type === "QUOTE_DOUBLE" && src[j] === "\\" && c !== "\\") {
        const kind = src[j + 1];
        const len = kind === "x" ? 4 : kind === "u" ? 6 : kind === "U" ? 10 : 2;
        at.push(j);
        j += len;
        continue;
      }
      if (isWs(c)) {
        // A run of whitespace in the value (folded line breaks, kept indentation) against the run in the
        // source (line breaks, indentation): spread the one over the other.
        let k = i;
        while (k < value.length && isWs(value[k])) k++;
        let m = j;
        while (m < src.length && isWs(src[m])) m++;
        for (let x = i; x < k; x++) at.push(Math.min(j + (x - i), Math.max(j, m - 1)));
        i = k - 1;
        j = m;
        continue;
      }
      while (j < src.length && src[j] !== c) j++;
      at.push(Math.min(j, src.length));
      j++;
    }
    return (i) => start + (at[Math.min(i, at.length - 1)] ?? 0) + (i >= at.length ? 1 : 0);
  }

  /**
   * Where a scalar's value starts in the file. Exact when the value appears verbatim in the scalar's source:
   * plain scalars, quoted strings without escapes, one-line block scalars. Otherwise (escapes, folded lines) the
   * value's offsets drift from the file's, and this is best effort: the start of the content.
   */
  contentOffset(s: Scalar): { base: number; exact: boolean } {
    const [start, end] = s.range ?? [0, 0];
    const raw = this.text.slice(start, end);
    const value = String(s.value);
    const quoted = s.type === "QUOTE_DOUBLE" || s.type === "QUOTE_SINGLE";
    const inner = quoted ? 1 : 0;
    if (raw.slice(inner, raw.length - inner) === value) return { base: start + inner, exact: true };
    // A block scalar's header line (`| # comment`) is not content: search after it.
    const from = s.type === "BLOCK_LITERAL" || s.type === "BLOCK_FOLDED" ? raw.indexOf("\n") + 1 : 0;
    const at = raw.indexOf(value, from);
    if (at >= 0) return { base: start + at, exact: true };
    // Block scalars keep a final newline (LF even in a CRLF file): match the trimmed text on one line.
    const trimmed = value.trim();
    const lead = value.length - value.trimStart().length;
    const t = trimmed.length > 0 && !/[\r\n]/.test(trimmed) ? raw.indexOf(trimmed, from) : -1;
    if (t >= 0) return { base: start + t - lead, exact: true };
    return { base: start + inner, exact: false };
  }

  private ident(raw: YNode | null): A.Ident {
    const n = deref(this.doc, raw);
    return { kind: "Ident", name: isScalar(n) ? String(n.value) : "", span: n ? rangeOf(n) : { start: 0, end: 0 } };
  }

  /** A name or a list of names. */
  private names(raw: YNode): A.Ident[] {
    const n = deref(this.doc, raw);
    return isSeq(n) ? this.items(n).map((x) => this.ident(x)) : [this.ident(n)];
  }

  private pairs(raw: YNode | null | undefined): KV[] {
    const n = deref(this.doc, raw ?? null);
    if (!isMap(n)) return [];
    return n.items.map((p) => ({ key: p.key as YNode, value: (p.value as YNode | null) ?? null }));
  }

  private fields(raw: YNode | null): Map<string, YNode> {
    const out = new Map<string, YNode>();
    for (const p of this.pairs(raw)) if (p.value) out.set(keyText(p.key), p.value);
    return out;
  }

  private items(raw: YNode): YNode[] {
    const n = deref(this.doc, raw);
    return isSeq(n) ? (n.items as YNode[]).map((x) => deref(this.doc, x)!) : [];
  }
}

interface KV {
  readonly key: YNode;
  readonly value: YNode | null;
}

function hasTopLevelComma(text: string): boolean {
  let depth = 0;
  for (const c of text) {
    if (c === "(" || c === "[") depth++;
    else if (c === ")" || c === "]") depth--;
    else if (c === "," && depth === 0) return true;
  }
  return false;
}

/** Stands in for an expression that failed to parse; its error is already reported. */
function placeholder(n: YNode): A.Expr {
  return { kind: "Name", name: "", span: rangeOf(n) };
}

// ---------------------------------------------------------------------------------------------------------------
// helpers

function deref(doc: Document.Parsed, n: YNode | null): YNode | null {
  let cur = n;
  // Cycles were refused before building, so this terminates.
  while (cur && isAlias(cur)) cur = (cur.resolve(doc) as YNode | undefined) ?? null;
  return cur;
}

function keyText(k: unknown): string {
  return isScalar(k) ? String(k.value) : String(k);
}

function rangeOf(n: YNode): A.Span {
  const r = n.range;
  return r ? { start: r[0], end: r[1] } : { start: 0, end: 0 };
}

function pairSpan(p: KV): A.Span {
  const k = rangeOf(p.key);
  return { start: k.start, end: p.value ? Math.max(k.end, rangeOf(p.value).end) : k.end };
}

function clamp(s: A.Span, to: A.Span): A.Span {
  const start = Math.min(Math.max(s.start, to.start), to.end);
  return { start, end: Math.min(Math.max(s.end, start), to.end) };
}

function lowerFirst(s: string): string {
  return s.charAt(0).toLowerCase() + s.slice(1);
}

/** A copy of an AST fragment with every span moved by `move`. */
function moveSpans(node: unknown, move: (s: A.Span) => A.Span): unknown {
  if (Array.isArray(node)) return node.map((x) => moveSpans(x, move));
  if (node && typeof node === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(node)) out[k] = k === "span" ? move(v as A.Span) : moveSpans(v, move);
    return out;
  }
  return node;
}

useYamlFrontEnd(parseYamlSpec);
