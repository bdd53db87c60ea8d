/*
 * What the joins `add` and `multiply` share: they combine the path's value with named values of the net
 * (inputs or earlier `-> name` outputs) of exactly the same shape, element by element.
 */
import { fmt, type CheckContext, type Checked, type LayerModule } from "./layer.ts";

export interface JoinIR<K extends string> {
  readonly op: K;
  /** The named values joined with the path, in order. */
  readonly values: readonly string[];
}

/** The names a join or `from` reads: one name or a list of them; anything else is reported (E0143). */
export function namesOf(c: CheckContext, param: string, what: string): { name: string; span: import("../parser/ast.ts").Span }[] | null {
  const a = c.r.arg(param);
  const items = a ? (a.value.kind === "List" ? a.value.items : [a.value]) : [];
  if (items.length === 0) return c.fail(`${what} needs the name of a value of the net, like ${what}(x)`, "E0143");
  const out: { name: string; span: import("../parser/ast.ts").Span }[] = [];
  for (const it of items) {
    if (it.kind !== "Name") {
      c.error("E0143", `${what} takes names of values of the net (its inputs, or outputs named with '-> name')`, it.span);
      return null;
    }
    out.push({ name: it.name, span: it.span });
  }
  return out;
}

/** How to bring a shortcut image to the path's shape: a 1x1 conv (with a stride or an upsampling for the size). */
function shortcutHint(name: string, from: readonly number[], to: readonly number[]): string {
  if (from.length !== 3 || to.length !== 3) return "";
  const [h, w] = from as [number, number];
  const [H, W, C] = to as [number, number, number];
  const conv = `conv ${C} kernel=1`;
  if (h === H && w === W) return `; a 1x1 conv gives '${name}' ${C} channels: from(${name}), ${conv}`;
  if (H * 2 === h && W * 2 === w) return `; a strided 1x1 conv fits '${name}' to it: from(${name}), ${conv} stride=2`;
  if (h * 2 === H && w * 2 === W) return `; upsampling and a 1x1 conv fit '${name}' to it: from(${name}), upsample 2, ${conv}`;
  return "";
}

export function joinModule<K extends "add" | "multiply">(kind: K, verb: string, tfOp: "add" | "mul", doc: string): LayerModule<JoinIR<K>> {
  return {
    kind,
    doc,
    params: { "values...": "the named values of the net to join with, like [shortcut]; each must have the path's shape" },
    range: null,

    check(c): Checked<JoinIR<K>> | null {
      const names = namesOf(c, "values", kind);
      if (!names) return null;
      let ok = true;
      const refs: string[] = [];
      for (const n of names) {
        const v = c.value(n.name, n.span);
        if (!v) {
          ok = false;
          continue;
        }
        const other = v.shape;
        refs.push(v.ref);
        if (fmt(other) !== fmt(c.shape)) {
          c.error("E0230", `cannot ${verb} ${fmt(c.shape)} and '${n.name}' of shape ${fmt(other)}: ${kind} joins values of the same shape${shortcutHint(n.name, other, c.shape)}`, n.span);
          ok = false;
        }
      }
      return ok ? { layer: { op: kind, values: refs }, out: c.shape } : null;
    },

    resolved: () => [],
    code: (l, { local }) => `h = ${l.values.reduce((acc, x) => `tf.${tfOp}(${acc}, ${local(x)})`, "h")};`,
    // add.ts gives add its fused form; a net with multiply runs layer by layer in the optimized trainer.
    fused: null,

    export(l, { tf, apply, h, name, net, input, fail }) {
      const others = l.values.map((x) => input(x) ?? fail(`export: ${net.name}.${name} joins ${x}, which ${net.name} does not define`));
      const layer = kind === "add" ? tf.layers.add({ name }) : tf.layers.multiply({ name });
      return apply(layer, [h, ...others]);
    },
  };
}
