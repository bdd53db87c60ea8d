import { joinModule } from "./join.ts";

export const multiply = joinModule("multiply", "multiply", "mul", "multiply the path by named values of the net, element by element (a gate: multiply(mask))");
