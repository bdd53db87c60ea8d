/**
 * The Python the PyTorch target's tests run: $GANC_PYTHON, else the first of python3 and /usr/bin/python3 that
 * imports torch and numpy. Tests that need it are skipped when there is none, with the reason printed.
 */
import { execFileSync } from "node:child_process";

export interface PythonInfo {
  /** The interpreter, or null when none imports torch. */
  readonly python: string | null;
  /** Why there is none (printed by the tests that are skipped). */
  readonly reason: string;
  readonly torch: string | null;
}

let found: PythonInfo | null = null;

export function pythonWithTorch(): PythonInfo {
  if (found) return found;
  const candidates = process.env.GANC_PYTHON ? [process.env.GANC_PYTHON] : ["python3", "/usr/bin/python3"];
  const tried: string[] = [];
  for (const py of candidates) {
    try {
      const v = execFileSync(py, ["-c", "import numpy, torch; print(torch.__version__)"], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], timeout: 120_000 }).trim();
      return (found = { python: py, torch: v, reason: "" });
    } catch (e) {
      tried.push(`${py}: ${((e as { stderr?: string }).stderr ?? String(e)).trim().split("\n").pop()}`);
    }
  }
  return (found = { python: null, torch: null, reason: `no python3 with torch and numpy (${tried.join("; ")}); install python3-torch` });
}

/** Prints why a test is skipped (vitest's skip alone says nothing about the reason). */
export function skipNote(what: string, info: PythonInfo): void {
  if (!info.python) console.warn(`skipped ${what}: ${info.reason}`);
}
