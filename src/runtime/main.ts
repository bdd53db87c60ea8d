import { pathToFileURL } from "node:url";
import { CommanderError } from "commander";

/** Errors whose message is the whole story for the user: printed without a stack trace. */
const USER_ERRORS = new Set(["TrainingError", "DataError", "CheckpointError", "BackendError", "RunLockError"]);

/** Runs a trainer's main() when its file is the program, mapping errors to messages and exit codes. */
export function runIfMain(moduleUrl: string, main: (argv: string[]) => Promise<number>): void {
  const entry = process.argv[1];
  if (!entry || pathToFileURL(entry).href !== moduleUrl) return;
  runMain(main, process.argv.slice(2)).then((code) => process.exit(code));
}

/** 0 done, 1 training failed (message printed), 2 usage error, 130 interrupted. */
export async function runMain(main: (argv: string[]) => Promise<number>, argv: string[]): Promise<number> {
  try {
    return await main(argv);
  } catch (err) {
    return reportError(err);
  }
}

export function reportError(err: unknown): number {
  if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2;
  const e = err as Error;
  if (e && USER_ERRORS.has(e.name)) {
    console.error(`error: ${e.message}`);
    return 1;
  }
  // File system failures (a full disk, an unwritable folder) are the user's to fix, not bugs: one line.
  const errno = (x: unknown) => x instanceof Error && typeof (x as NodeJS.ErrnoException).code === "string" && /^E[A-Z]+$/.test((x as NodeJS.ErrnoException).code!);
  if (errno(e) || errno(e?.cause)) {
    console.error(`error: ${e.message}`);
    return 1;
  }
  console.error("internal error (please report it with the spec that caused it):");
  console.error(e?.stack ?? String(err));
  return 70;
}
