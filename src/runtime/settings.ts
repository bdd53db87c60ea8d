import * as fs from "node:fs";
import * as path from "node:path";
import type { BackendChoice } from "./backend.ts";

/**
 * The settings that shape a run, kept in `<run>/settings.json` when it starts, so that `--resume`
 * continues the same run without the user repeating its flags. Values are the effective ones (the
 * spec's default where no flag was given), except `steps`/`epochs`, which are the flags as given (null:
 * the spec's length), and `data`: the absolute --data folder, or null for the spec's own data.
 */
export interface RunSettings {
  seed: number;
  data: string | null;
  batch: number;
  steps: number | null;
  epochs: number | null;
  logEvery: number;
  sampleEvery: number;
  checkpointEvery: number;
  evalEvery: number;
  histogramEvery: number;
  /** The --backend choice: backends differ in the last bits of their results, so a run keeps its own. */
  backend: BackendChoice;
}

export const SETTINGS_FILE = "settings.json";

/** The flag each setting comes from, for messages. */
export const SETTING_FLAGS: Record<keyof RunSettings, string> = {
  seed: "--seed",
  data: "--data",
  batch: "--batch",
  steps: "--steps",
  epochs: "--epochs",
  logEvery: "--log-every",
  sampleEvery: "--sample-every",
  checkpointEvery: "--checkpoint-every",
  evalEvery: "--eval-every",
  histogramEvery: "--histogram-every",
  backend: "--backend",
};

export function readSettings(runDir: string): RunSettings | null {
  const file = path.join(runDir, SETTINGS_FILE);
  if (!fs.existsSync(file)) return null;
  try {
    return JSON.parse(fs.readFileSync(file, "utf8")) as RunSettings;
  } catch (err) {
    throw Object.assign(new Error(`${file} is unreadable (${(err as Error).message}): repair it or remove it and repeat the run's flags`), { name: "TrainingError" });
  }
}

/** Flags given on the command line (undefined where not given), as RunOptions holds them. */
export type GivenSettings = { [K in keyof RunSettings]?: RunSettings[K] extends infer T ? Exclude<T, null> : never };

/**
 * What a resumed run uses: each stored setting unless a flag gives it. A flag that contradicts a stored
 * setting is an error naming both values, unless `override`; `--steps`/`--epochs` may change freely
 * (a run is extended by resuming it with more). Returns the settings and the contradictions overridden.
 */
export function mergeSettings(stored: RunSettings, given: GivenSettings, override: boolean): { settings: RunSettings; conflicts: string[] } {
  const settings = { ...stored };
  const conflicts: string[] = [];
  if (given.steps !== undefined || given.epochs !== undefined) {
    settings.steps = given.steps ?? null;
    settings.epochs = given.epochs ?? null;
  }
  for (const key of Object.keys(SETTING_FLAGS) as (keyof RunSettings)[]) {
    if (key === "steps" || key === "epochs") continue;
    const g = given[key];
    if (g === undefined) continue;
    const s = stored[key];
    if (g === s) continue;
    if (s === undefined) {
      // A setting the folder does not hold (written before ganc stored it): the flag sets it.
      (settings as Record<string, unknown>)[key] = g;
      continue;
    }
    const show = (v: unknown) => (key === "data" && v === null ? "the spec's data" : String(v));
    conflicts.push(`${SETTING_FLAGS[key]} ${show(g)} contradicts the run's ${show(s)}`);
    (settings as Record<string, unknown>)[key] = g;
  }
  if (conflicts.length && !override) {
    throw Object.assign(new Error(`--resume: ${conflicts.join("; ")} (stored in ${SETTINGS_FILE}); leave the flag out to continue the same run, or pass --override to change it`), { name: "TrainingError" });
  }
  return { settings, conflicts };
}
