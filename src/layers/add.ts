import { joinModule } from "./join.ts";

export type { JoinIR } from "./join.ts";

export const add = joinModule("add", "add", "add", "add named values of the net to the path, element by element (a residual join: add(shortcut))");
