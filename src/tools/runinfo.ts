import * as fs from "node:fs";
import * as path from "node:path";
import type { SpecInfo } from "../runtime/session.ts";
import { compileText } from "../compile.ts";
import { writeFileAtomic } from "../runtime/fsutil.ts";

/**
 * What a run folder says about itself without loading tfjs: its trainer file and the SPEC fields
 * written into it (read from the generated source). `ganc ui` and the report use these.
 */

/** A problem with what the user pointed a command at (exit code 2). */
export class RunFolderError extends Error {
  override name = "RunFolderError";
}

export function trainerFile(runDir: string): string {
  const file = path.join(runDir, "trainer.ts");
  if (!fs.existsSync(runDir) || !fs.statSync(runDir).isDirectory()) throw new RunFolderError(`no such run folder: ${runDir}`);
  if (!fs.existsSync(file)) {
    // A run the PyTorch trainer made on its own keeps its spec (spec.gan or spec.gan.yaml) and no trainer.ts:
    // the TypeScript trainer is compiled from that spec (the same text, so the checkpoints' spec hash).
    const kept = ["spec.gan", "spec.gan.yaml"].map((f) => path.join(runDir, f)).find((f) => fs.existsSync(f));
    if (!kept) throw new RunFolderError(`${runDir} is not a run folder (no trainer.ts or spec.gan in it)`);
    const c = compileText(fs.readFileSync(kept, "utf8"), kept);
    if (c.code === null) throw new RunFolderError(`${kept}: the spec kept in the run folder does not compile (ganc check ${kept} says why)`);
    writeFileAtomic(file, c.code);
  }
  return file;
}

/** The trainer's SPEC without running anything: the fields reports need, read from the generated source. */
export function readSpecInfo(runDir: string): Pick<SpecInfo, "name" | "source" | "hash" | "resolved" | "sampleRange"> & { data: { source: string; shape: number[] } } {
  const code = fs.readFileSync(trainerFile(runDir), "utf8");
  const str = (key: string) => {
    const m = new RegExp(`^  ${key}: (".*"),$`, "m").exec(code);
    return m ? (JSON.parse(m[1]!) as string) : "";
  };
  const data = /^  data: \{ name: ".*?", source: "(\w+)", batch: \d+, shape: \[([\d, ]*)\]/m.exec(code);
  const range = /^  sampleRange: \[(-?[\d.]+), (-?[\d.]+)\],$/m.exec(code);
  return {
    name: str("name"),
    source: str("source"),
    hash: str("hash"),
    resolved: str("resolved"),
    sampleRange: range ? [Number(range[1]), Number(range[2])] : [0, 1],
    data: { source: data?.[1] ?? "", shape: data ? data[2]!.split(",").map((s) => Number(s.trim())) : [] },
  };
}
