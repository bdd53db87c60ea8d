import { spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

export const ROOT = path.resolve(__dirname, "..");
const BIN = path.join(ROOT, "bin/ganc.mjs");

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the ganc CLI in a child process, the way a user does. */
export function ganc(args: string[], opts: { cwd?: string; timeout?: number; env?: NodeJS.ProcessEnv } = {}): CliResult {
  const env = { ...(opts.env ?? process.env), NO_COLOR: "1" };
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: opts.cwd ?? ROOT, encoding: "utf8", timeout: opts.timeout ?? 240_000, env });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** Starts the CLI without waiting; for kill and interrupt tests. */
export function gancAsync(args: string[]) {
  return spawn(process.execPath, [BIN, ...args], { cwd: ROOT, env: { ...process.env, NO_COLOR: "1" }, stdio: ["ignore", "pipe", "pipe"] });
}

const madeDirs: string[] = [];

/** A new temporary folder, removed after the test file's tests (test/setup.ts) unless GANC_KEEP_TMP=1. */
export function tmpDir(prefix = "ganc-test-"): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  madeDirs.push(dir);
  return dir;
}

/** Removes the folders tmpDir() made in this test file (run folders hold checkpoints: a suite run left gigabytes). */
export function removeTmpDirs(): void {
  if (process.env.GANC_KEEP_TMP === "1") return;
  for (const dir of madeDirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
}

export function readJsonl(file: string): Record<string, number>[] {
  return fs.readFileSync(file, "utf8").trim().split("\n").map((l) => JSON.parse(l));
}

export async function waitFor(cond: () => boolean, timeoutMs: number, everyMs = 100): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error("timed out waiting");
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/**
 * Runs a ganc command inside this test process (src/cli.ts's main) and returns what the command line would
 * have: the exit code and what it wrote to stdout and stderr. For tests about what a command does, not
 * about the process (exit codes and stderr of the real process are tested with ganc()): it saves the start
 * of a node process, tfjs and its backend per command. The variables the command's trainer made are disposed
 * when it returns, as its process would have ended. Calls run one at a time (the output is captured by
 * replacing process.stdout.write and process.stderr.write while the command runs). Relative paths are read
 * from the working folder of the test run, the repository root, as ganc() runs the command there.
 */
export async function gancInProcess(args: string[]): Promise<CliResult> {
  const { main } = await import("../src/cli.ts");
  let stdout = "";
  let stderr = "";
  const out = process.stdout.write;
  const err = process.stderr.write;
  const con = { log: console.log, info: console.info, warn: console.warn, error: console.error };
  const text = (chunk: unknown) => (typeof chunk === "string" ? chunk : Buffer.from(chunk as Uint8Array).toString("utf8"));
  const line = (...a: unknown[]) => a.map((x) => (typeof x === "string" ? x : String(x))).join(" ") + "\n";
  const noColor = process.env.NO_COLOR;
  process.stdout.write = ((chunk: unknown) => ((stdout += text(chunk)), true)) as typeof process.stdout.write;
  process.stderr.write = ((chunk: unknown) => ((stderr += text(chunk)), true)) as typeof process.stderr.write;
  console.log = console.info = (...a: unknown[]) => void (stdout += line(...a));
  console.warn = console.error = (...a: unknown[]) => void (stderr += line(...a));
  process.env.NO_COLOR = "1";
  process.exitCode = undefined;
  try {
    const code = await main(args);
    // A trainer's process ends with the command and its variables with it; here the next command's trainer
    // registers the same names (tfjs's engine is one per process, whichever copy of tfjs holds it).
    (await import("@tensorflow/tfjs")).disposeVariables();
    return { code, stdout, stderr };
  } finally {
    process.stdout.write = out;
    process.stderr.write = err;
    Object.assign(console, con);
    if (noColor === undefined) delete process.env.NO_COLOR;
    else process.env.NO_COLOR = noColor;
    process.exitCode = undefined;
  }
}
