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

export function tmpDir(prefix = "ganc-test-"): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
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
