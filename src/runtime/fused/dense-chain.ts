import * as tf from "@tensorflow/tfjs";
import { activationModule, type Activation } from "../../layers/index.ts";
import type { DenseFused } from "../../layers/dense.ts";
import { Arena, constant, gancKernel, view } from "./engine.ts";
import { below as belowEngine, Below, setBelowEngine, type Info } from "./below.ts";

/** Turns the dense-chain path (and the fused losses' below-engine path) on or off for what runs from now on. */
export const setDenseChain = setBelowEngine;

/*
 * A fused net whose layers are all dense (an MLP: ring8's G and D, any `dense ..., <activation>` stack) run
 * below the engine: every kernel of its forward and backward pass is the backend's registered kernel
 * called directly on the tensors' buffers (the way tfjs's own backends compose kernels), so the pass costs
 * its arithmetic and no engine bookkeeping (no tensor objects, scopes, or tape entries per kernel: a
 * small MLP spends most of an iteration there). The kernels, their inputs and attributes are exactly those
 * of the dense layer's fused op (src/layers/dense.ts) and of the activations' gradients, in the same
 * order, so every value is bit for bit what the layer-by-layer fused net computes
 * (test/opt/equivalence.test.ts, test/opt/dense-chain.test.ts).
 *
 * Buffers live outside the engine while the pass runs. What leaves it (the net's outputs, the gradients)
 * becomes an engine tensor holding its own reference to the buffer; what the backward pass reads is held
 * by the arena and released when it is disposed.
 */

/** Activations whose forward pass and gradient are written with registered kernels only (run below the engine here). */
const ACTIVATIONS = new Set(["relu", "leakyrelu", "sigmoid", "tanh"]);

/** A layer of a dense chain: a dense layer (its activation fused into its kernel) or an activation layer. */
export type ChainLayer = DenseFused | { op: "act"; act: Activation };

/** Whether `layers` can run as a dense chain on the current backend: dense layers and activation layers only. */
export function isDenseChain(layers: readonly { readonly op: string }[]): boolean {
  if (!layers.some((l) => l.op === "dense") || belowEngine() === null) return false;
  return layers.every((l) => {
    if (l.op === "act") return ACTIVATIONS.has((l as unknown as { act: Activation }).act.kind);
    if (l.op !== "dense") return false;
    const d = l as DenseFused;
    if (d.act === null) return true;
    return d.bias !== null && ACTIVATIONS.has(d.act.kind);
  });
}

export interface DenseChainForward {
  outputs: tf.Tensor[];
  backward: (dys: tf.Tensor[], grads: Map<tf.Variable, tf.Tensor>) => (tf.Tensor | null)[];
  stats: [];
}

/**
 * The forward pass of a dense chain (FusedNet.forward's contract): outputs at the layers `wanted` (tap
 * order); with `save`, what the backward pass needs is held by `arena`. `gradInput`: whether the step needs
 * the gradient of the net's input; `train`: whether it trains the weights.
 */
export function denseChainForward(
  layers: readonly ChainLayer[],
  wanted: readonly number[],
  x: tf.Tensor,
  gradInput: boolean,
  train: boolean,
  save: boolean,
  arena: Arena,
): DenseChainForward {
  const below = new Below();
  // the input gradient of a layer is needed above the input (if its gradient is) or above trained weights
  let needed = gradInput;
  const needIn = layers.map((l) => {
    const here = needed;
    if (train && l.op === "dense") needed = true;
    return here;
  });
  const top = Math.max(...wanted);
  const inputs: Info[] = [];
  const ys: Info[] = [];
  const outputs: tf.Tensor[] = new Array(wanted.length);
  let h: Info = x;
  try {
    for (let i = 0; i <= top; i++) {
      const l = layers[i]!;
      inputs.push(h);
      if (l.op === "act") {
        const y = activation(below, l.act, h);
        ys.push(y);
        wanted.forEach((w, j) => {
          if (w === i) outputs[j] = below.expose(y);
        });
        h = y;
        continue;
      }
      const [n, k] = h.shape as [number, number];
      const units = l.kernel.shape[1]!;
      const y = l.bias
        ? below.view(
            below.run(
              "_FusedMatMul",
              { a: below.view(h, [1, n, k]), b: below.view(l.kernel, [1, k, units]), bias: l.bias },
              { transposeA: false, transposeB: false, ...activationAttrs(l.act) },
            ),
            [n, units],
          )
        : below.run("BatchMatMul", { a: h, b: l.kernel }, { transposeA: false, transposeB: false });
      ys.push(y);
      wanted.forEach((w, j) => {
        if (w === i) outputs[j] = below.expose(y);
      });
      h = y;
    }
  } catch (err) {
    below.release(); // a kernel failed: nothing made here outlives the pass
    throw err;
  }
  if (save) {
    // the net's input is read by the first layer's weight gradient: held as a view, as the engine holds it
    if (train) arena.keep(view(x, x.shape));
    below.handTo(arena);
  } else {
    below.release();
  }
  return {
    outputs,
    stats: [],
    backward: (dys, grads) => {
      const b = new Below();
      const inputGrads: (tf.Tensor | null)[] = [null];
      let dy: Info | null = null;
      try {
        for (let i = top; i >= 0; i--) {
          for (let j = 0; j < wanted.length; j++) if (wanted[j] === i) dy = dy === null ? dys[j]! : b.run("Add", { a: dy, b: dys[j]! });
          if (dy === null) continue;
          const l = layers[i]!;
          if (l.op === "act") {
            dy = needIn[i] ? activationGrad(b, l.act, dy, ys[i]!) : null;
            if (dy === null) break;
            continue;
          }
          if (!(needIn[i] || train)) break;
          const a = inputs[i]!;
          const [n, k] = a.shape as [number, number];
          const units = l.kernel.shape[1]!;
          const dz3 = b.view(l.act ? activationGrad(b, l.act, dy, ys[i]!) : dy, [1, n, units]);
          if (train) {
            grads.set(l.kernel, b.expose(b.view(b.run("BatchMatMul", { a: b.view(a, [1, n, k]), b: dz3 }, { transposeA: true, transposeB: false }), [k, units])));
            if (l.bias) grads.set(l.bias, b.expose(b.run("Sum", { x: dz3 }, { axis: [0, 1], keepDims: false })));
          }
          dy = needIn[i] ? b.view(b.run("BatchMatMul", { a: dz3, b: b.view(l.kernel, [1, k, units]) }, { transposeA: false, transposeB: true }), [n, k]) : null;
          if (dy === null) break;
        }
      } catch (err) {
        b.release();
        throw err;
      }
      if (gradInput && dy !== null) inputGrads[0] = b.expose(dy);
      b.release();
      return inputGrads;
    },
  };
}

function activationAttrs(a: Activation | null): Record<string, unknown> {
  return a === null ? { activation: "linear", leakyreluAlpha: 0.2 } : (activationModule(a.kind).attrs(a) as Record<string, unknown>);
}

/** The activation as its module writes it, its kernels run below the engine. */
function activation(b: Below, a: Activation, x: Info): Info {
  const kernel = (name: string, inputs: Record<string, Info | null | undefined>, attrs: Record<string, unknown> = {}) => b.run(name, inputs, attrs) as unknown as tf.Tensor;
  return activationModule(a.kind).forward(a, x as unknown as tf.Tensor, { tf, kernel: kernel as never }) as unknown as Info;
}

/** The activation's gradient as its module writes it, its kernels run below the engine. */
function activationGrad(b: Below, a: Activation, dy: Info, y: Info): Info {
  const kernel = (name: string, inputs: Record<string, Info | null | undefined>, attrs: Record<string, unknown> = {}) => b.run(name, inputs, attrs) as unknown as tf.Tensor;
  return activationModule(a.kind).grad(a, dy as unknown as tf.Tensor, y as unknown as tf.Tensor, { tf, kernel: kernel as never, constant, gancKernel }) as unknown as Info;
}
