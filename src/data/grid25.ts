import { toySource } from "./toy-points.ts";

export const grid25 = toySource("grid25", 25, "2-D points from a 5x5 grid of Gaussians");
