/*
 * The layer kinds a spec can use, one module each, in the order the language lists them. Adding a kind is
 * adding its module and one line here; the types below make the IR, the fused runtime's ops and the
 * activations of the new kind part of every consumer's dispatch, and `LayerModule` says what a module
 * must define.
 */
import type { Signature } from "../parser/signatures.ts";
import { attention } from "./attention.ts";
import { avgpool } from "./avgpool.ts";
import { add } from "./add.ts";
import { batchnorm } from "./batchnorm.ts";
import { cbn } from "./cbn.ts";
import { chunk } from "./chunk.ts";
import { concat } from "./concat.ts";
import { conv2d } from "./conv2d.ts";
import { conv2dTranspose } from "./conv2d-transpose.ts";
import { dense } from "./dense.ts";
import { dot } from "./dot.ts";
import { dropout } from "./dropout.ts";
import { embed } from "./embed.ts";
import { flatten } from "./flatten.ts";
import { global_avg } from "./global-avg.ts";
import { minibatch_stddev } from "./minibatch-stddev.ts";
import { modconv } from "./modconv.ts";
import { pixelnorm } from "./pixelnorm.ts";
import { constLayer } from "./const.ts";
import { noise } from "./noise.ts";
import { global_sum } from "./global-sum.ts";
import { from } from "./from.ts";
import type { FusedOp, LayerModule } from "./layer.ts";
import { layernorm } from "./layernorm.ts";
import { leakyrelu } from "./leakyrelu.ts";
import { linear } from "./linear.ts";
import { multiply } from "./multiply.ts";
import { relu } from "./relu.ts";
import { reshape } from "./reshape.ts";
import { sigmoid } from "./sigmoid.ts";
import { softmax } from "./softmax.ts";
import { tanh } from "./tanh.ts";
import { upsample } from "./upsample.ts";
import { style } from "./style.ts";
import { track_avg } from "./track-avg.ts";

const MODULES = {
  dense,
  conv2d,
  conv2dTranspose,
  batchnorm,
  cbn,
  layernorm,
  dropout,
  reshape,
  flatten,
  concat,
  add,
  multiply,
  from,
  embed,
  chunk,
  dot,
  upsample,
  avgpool,
  global_sum,
  global_avg,
  attention,
  minibatch_stddev,
  modconv,
  pixelnorm,
  const: constLayer,
  style,
  track_avg,
  noise,
  relu,
  leakyrelu,
  sigmoid,
  tanh,
  softmax,
  linear,
};

type Modules = typeof MODULES;
export type LayerKind = keyof Modules;
type IROf<M> = M extends LayerModule<infer L, infer _F, infer _A> ? L : never;
type FusedOf<M> = M extends LayerModule<infer _L, infer F, infer _A> ? F : never;
type ActOf<M> = M extends LayerModule<infer _L, infer _F, infer A> ? A : never;

/** A layer of the checked program: the union of every kind's IR. */
export type LayerIR = IROf<Modules[LayerKind]>;
/** A layer of a network run as one op (src/runtime/fused/net.ts): the union of every kind's fused form. */
export type FusedLayer = FusedOf<Modules[LayerKind]>;
/** An activation as the fused runtime runs it (inside a dense or conv kernel, or as an `act` op). */
export type Activation = ActOf<Modules[LayerKind]>;

/**
 * What a table of layer modules must be: each module sits under the kind its IR carries, so a module
 * registered under another name, or one module under two names, does not type-check
 * (test/layers/registry-types.ts shows both).
 */
export type Registry<M> = { readonly [K in keyof M]: LayerModule<Extract<IROf<M[keyof M]>, { readonly op: K }>, FusedOf<M[K]>, ActOf<M[K]>> };

/** The registry. */
export const LAYER_MODULES: Registry<Modules> = MODULES;

/** A kind's module (one cast here instead of one switch per consumer). */
type AnyModule = LayerModule<LayerIR, FusedLayer, Activation>;
export function layerModule(l: LayerIR | LayerKind): AnyModule {
  return LAYER_MODULES[typeof l === "string" ? l : l.op] as unknown as AnyModule;
}

/** The fused runtime's ops by name (`deconv`, `act`): each kind's, shared ones once. */
export const FUSED_OPS: ReadonlyMap<string, FusedOp<FusedLayer>> = new Map(
  Object.values(MODULES).flatMap((m) => {
    const f = (m as unknown as AnyModule).fused;
    return f && f !== "identity" ? [[f.runtime.op, f.runtime as FusedOp<FusedLayer>] as const] : [];
  }),
);

/** The activations' runtime forms, by kind. */
export function activationModule(kind: string): NonNullable<AnyModule["activation"]> {
  const a = (LAYER_MODULES as Record<string, AnyModule>)[kind]?.activation;
  if (!a) throw new Error(`'${kind}' is not an activation`);
  return a;
}

/** The signatures both front ends bind arguments with, and the aliases of layer names. */
export const LAYER_SIGNATURES: Readonly<Record<string, Signature>> = Object.fromEntries(
  Object.values(MODULES).map((m) => {
    const mod = m as unknown as AnyModule;
    const sig: Signature = { params: Object.keys(mod.params), ...(mod.paramAliases ? { aliases: mod.paramAliases } : {}), doc: mod.doc };
    return [mod.kind, sig];
  }),
);
export const LAYER_NAME_ALIASES: Readonly<Record<string, string>> = Object.fromEntries(
  Object.values(MODULES).flatMap((m) => ((m as unknown as AnyModule).aliases ?? []).map((a) => [a, (m as unknown as AnyModule).kind])),
);

