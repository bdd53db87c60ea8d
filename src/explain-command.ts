/** The `ganc explain` command; the catalog (src/parser/codes.ts) loads only when it runs. */
import type { Command } from "commander";

export function registerExplainCommand(cli: Command, usageError: (message: string) => Error): void {
  cli
    .command("explain")
    .description("explain a diagnostic code, with a wrong and a right example (like rustc --explain)")
    .argument("<code>", "a diagnostic code, like E0113")
    .action(async (code: string) => {
      const { explain, unknownCode } = await import("./explain.ts");
      const text = explain(code);
      if (text === null) throw usageError(unknownCode(code));
      process.stdout.write(text);
    });
}
