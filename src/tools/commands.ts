import * as fs from "node:fs";
import * as path from "node:path";
import { Command, InvalidArgumentError, Option } from "commander";
import { writeFileAtomic } from "../runtime/fsutil.ts";
import { loadSource } from "../lazy.ts";

// eval, export and report load tfjs (and report the runtime's modules): imported when their command runs.
const evalTool = () => loadSource<typeof import("./eval.ts")>("tools/eval.ts");
const exportTool = () => loadSource<typeof import("./export.ts")>("tools/export.ts");
const reportTool = () => loadSource<typeof import("./report.ts")>("tools/report.ts");
const runFolder = () => loadSource<typeof import("./runfolder.ts")>("tools/runfolder.ts");

/** What `ganc --help` says about exit codes. */
export const EXIT_CODES = `
Exit codes:
  0    success
  1    the spec has errors, training failed, or a run folder's contents are unusable (message on stderr)
  2    usage error: unknown command or flag, bad value, missing file or run folder
  70   internal error (please report it with the spec that caused it)
  130  interrupted (Ctrl-C); a checkpoint was written

Output: data (--json, printed trainers, eval results) goes to stdout, messages to stderr; colour only
on a terminal and never when NO_COLOR is set; --quiet, where a command has it, drops progress messages.`;

/** `ganc train` keeps a copy of the spec in the run folder, so that export and reports find what was trained. */
export async function keepSpec(runDir: string, specFile: string, text: string): Promise<void> {
  const { isYamlFile } = await import("../parser/index.ts");
  writeFileAtomic(path.join(runDir, isYamlFile(specFile) ? "spec.gan.yaml" : "spec.gan"), text);
}

const backendOption = () =>
  new Option("--backend <name>", "tfjs backend (default: the run's, which --resume and ganc sample use too)").choices(["auto", "tensorflow-gpu", "tensorflow", "wasm", "cpu", "webgpu"]);

/** eval, report and export: commands that read a run folder. */
export function registerToolCommands(cli: Command, usageError: (message: string) => Error): void {
  const wrap =
    <A extends unknown[]>(fn: (...args: A) => Promise<void> | void) =>
    async (...args: A) => {
      try {
        await fn(...args);
      } catch (err) {
        // By name: RunFolderError's module is loaded lazily (and, from dist/cli.js, is another copy).
        if (err instanceof Error && err.name === "RunFolderError") throw usageError(err.message);
        throw err;
      }
    };
  const say = (quiet: boolean | undefined) => (line: string) => (quiet ? undefined : process.stderr.write(line + "\n"));

  cli
    .command("eval")
    .description("sample quality of a run's newest checkpoint: sliced Wasserstein distance (any images), FID, classifier score and class coverage (MNIST), modes covered (toy 2-D)")
    .argument("<run-dir>", "a run folder written by ganc train")
    .option("-n, --n <count>", "number of samples", (v) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 2 || n > 10000) throw new InvalidArgumentError("must be a whole number in 2..10000");
      return n;
    }, 5000)
    .addOption(
      new Option("--metric <name>", "auto: the MNIST classifier for 28x28 MNIST, mode coverage for toy 2-D data, SWD for any other images; classifier; swd")
        .choices(["auto", "classifier", "swd"])
        .default("auto"),
    )
    .option("--json", "print the results as JSON on stdout")
    .option("-q, --quiet", "no progress messages")
    .addOption(backendOption())
    .addHelpText("after", "\nThe results are also saved to <run-dir>/eval.json, where `ganc report` shows them.\nSWD (sliced Wasserstein distance of Laplacian-pyramid patches, Karras et al. 2018) is printed times 1e3, as ProGAN reports it.")
    .action(
      wrap(async (runDir: string, o: { n: number; metric: "auto" | "classifier" | "swd"; json?: boolean; quiet?: boolean; backend?: string }) => {
        (await runFolder()).trainerFile(runDir);
        const { evaluateRun, formatEval, saveEval } = await evalTool();
        const r = await evaluateRun(runDir, { n: o.n, metric: o.metric, backend: o.backend, log: say(o.quiet || o.json) });
        saveEval(runDir, r);
        process.stdout.write(o.json ? JSON.stringify(r, null, 2) + "\n" : formatEval(r));
      }),
    );

  cli
    .command("report")
    .description("write a self-contained HTML report of a run: charts of every logged value, samples over time, spec, timings")
    .argument("<run-dir>", "a run folder written by ganc train")
    .option("-o, --out <file>", "HTML file to write (default <run-dir>/report.html)")
    .option("--max-images <n>", "sample grids shown, evenly spaced over the run", (v) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 2) throw new InvalidArgumentError("must be a whole number >= 2");
      return n;
    }, 24)
    .option("-q, --quiet", "no messages")
    .action(
      wrap(async (runDir: string, o: { out?: string; maxImages: number; quiet?: boolean }) => {
        const { buildReport } = await reportTool();
        const html = buildReport(runDir, { maxImages: o.maxImages });
        const out = o.out ?? path.join(runDir, "report.html");
        fs.mkdirSync(path.dirname(path.resolve(out)), { recursive: true });
        writeFileAtomic(out, html);
        say(o.quiet)(`wrote ${out}`);
      }),
    );

  cli
    .command("export")
    .description("write a run's generator as a TensorFlow.js layers model (model.json + weights) for tf.loadLayersModel")
    .argument("<run-dir>", "a run folder written by ganc train")
    .option("-o, --out <dir>", "folder to write (default <run-dir>/export)")
    .option("--json", "print what was written as JSON on stdout")
    .option("-q, --quiet", "no messages")
    .option("--truncation <psi>", "psi of truncate() in a style-based generator's samples, baked into the model (default 1: none)", (v) => {
      const x = Number(v);
      if (v.trim() === "" || !Number.isFinite(x)) throw new InvalidArgumentError("must be a number (1: no truncation, 0: the average w)");
      return x;
    })
    .addOption(backendOption())
    .addHelpText(
      "after",
      "\nAlso writes sample-noise.json: the trainer's fixed sample noise and the exported model's outputs for it.\nLoad the model with tf.loadLayersModel(\"<url>/model.json\"); its inputs and their noise are described\nin model.getUserDefinedMetadata().ganc.",
    )
    .action(
      wrap(async (runDir: string, o: { out?: string; json?: boolean; quiet?: boolean; backend?: string; truncation?: number }) => {
        const { exportRun } = await exportTool();
        const r = await exportRun(runDir, { out: o.out, backend: o.backend as never, truncation: o.truncation, log: say(o.quiet || o.json) });
        if (o.json) process.stdout.write(JSON.stringify({ dir: r.dir, files: r.files, ...r.meta }, null, 2) + "\n");
        else say(o.quiet)(`wrote ${r.dir}: ${r.meta.net} at iteration ${r.meta.step}, inputs ${r.meta.inputs.map((i) => `${i.name} [${i.shape.join(", ")}]`).join(", ")} -> [${r.meta.output.shape.join(", ")}]`);
      }),
    );
}
