import { ident } from "../codegen/writer.ts";

/** What the `init` parameter of weighted layers takes. */
export const INIT_DOC = "weight initializer: normal(mean, std), truncated_normal(mean, std), uniform(low, high), glorot, zeros or ones";

/** A kernel in the trainer's code: spectrally normalized when the layer has `sn=true`. */
export const snKernel = (k: string, sn: string | null) => (sn ? `rt.spectralNorm(${ident(k)}, ${ident(sn)}, mode)` : ident(k));
