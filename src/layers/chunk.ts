import { fmt, type LayerModule } from "./layer.ts";

export interface ChunkIR {
  readonly op: "chunk";
  /** The vector split. */
  readonly value: string;
  readonly index: number;
  readonly count: number;
  /** Features per chunk. */
  readonly width: number;
}

/**
 * Starts a new path at one of `count` equal chunks of a named vector (BigGAN's hierarchical z: z split into
 * chunks, one per generator block): chunk(z, 1, 4) is z's second quarter.
 */
export const chunk: LayerModule<ChunkIR> = {
  kind: "chunk",
  doc: "a new path at chunk `index` (from 0) of a named vector split into `count` equal chunks: chunk(z, 1, 4)",
  params: {
    value: "the named vector to split (an input of the net, like z, or an output named with '-> name')",
    index: "which chunk, from 0",
    count: "how many equal chunks the vector is split into",
  },
  range: null,

  check({ r, layer, value, fail, error }) {
    const a = r.arg("value");
    if (!a || a.value.kind !== "Name") return fail("chunk takes a named vector, the chunk's index and the number of chunks, like chunk(z, 0, 4)", "E0143");
    const index = r.number("index", null, (x) => (Number.isInteger(x) && x >= 0 ? null : "must be a whole number >= 0"));
    const count = r.posInt("count", null);
    if (index === null || count === null) {
      r.required(index === null ? "index" : "count", layer.span);
      return null;
    }
    const v = value(a.value.name, a.value.span);
    if (!v) return null;
    if (v.shape.length !== 1) return fail(`chunk splits a vector per sample, and '${a.value.name}' is ${fmt(v.shape)}`);
    const n = v.shape[0]!;
    if (n % count !== 0) {
      const near = [count - 1, count + 1].filter((k) => k > 0 && n % k === 0);
      error("E0173", `cannot split '${a.value.name}' of ${n} features into ${count} equal chunks: ${count} does not divide ${n}${near.length ? ` (${near.join(" or ")} would)` : ""}`, r.arg("count")!.value.span);
      return null;
    }
    if (index >= count) {
      error("E0174", `chunk ${index} of ${count}: the chunks of '${a.value.name}' are numbered 0 to ${count - 1}`, r.arg("index")!.value.span);
      return null;
    }
    return { layer: { op: "chunk", value: v.ref, index, count, width: n / count }, out: [n / count] };
  },

  resolved: () => [],
  code: (l, { local }) => `h = tf.slice(${local(l.value)}, [0, ${l.index * l.width}], [-1, ${l.width}]);`,
  // No fused form: it reads another value of the net, which the fused network's ops do not (like `from`).
  fused: null,

  // Keras has no slice layer: the custom layer GancSlice, registered by the ganc-layers.mjs the export writes.
  export: (l, { apply, name, net, input, fail, custom }) =>
    apply(custom("GancSlice", { begin: l.index * l.width, size: l.width, name }), input(l.value) ?? fail(`export: ${net.name}.${name} reads ${l.value}, which ${net.name} does not define`)),
};
