import * as engine from "./engine.ts";
import { fused as bceLogitsFused } from "../../functions/bce-logits.ts";
import { fused as l1Fused } from "../../functions/l1.ts";
import { fused as mseFused } from "../../functions/mse.ts";

/*
 * Losses against a constant target as one op each (pass loss-forms), written with their functions in
 * src/functions. Forward: rt's formula, with the kernels that a constant target makes exact no-ops left out
 * (x * 1 = x; x - 0 = x; x - x * 0 = x). Backward: what tfjs's tape computes through that formula, float32
 * operation for float32 operation and in its order of accumulation, in 3-10 kernels instead of ~25 (no
 * copies, reshapes, same-type casts or all-ones tensors). The only rewrites are IEEE identities: -(a*b) =
 * (-a)*b, a + -b = a - b, -a + b = b - a, and doubling is exact, so a*(b*2) = (a*2)*b. So losses and
 * gradients are the layer-by-layer trainer's bit for bit.
 *
 * What a backward pass reads is kept (as views, in `arena`) past the forward pass that made it.
 */
export const bceLogits = bceLogitsFused(engine);
export const mse = mseFused(engine);
export const l1 = l1Fused(engine);
