import { fmt, type LayerModule } from "./layer.ts";
import { INIT_DOC, snKernel } from "./weights.ts";

export interface EmbedIR {
  readonly op: "embed";
  /** The net input holding the one-hot class label. */
  readonly label: string;
  readonly classes: number;
  readonly dim: number;
  /** [classes, dim]: row k is class k's vector. */
  readonly kernel: string;
  readonly sn: string | null;
}

/**
 * A class embedding: starts a new path at a one-hot label input and maps it to a learned vector per class.
 * Labels are one-hot in ganc (the data's label, a categorical noise), so the lookup is the product of the
 * one-hot row with the table, which is the table's row exactly and differentiates like a lookup (only the
 * row of the sample's class gets a gradient).
 */
export const embed: LayerModule<EmbedIR> = {
  kind: "embed",
  doc: "class embedding: a new path at a one-hot label input of the net, mapped to a learned vector per class: embed(y, 128)",
  params: {
    label: "the net input holding the class label (the data's label or a categorical noise)",
    dim: "length of each class's vector",
    init: INIT_DOC,
    sn: "spectral normalization of the table (default false)",
  },
  aliases: ["embedding"],
  range: null,

  check({ r, layer, value, labels, variable, init, fail, error }) {
    const a = r.arg("label");
    if (!a) return fail("embed needs the net input holding the class label, like embed(y, 128)", "E0171");
    if (a.value.kind !== "Name") {
      error("E0171", "embed takes the name of a net input holding the class label, like embed(y, 128)", a.value.span);
      return null;
    }
    const v = value(a.value.name, a.value.span);
    if (!v) return null;
    if (!labels.has(v.ref) || v.shape.length !== 1) {
      error(
        "E0171",
        `embed reads a class label, but '${a.value.name}' (${fmt(v.shape)}) is not given one; pass the data's label (real.label) or a categorical noise to this input where the net is applied`,
        a.value.span,
      );
      return null;
    }
    const dim = r.posInt("dim", null);
    if (dim === null) {
      r.required("dim", layer.span);
      return null;
    }
    const classes = v.shape[0]!;
    const kernel = variable("kernel", [classes, dim], init({ kind: "normal", mean: 0, std: 0.02 }));
    const sn = r.bool("sn", false) ? variable("sn_u", [1, dim], { kind: "normal", mean: 0, std: 1 }, false) : null;
    return { layer: { op: "embed", label: v.ref, classes, dim, kernel, sn }, out: [dim] };
  },

  resolved: (l, { bool, initOf }) => [["init", initOf(l.kernel)], ["sn", bool(l.sn !== null)]],

  code: (l, { local }) => `h = tf.matMul(${local(l.label)} as tf.Tensor2D, ${snKernel(l.kernel, l.sn)} as tf.Tensor2D);`,

  // No fused form: it reads another input of the net, which the fused network's ops do not (like `from`).
  fused: null,

  export: (l, { tf, apply, name, input, net, kernelOf, fail }) =>
    apply(tf.layers.dense({ units: l.dim, useBias: false, name }), input(l.label) ?? fail(`export: ${net.name}.${name} reads ${l.label}, which is not an input of ${net.name}`), [
      kernelOf(l.kernel, l.sn),
    ]),
};
