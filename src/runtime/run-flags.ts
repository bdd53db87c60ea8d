import * as path from "node:path";
import { Command, InvalidArgumentError, Option } from "commander";
import type { BackendChoice } from "./backend.ts";
import { mergeSettings, SETTING_FLAGS, type GivenSettings, type RunSettings } from "./settings.ts";
import { TrainingError, type SpecInfo } from "./run-spec.ts";

/**
 * The trainer's command line, in one place: the flags (which `ganc train` takes too), the options
 * they parse into, and the settings a run keeps in its folder. Loads no tfjs, so `ganc train --help`
 * and flag mistakes answer at once.
 */

export interface RunOptions {
  out: string;
  epochs?: number;
  steps?: number;
  batch?: number;
  /** Not given: the run's stored backend on --resume, else "auto". */
  backend?: BackendChoice;
  seed?: number;
  data?: string;
  resume: boolean;
  /** On --resume: let flags change settings stored in the run folder (seed, data, batch, cadences, backend). */
  override?: boolean;
  quiet: boolean;
  logEvery?: number;
  sampleEvery?: number;
  histogramEvery?: number;
  checkpointEvery?: number;
  evalEvery?: number;
  /** Start over in an existing run folder: its checkpoints, samples and logs are removed first. */
  fresh?: boolean;
  /** Sample-only mode: restore the newest checkpoint, write a grid of `sampleCount` images here, no training. */
  sampleTo?: string;
  sampleCount?: number;
  /** Sample-only mode: the truncation trick's psi for truncate() in the samples expression (default 1, none). */
  truncation?: number;
  /** Profile one iteration (the second when there are two or more) with tf.profile; write its kernel counts here as JSON. */
  stats?: string;
  /** With stats: the iteration to profile instead of the second (the last where the run has fewer). */
  statsIteration?: number;
}

export const BACKEND_CHOICES: readonly BackendChoice[] = ["auto", "tensorflow-gpu", "tensorflow", "wasm", "cpu", "webgpu"];

const positiveInt = (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError("must be a positive whole number");
  return n;
};
const positiveOrZero = (v: string) => (v === "0" ? 0 : positiveInt(v));
const finiteNumber = (v: string) => {
  const n = Number(v);
  if (v.trim() === "" || !Number.isFinite(n)) throw new InvalidArgumentError("must be a number (psi: 1 is no truncation, 0 the average w; 0.5 to 0.7 are usual)");
  return n;
};
const seedInt = (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n >= 2 ** 32) throw new InvalidArgumentError("must be a whole number in [0, 2^32)");
  return n;
};

/** Each flag once; `sampling`: only `ganc sample` drives it, `ganc train` does not take it. */
const FLAGS: { option: () => Option; sampling?: true }[] = [
  { option: () => new Option("-o, --out <dir>", "run folder for samples, checkpoints and logs") },
  { option: () => new Option("--epochs <n>", "passes over the data").argParser(positiveInt) },
  { option: () => new Option("--steps <n>", "iterations (overrides epochs)").argParser(positiveInt) },
  { option: () => new Option("--batch <n>", "batch size").argParser(positiveInt) },
  { option: () => new Option("--backend <name>", "tfjs backend (default: auto; on --resume, the run's)").choices(BACKEND_CHOICES) },
  { option: () => new Option("--seed <n>", "seed for weights, noise and data order").argParser(seedInt) },
  { option: () => new Option("--data <path>", "the data folder or file, in place of the spec's path (IDX or CIFAR folder, image folder, .bin, .npy, .npz)") },
  { option: () => new Option("--resume", "continue from the newest good checkpoint in the run folder, with the run's stored settings").default(false) },
  { option: () => new Option("--override", "with --resume: let flags change the run's stored settings (seed, data, batch, backend, ...)").default(false) },
  { option: () => new Option("--fresh", "start over: remove the run folder's checkpoints, samples and logs first").default(false) },
  { option: () => new Option("-q, --quiet", "no progress output").default(false) },
  { option: () => new Option("--log-every <n>", "iterations between loss read-backs and log lines").argParser(positiveInt) },
  { option: () => new Option("--sample-every <n>", "iterations between sample grids").argParser(positiveInt) },
  { option: () => new Option("--eval-every <n>", "iterations between quality metrics (FID, classifier score, coverage) in the log (0: none)").argParser(positiveOrZero) },
  { option: () => new Option("--checkpoint-every <n>", "iterations between checkpoints (default: the spec's)").argParser(positiveInt) },
  { option: () => new Option("--histogram-every <n>", "iterations between TensorBoard histograms (0: none)").argParser(positiveOrZero) },
  { option: () => new Option("--sample-to <file>", "only write a sample grid from the newest checkpoint to this PNG file"), sampling: true },
  { option: () => new Option("--sample-count <n>", "images in that grid").argParser(positiveInt), sampling: true },
  { option: () => new Option("--truncation <psi>", "with --sample-to: psi of truncate() in the samples (1: none, 0: the average w)").argParser(finiteNumber), sampling: true },
  { option: () => new Option("--stats <file>", "profile one iteration with tf.profile and write its kernel counts (on webgpu also its compute dispatches) to this JSON file") },
  {
    option: () =>
      new Option("--stats-iteration <n>", "with --stats: the iteration to profile (default 2; a later one shows the steady state, after the first iterations' heap growth)").argParser(positiveInt),
  },
];

/** The trainer's command line; `ganc train` (for: "train") takes the same flags but the sampling ones. */
export function trainerCommand(name: string, for_: "trainer" | "train" = "trainer"): Command {
  const cmd = new Command(name).description("train the GAN described by the spec");
  for (const f of FLAGS) if (for_ === "trainer" || !f.sampling) cmd.addOption(f.option());
  return cmd.exitOverride().configureOutput({ writeErr: (s) => process.stderr.write(s) });
}

/** The trainer's options from its arguments (commander's attribute names are RunOptions' keys). */
export function parseRunOptions(spec: SpecInfo, argv: string[]): RunOptions {
  const o = trainerCommand(`trainer (${spec.name})`).parse(argv, { from: "user" }).opts<Omit<RunOptions, "out"> & { out?: string }>();
  const opts: RunOptions = { ...o, out: o.out ?? path.join("runs", spec.name) };
  if (opts.sampleTo) opts.resume = true;
  const wrong = flagMistake(opts);
  if (wrong !== null) throw new TrainingError(wrong);
  return opts;
}

/** Flags that contradict each other or need another, as a message (null: none). `ganc train` asks before it writes anything. */
export function flagMistake(opts: Pick<RunOptions, "fresh" | "resume" | "override" | "stats" | "statsIteration">): string | null {
  if (opts.fresh && opts.resume) return "--fresh and --resume contradict each other: choose one";
  if (opts.override && !opts.resume) return "--override only applies with --resume (a new run takes its flags as they are)";
  if (opts.statsIteration !== undefined && !opts.stats) return "--stats-iteration only applies with --stats <file> (it picks the iteration that --stats profiles)";
  return null;
}

/**
 * On --resume: the run folder's stored settings fill in the flags not given; a given one that
 * contradicts them is an error unless --override. Sampling (--sample-to) shapes no run: its
 * --backend is its own choice. Returns the contradictions overridden, for the log.
 */
export function applyStoredSettings(opts: RunOptions, stored: RunSettings): string[] {
  const given: GivenSettings = {};
  for (const key of Object.keys(SETTING_FLAGS) as (keyof RunSettings)[]) {
    const v = key === "data" && opts.data !== undefined ? path.resolve(opts.data) : opts[key];
    if (v !== undefined && !(key === "backend" && opts.sampleTo)) (given as Record<string, unknown>)[key] = v;
  }
  const { settings, conflicts } = mergeSettings(stored, given, !!opts.override);
  for (const key of Object.keys(SETTING_FLAGS) as (keyof RunSettings)[]) {
    if (key === "backend" && opts.sampleTo && opts.backend !== undefined) continue;
    (opts as unknown as Record<string, unknown>)[key] = settings[key] ?? undefined;
  }
  return conflicts;
}

/** The settings that shape a run: each flag, else the spec's value (as `--resume` restores them). */
export function effectiveSettings(spec: SpecInfo, opts: RunOptions, batch: number, stepsPerEpoch: number): RunSettings {
  const t = spec.train;
  return {
    seed: opts.seed ?? t.seed,
    data: opts.data === undefined ? null : path.resolve(opts.data),
    batch,
    steps: opts.steps ?? null,
    epochs: opts.epochs ?? null,
    logEvery: opts.logEvery ?? t.logEvery,
    sampleEvery: opts.sampleEvery ?? t.sampleEvery,
    checkpointEvery: opts.checkpointEvery ?? (t.checkpointEvery === "epoch" ? stepsPerEpoch : t.checkpointEvery),
    evalEvery: opts.evalEvery ?? t.evalEvery ?? 0,
    histogramEvery: opts.histogramEvery ?? t.histogramEvery,
    backend: opts.backend ?? "auto",
  };
}
