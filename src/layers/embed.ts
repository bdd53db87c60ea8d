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
  /**
   * Set when the table is another net's (`share=G`, `share=G.embed1`): the owning net and its embed layer.
   * `kernel` and `sn` are then the owner's variables; this net declares none and its steps do not train it.
   */
  readonly shared: { readonly net: string; readonly layer: string } | null;
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
    share: "use another net's table instead of one of its own: share=G (G's only embed), share=G.embed1 (its layer by name) or share=G.emb (the embed named -> emb); G's steps train it, this net's only read it",
  },
  aliases: ["embedding"],
  range: null,

  check({ r, layer, value, labels, variable, init, fail, error, share }) {
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
    const s = r.arg("share");
    if (s) {
      const ref = s.value.kind === "Name" ? { net: s.value.name, layer: null } : s.value.kind === "Member" && s.value.object.kind === "Name" ? { net: s.value.object.name, layer: s.value.member.name } : null;
      if (!ref) {
        error("E0175", "share= names the net whose embedding this layer uses: share=G, or share=G.embed1 for one of several", s.value.span);
        return null;
      }
      for (const own of ["init", "sn"]) {
        const o = r.arg(own);
        if (o) {
          error("E0177", `${own}= belongs to the embedding's owner, net ${ref.net}: a layer with share= uses ${ref.net}'s table as it is; write ${own}= on ${ref.net}'s embed`, o.span);
          return null;
        }
      }
      share(ref.net, ref.layer, [classes, dim], s.value.span);
      return { layer: { op: "embed", label: v.ref, classes, dim, kernel: "", sn: null, shared: { net: ref.net, layer: ref.layer ?? "" } }, out: [dim] };
    }
    const kernel = variable("kernel", [classes, dim], init({ kind: "normal", mean: 0, std: 0.02 }));
    const sn = r.bool("sn", false) ? variable("sn_u", [1, dim], { kind: "normal", mean: 0, std: 1 }, false) : null;
    return { layer: { op: "embed", label: v.ref, classes, dim, kernel, sn, shared: null }, out: [dim] };
  },

  // A shared table's init and sn are its owner's, written there.
  resolved: (l, { bool, initOf }) => (l.shared ? [] : [["init", initOf(l.kernel)], ["sn", bool(l.sn !== null)]]),

  code: (l, { local }) => `h = tf.matMul(${local(l.label)} as tf.Tensor2D, ${snKernel(l.kernel, l.sn)} as tf.Tensor2D);`,

  // No fused form: it reads another input of the net, which the fused network's ops do not (like `from`).
  fused: null,

  export: (l, { tf, apply, name, input, net, kernelOf, fail }) =>
    apply(tf.layers.dense({ units: l.dim, useBias: false, name }), input(l.label) ?? fail(`export: ${net.name}.${name} reads ${l.label}, which is not an input of ${net.name}`), [
      kernelOf(l.kernel, l.sn),
    ]),
};
