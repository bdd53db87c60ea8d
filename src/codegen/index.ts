export { generateTrainer, type GenerateOptions } from "./trainer.ts";
export { Writer, num, ident } from "./writer.ts";
