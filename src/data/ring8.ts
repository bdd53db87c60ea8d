import { toySource } from "./toy-points.ts";

export const ring8 = toySource("ring8", 8, "2-D points from 8 Gaussians on a circle");
