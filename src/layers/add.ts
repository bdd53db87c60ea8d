import { joinModule, type JoinIR } from "./join.ts";
import type { FusedRef, LayerModule } from "./layer.ts";

export type { JoinIR } from "./join.ts";

/** In a fused net: the path plus the named values `values`, added in order (tf.add(tf.add(h, a), b)). */
export interface AddFused {
  op: "add";
  values: FusedRef[];
}

const join = joinModule("add", "add", "add", "add named values of the net to the path, element by element (a residual join: add(shortcut))");

export const add: LayerModule<JoinIR<"add">, AddFused> = {
  ...join,
  fused: {
    reads: (l) => l.values,
    code: (l, c) => `{ op: "add", values: [${l.values.map((v) => c.ref!(v)).join(", ")}] }`,
    runtime: {
      op: "add",
      refs: (l) => l.values,
      forward(l, { x, kernel, view, value, needDx, needsGrad, addGrad }) {
        // the Add kernels of the layer-by-layer trainer's tf.add, in its order
        const y = l.values.reduce((acc, r) => kernel("Add", { a: acc, b: value(r) }), x);
        return {
          y,
          backward: (dy) => {
            // each operand's gradient is dy (tfjs's Add gradient reshapes it to the same shape); a view each,
            // so that no two gradients are one tensor
            for (const r of l.values) if (needsGrad(r)) addGrad(r, view(dy, dy.shape));
            return needDx ? dy : null;
          },
        };
      },
    },
  },
};
