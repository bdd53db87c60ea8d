/** Runtime side of ganc's optimization passes (see src/codegen/opt.ts): what optimized trainers call. */
export { FusedAdam } from "./adam.ts";
export { FusedNet, type FusedLayer, type Activation, type ApplyOptions, type Recorded } from "./net.ts";
export { bceLogits, mse, l1 } from "./loss.ts";
export { Arena, constant, customOp, filledView, kernel, view } from "./engine.ts";
