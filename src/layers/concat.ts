import { fmt, type LayerModule } from "./layer.ts";

export interface ConcatIR {
  readonly op: "concat";
  /** Inputs of the net, or (when `values`) named values of the net too. */
  readonly inputs: readonly string[];
  /** Whether it joins outputs named with `-> name` (which the fused network does not read yet). */
  readonly values?: true;
}

/** Concatenates the net's inputs `inputs` on the last axis (each broadcast over positions when it is a vector). */
export interface ConcatFused {
  op: "concat";
  inputs: number[];
}

/** The shape of `a` and `b` joined on the last axis (a vector broadcast over an image's positions), or null. */
function joinShapes(a: readonly number[], b: readonly number[]): readonly number[] | null {
  if (a.length === 1 && b.length === 1) return [a[0]! + b[0]!];
  if (a.length === 3 && b.length === 1) return [a[0]!, a[1]!, a[2]! + b[0]!];
  if (a.length === 3 && b.length === 3 && a[0] === b[0] && a[1] === b[1]) return [a[0]!, a[1]!, a[2]! + b[2]!];
  return null;
}

export const concat: LayerModule<ConcatIR, ConcatFused> = {
  kind: "concat",
  doc: "concatenate with other inputs of the net on the last axis; vectors are broadcast over image positions",
  params: { "inputs...": "the other inputs of the net to concatenate, a list of names like [y]" },
  range: null,

  check({ r, layer: l, net, inputShapes, shape, fail, error, suggest, value, values }) {
    const name = net.name.name;
    const a = r.arg("inputs");
    const items = a ? (a.value.kind === "List" ? a.value.items : [a.value]) : [];
    if (items.length === 0) {
      const next = net.layers[net.layers.indexOf(l) + 1];
      const meant = next && net.params.some((p) => p.name === next.op.name) ? next.op.name : null;
      return fail(meant ? `concat takes its inputs in parentheses: write concat(${meant})` : "concat needs at least one input of the net to concatenate, like concat(y)", "E0145");
    }
    let out = shape;
    const names: string[] = [];
    let joinsValues = false;
    // Each input is checked (and its errors reported) even after one fails.
    for (const it of items) {
      if (it.kind !== "Name") {
        error("E0143", "concat takes names of the net's inputs", it.span);
        continue;
      }
      const idx = values.has(it.name) ? -1 : net.params.findIndex((p) => p.name === it.name);
      if (idx < 0 && (values.has(it.name) || net.layers.some((x) => x.tap?.name === it.name))) {
        // a named value of the net (`-> name`): joined on the channel axis like an input
        const v = value(it.name, it.span);
        if (!v) continue;
        const other = v.shape;
        const joined = joinShapes(out, other);
        if (!joined) {
          error("E0230", `cannot concatenate ${fmt(out)} and '${it.name}' of shape ${fmt(other)}: need two vectors, an image and a vector, or two images of the same size`, it.span);
          continue;
        }
        out = joined;
        joinsValues = true;
        names.push(v.ref);
        continue;
      }
      if (idx < 0) {
        const s = suggest(it.name, net.params.slice(1).map((p) => p.name));
        error("E0102", `'${it.name}' is not an input of net ${name}${s ? `; did you mean '${s}'?` : ` (its inputs: ${net.params.map((p) => p.name).join(", ")})`}`, it.span);
        continue;
      }
      if (idx === 0) {
        error("E0220", `concat of '${it.name}' with itself: it is the net's first input, which the layers already carry`, it.span);
        continue;
      }
      const other = inputShapes[idx]!;
      if (shape.length === 1 && other.length === 1) out = [out[0]! + other[0]!];
      else if (out.length === 3 && other.length === 1) out = [out[0]!, out[1]!, out[2]! + other[0]!];
      else if (out.length === 3 && other.length === 3 && other[0] === out[0] && other[1] === out[1]) out = [out[0]!, out[1]!, out[2]! + other[2]!];
      else {
        error("E0203", `cannot concatenate ${fmt(out)} with '${it.name}' of shape ${fmt(other)}: need two vectors, an image and a vector, or two images of the same size`, it.span);
        continue;
      }
      names.push(it.name);
    }
    return { layer: { op: "concat", inputs: names, ...(joinsValues ? { values: true as const } : {}) }, out };
  },

  resolved: () => [],
  code: (l, { local }) => `h = ${l.inputs.reduce((acc, x) => `rt.concatInput(${acc}, ${local(x)})`, "h")};`,

  fused: {
    available: (l) => !l.values,
    code: (l, { net }) => `{ op: "concat", inputs: [${l.inputs.map((x) => net.params.findIndex((q) => q.name === x)).join(", ")}] }`,
    runtime: {
      op: "concat",
      inputsRead: (l) => l.inputs,
      forward(l, { x, xs, tf, view, o, needDx, inputGrads }) {
        // rt.concatInput applied once per input: a vector input is broadcast over an image's positions
        const [b, h, w] = x.shape as number[];
        const parts = l.inputs.map((k) => {
          const other = xs[k]!;
          return x.rank === 4 && other.rank === 2 ? tf.tile(view(other, [b!, 1, 1, other.shape[1]!]), [1, h!, w!, 1]) : other;
        });
        const y = parts.reduce((acc, part) => tf.concat([acc, part], -1), x);
        const widths = [x, ...parts].map((t) => t.shape[t.rank - 1]!);
        const tiled = l.inputs.map((k) => x.rank === 4 && xs[k]!.rank === 2);
        return {
          y,
          backward: (dy) => {
            const [dx, ...dOthers] = tf.split(dy, widths, -1);
            l.inputs.forEach((k, j) => {
              if (!o.gradInputs[k]) return;
              const g = tiled[j] ? tf.sum(dOthers[j]!, [1, 2]) : dOthers[j]!;
              inputGrads[k] = inputGrads[k] ? tf.add(inputGrads[k]!, g) : g;
            });
            return needDx ? dx! : null;
          },
        };
      },
    },
  },

  export(l, { tf, apply, h: h0, name, net, input, fail }) {
    let h = h0;
    for (const x of l.inputs) {
      let y = input(x);
      if (!y) return fail(`export: ${net.name}.${name} concatenates ${x}, which is not an input of ${net.name}`);
      if (h.shape.length === 4 && y.shape.length === 2) {
        // A vector joined to an image is repeated at every position (rt.concatInput).
        const [, hh, ww] = h.shape as number[];
        y = apply(tf.layers.reshape({ targetShape: [1, 1, y.shape[1]!], name: `${name}_${x}_reshape` }), y);
        y = apply(tf.layers.upSampling2d({ size: [hh!, ww!], name: `${name}_${x}_tile` }), y);
      }
      h = apply(tf.layers.concatenate({ axis: -1, name: `${name}_${x}` }), [h, y]);
    }
    return h;
  },
};
