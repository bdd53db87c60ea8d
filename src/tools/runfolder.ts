import { specHash } from "../spec-hash.ts";
import * as fs from "node:fs";
import * as path from "node:path";
import { pathToFileURL } from "node:url";
import { TrainingError, type SpecInfo } from "../runtime/session.ts";
import { writeFileAtomic } from "../runtime/fsutil.ts";
import { readSpecInfo, RunFolderError, trainerFile } from "./runinfo.ts";
import { isStrippedFrom, stripTypes } from "./strip-types.ts";

export { readSpecInfo, RunFolderError, trainerFile } from "./runinfo.ts";

/**
 * Reading a run folder written by `ganc train`: its trainer (trainer.ts, with the SPEC it was compiled
 * from), the spec text, and samples drawn from its newest checkpoint through the trainer's own
 * sample mode (the path `ganc sample` takes).
 */

/**
 * Where this module was loaded from: src/tools/ through tsx, or the bundle (dist/lazy/tools/ or
 * dist/lazy/chunks/: scripts/build.mjs keeps every file of it one folder below dist/lazy/).
 */
const BUNDLED = !import.meta.url.endsWith(".ts");
/** The runtime that came with this module, which the trainer must import: src/runtime/index.ts, or the bundle's entry. */
const RUNTIME_URL = new URL(BUNDLED ? "../runtime/index.js" : "../runtime/index.ts", import.meta.url).href;

/**
 * A trainer's source made runnable inside this process, wherever its run folder is: the runtime and
 * tfjs are imported from this installation (one tfjs engine for both), and main() is not auto-run.
 */
export function forThisProcess(code: string): string {
  const tfjs = import.meta.resolve("@tensorflow/tfjs");
  return code
    .replace(`from "ganc/runtime";`, `from ${JSON.stringify(RUNTIME_URL)};`)
    .replace(`from "@tensorflow/tfjs";`, `from ${JSON.stringify(tfjs)};`)
    .replace(/\nrt\.runIfMain\(import\.meta\.url, main\);\n$/, "\n");
}

export interface TrainerModule {
  SPEC: SpecInfo;
  main: (argv: string[]) => Promise<number>;
}

/**
 * Imports a trainer made runnable by forThisProcess, from <runDir>/.ganc/. From the sources it is
 * trainer.exec.mts, which tsx (this process's loader) compiles. From the bundle, where no TypeScript loader
 * runs, it is that file's JavaScript (strip-types.ts), trainer.exec.mjs, made again only when the
 * TypeScript changed.
 */
export async function importExec(exec: string, runDir: string): Promise<TrainerModule> {
  const dir = path.join(runDir, ".ganc");
  fs.mkdirSync(dir, { recursive: true });
  let file = path.join(dir, "trainer.exec.mts");
  if (!fs.existsSync(file) || fs.readFileSync(file, "utf8") !== exec) writeFileAtomic(file, exec);
  if (BUNDLED) {
    file = path.join(dir, "trainer.exec.mjs");
    if (!fs.existsSync(file) || !isStrippedFrom(fs.readFileSync(file, "utf8"), exec)) writeFileAtomic(file, await stripTypes(exec));
  }
  return (await import(pathToFileURL(path.resolve(file)).href)) as TrainerModule;
}

/** The trainer module as this process runs it: imports pointed at this copy of ganc and tfjs. */
function importTrainer(runDir: string): Promise<TrainerModule> {
  return importExec(forThisProcess(fs.readFileSync(trainerFile(runDir), "utf8")), runDir);
}

export interface Samples {
  spec: SpecInfo;
  shape: number[];
  range: [number, number];
  data: Float32Array;
}

/**
 * `n` samples from the newest checkpoint, drawn by the trainer's sample mode with its fixed sample
 * noise (the values `ganc sample -o x.json` writes).
 */
/** `backend` undefined: the trainer uses the run's stored backend (settings.json), as `ganc sample` does. */
export async function drawSamples(runDir: string, n: number, backend?: string): Promise<Samples> {
  const mod = await importTrainer(runDir);
  const tmp = path.join(runDir, ".ganc", `samples-${process.pid}.json`);
  try {
    const code = await mod.main(["--out", runDir, "--sample-to", tmp, "--sample-count", String(n), ...(backend ? ["--backend", backend] : []), "--quiet"]);
    if (code !== 0) throw new TrainingError(`drawing samples from ${runDir} failed (exit ${code})`);
    const raw = JSON.parse(fs.readFileSync(tmp, "utf8")) as { shape: number[]; range: [number, number]; data: number[] };
    return { spec: mod.SPEC, shape: raw.shape, range: raw.range, data: Float32Array.from(raw.data) };
  } finally {
    fs.rmSync(tmp, { force: true });
  }
}


/**
 * The spec the run was trained from: the copy `ganc train` keeps in the run folder (spec.gan or
 * spec.gan.yaml), else the trainer's source path (as given, then relative to the run folder's parent),
 * accepted only when its hash matches the trainer's.
 */
export function findSpec(runDir: string): { file: string; text: string } {
  const info = readSpecInfo(runDir);
  const candidates = [
    path.join(runDir, "spec.gan"),
    path.join(runDir, "spec.gan.yaml"),
    path.resolve(info.source),
    path.resolve(runDir, "..", info.source),
    path.resolve(runDir, "..", "..", info.source),
  ];
  const tried: string[] = [];
  for (const file of candidates) {
    if (!fs.existsSync(file) || !fs.statSync(file).isFile()) continue;
    const text = fs.readFileSync(file, "utf8");
    if (specHash(text) === info.hash) return { file, text };
    tried.push(`${file} (changed since training)`);
  }
  throw new RunFolderError(
    `cannot find the spec ${runDir} was trained from (hash ${info.hash}): looked for spec.gan in the run folder and ${info.source}` +
      (tried.length ? `; found only ${tried.join(", ")}` : ""),
  );
}
