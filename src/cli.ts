import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { Command, CommanderError, InvalidArgumentError, type Option } from "commander";
import { MAX_SPEC_CHARS } from "./parser/limits.ts";
import { OPT_PASSES, resolvePasses, type OptSet } from "./codegen/opt-passes.ts";
import { formatDiagnostic, hasErrors, SourceText, toJson, type Diagnostic } from "./parser/diagnostics.ts";
import { writeFileAtomic } from "./runtime/fsutil.ts";
import { reportError } from "./runtime/main.ts";
import { EXIT_CODES, keepSpec, registerToolCommands } from "./tools/commands.ts";
import { registerExplainCommand } from "./explain-command.ts";
import { loadSource } from "./lazy.ts";

// The parser (chevrotain's grammar analysis, ajv's schema compilation) loads when a command reads a spec,
// so that --version and --help do not pay for it.
const checker = () => import("./check.ts");
const compiler = () => import("./compile.ts");
const specParser = () => import("./parser/index.ts");
const formatter = () => import("./format/index.ts");
// What loads tfjs is imported by the commands that run a trainer, never at start (see lazy.ts).
const runFolder = () => loadSource<typeof import("./tools/runfolder.ts")>("tools/runfolder.ts");
// The trainer's flags (no tfjs there): `ganc train --help` and flag mistakes answer without the runtime.
const runFlags = () => import("./runtime/run-flags.ts");
// The live dashboard's server (node:http, no tfjs): loaded by `ganc ui` only.
const uiServer = () => import("./ui/server.ts");
/** bin/ganc.mjs, from src/cli.ts and from dist/cli.js alike. */
const BIN = fileURLToPath(new URL("../bin/ganc.mjs", import.meta.url));

const useColor = () => !!process.stderr.isTTY && !process.env.NO_COLOR;

class UsageError extends Error {}

/** The text of a spec file, with the front end its form needs loaded. */
async function readSpec(file: string): Promise<string> {
  const text = readSpecText(file);
  const parser = await specParser();
  if (parser.isYamlFile(file)) await parser.loadYamlFrontEnd();
  return text;
}

function readSpecText(file: string): string {
  let st: fs.Stats;
  try {
    st = fs.statSync(file);
  } catch {
    throw new UsageError(`no such file: ${file}`);
  }
  if (st.isDirectory()) throw new UsageError(`${file} is a folder, not a spec file`);
  // One limit, the parser's (MAX_SPEC_CHARS characters). A file too large to hold that many characters even
  // at 4 bytes each is refused unread; a smaller one over the limit gets the parser's E0007.
  if (st.size > 4 * MAX_SPEC_CHARS) throw new UsageError(`${file} is ${(st.size / 1048576).toFixed(1)} MB; specs are limited to ${MAX_SPEC_CHARS / 1048576} MB`);
  return fs.readFileSync(file, "utf8");
}

/** Prints diagnostics (code frames, or JSON with --json) and says whether there were errors. */
function report(diags: Diagnostic[], file: string, text: string, json: boolean): boolean {
  const src = new SourceText(file, text);
  if (json) process.stdout.write(JSON.stringify(diags.map((d) => toJson(d, src)), null, 2) + "\n");
  else {
    for (const d of diags) process.stderr.write(formatDiagnostic(d, () => src, { color: useColor() }) + "\n\n");
    const e = diags.filter((d) => d.severity === "error").length;
    const w = diags.length - e;
    if (diags.length) process.stderr.write(`${e} error${e === 1 ? "" : "s"}, ${w} warning${w === 1 ? "" : "s"}\n`);
  }
  return hasErrors(diags);
}

/** The spec path as the generated header shows it: relative to the working folder, forward slashes. */
function displayPath(file: string): string {
  const rel = path.relative(process.cwd(), path.resolve(file));
  return (rel.startsWith("..") ? path.resolve(file) : rel).split(path.sep).join("/");
}

/** The trainer as written for the user (imports "ganc/runtime") and the copy this process runs. */
async function compileFor(file: string, text: string, passes?: OptSet) {
  const source = displayPath(file);
  const { compileText } = await compiler();
  const forUser = compileText(text, file, { source, passes });
  if (!forUser.code) return null;
  const { forThisProcess } = await runFolder();
  return { code: forUser.code, exec: forThisProcess(forUser.code), diagnostics: forUser.diagnostics };
}


async function runTrainer(execCode: string, runDir: string, argv: string[]): Promise<number> {
  const mod = await (await runFolder()).importExec(execCode, runDir);
  return mod.main(argv);
}

/** `--no-opt` (all passes off), `--no-opt=a,b` (those off), nothing (all on). */
function passesFrom(opt: unknown): OptSet {
  try {
    return resolvePasses(opt === true || opt === undefined ? undefined : opt === false ? true : String(opt));
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

interface KernelStats {
  spec: string;
  backend: string;
  batch: number;
  iteration: number;
  kernels: number;
  wallMs: number;
  byKernel: Record<string, { count: number; ms: number }>;
}

/**
 * Kernels per training iteration, counted by tf.profile: the compiled trainer runs three iterations in a
 * scratch folder and profiles the second (the first creates optimizer state, the last writes a
 * checkpoint; neither is a typical iteration).
 */
async function kernelStats(file: string, text: string, passes: OptSet, backend: string): Promise<KernelStats> {
  const c = (await compileFor(file, text, passes))!;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ganc-stats-"));
  try {
    const out = path.join(dir, "stats.json");
    const code = await runTrainer(c.exec, dir, ["--out", dir, "--steps", "3", "--quiet", "--backend", backend, "--histogram-every", "0", "--stats", out]);
    if (code !== 0) throw new Error(`the trainer exited with ${code} while profiling`);
    return JSON.parse(fs.readFileSync(out, "utf8")) as KernelStats;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function formatStats(s: KernelStats): string {
  const top = Object.entries(s.byKernel).slice(0, 12).map(([k, v]) => `${k} ${v.count}`).join(", ");
  return `kernels per iteration: ${s.kernels} (tf.profile of iteration ${s.iteration} on ${s.backend}, batch ${s.batch}; ${s.wallMs.toFixed(0)} ms while profiled)\n  ${top}`;
}

const parsePort = (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError("must be a whole number in 0..65535 (0: any free port)");
  return n;
};

/** Flags of `ganc train` that are not the trainer's: they shape the command, not the run. */
const TRAIN_ONLY = new Set(["out", "opt", "ui", "port", "host"]);

/** `ganc train`'s command: the trainer's flags (but those only `ganc sample` drives), the spec, --no-opt and --ui. */
export async function trainCommand(): Promise<Command> {
  const cmd = (await runFlags()).trainerCommand("ganc train", "train");
  return cmd
    .description("compile a spec and train it")
    .argument("<spec>", "a .gan or .gan.yaml file")
    .option("--no-opt [passes]", "train the trainer compiled without optimization passes (or without those named)")
    .option("--ui", "serve a live dashboard of the run while it trains (URL printed; see ganc ui)")
    .option("--port <n>", "with --ui: the dashboard's port (default 0: any free port)", parsePort)
    .option("--host <address>", "with --ui: the address to listen on (default 127.0.0.1, this machine only)")
    .showHelpAfterError("(run with --help for usage)")
    .addHelpText("after", "\nThe run folder defaults to runs/<spec name>.");
}

/** The trainer's arguments for the flags given on the command line, as the trainer parses them back. */
export function trainerArgv(cmd: Command): string[] {
  const argv: string[] = [];
  for (const opt of cmd.options as Option[]) {
    const key = opt.attributeName();
    if (TRAIN_ONLY.has(key) || !opt.long || cmd.getOptionValueSource(key) !== "cli") continue;
    const v: unknown = cmd.getOptionValue(key);
    if (opt.negate ? v !== false : v === false || v === undefined) continue;
    if (typeof v === "boolean") argv.push(opt.long);
    else if (Array.isArray(v)) argv.push(opt.long, ...v.map(String));
    else argv.push(opt.long, String(v));
  }
  return argv;
}

async function train(args: string[]): Promise<void> {
  const cmd = await trainCommand();
  let file = "";
  cmd.action((spec: string) => {
    file = spec;
  });
  await cmd.parseAsync(args, { from: "user" });
  const o = cmd.opts<{ out?: string; opt: boolean | string; ui?: boolean; port?: number; host?: string }>();
  if (!o.ui && (o.port !== undefined || o.host !== undefined)) throw new UsageError("--port and --host apply to the dashboard: add --ui");
  // the trainer refuses these too; asked here, nothing is written to the run folder first
  const wrong = (await runFlags()).flagMistake(cmd.opts());
  if (wrong !== null) {
    process.stderr.write(`error: ${wrong}\n`);
    process.exitCode = 1;
    return;
  }
  const text = await readSpec(file);
  const c = await compileFor(file, text, passesFrom(o.opt));
  if (!c) {
    report((await checker()).checkText(text, file).diagnostics, file, text, false);
    process.exitCode = 1;
    return;
  }
  if (c.diagnostics.length) report(c.diagnostics, file, text, false);
  const name = /name: "(.*)",/.exec(c.code)![1]!;
  const out = o.out ?? path.join("runs", name);
  // The run folder's lock before anything is written there (a refused second writer changes nothing);
  // the trainer's Run takes it over. The same module instance as the trainer's (lazy.ts).
  const { acquireRunLock, releaseRunLock } = await loadSource<typeof import("./runtime/lock.ts")>("runtime/lock.ts");
  const lock = acquireRunLock(out, (l) => process.stderr.write(l + "\n"), { handOver: true });
  let ui: DashboardChild | null = null;
  try {
    writeFileAtomic(path.join(out, "trainer.ts"), c.code);
    await keepSpec(out, file, text);
    if (o.ui) ui = await dashboardChild(out, o.port ?? 0, o.host);
    process.exitCode = await runTrainer(c.exec, out, ["--out", out, ...trainerArgv(cmd)]);
  } finally {
    releaseRunLock(lock);
    if (ui) {
      await ui.stop();
      process.stderr.write(`dashboard stopped with the run; ganc ui ${out} serves it again\n`);
    }
  }
}

interface DashboardChild {
  url: string;
  stop(): Promise<void>;
}

/**
 * `ganc train --ui`: the dashboard runs as `ganc ui <out>` in a child process, not in the trainer's. The
 * trainer computes on the event loop's thread between few awaits, so a server there would answer late
 * and read files on the loop's time; as its own process it only reads what the run writes. It says its
 * URL over an IPC channel and exits when that channel closes (this process ending, however it ends).
 */
async function dashboardChild(runDir: string, port: number, host: string | undefined): Promise<DashboardChild> {
  const { spawn } = await import("node:child_process");
  const args = [BIN, "ui", runDir, "--port", String(port), ...(host !== undefined ? ["--host", host] : [])];
  const child = spawn(process.execPath, args, { stdio: ["ignore", "ignore", "pipe", "ipc"] });
  let stderr = "";
  child.stderr!.setEncoding("utf8").on("data", (d: string) => (stderr += d));
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const url = await new Promise<string>((resolve, reject) => {
    child.once("message", (m: { url?: string }) => (m.url ? resolve(m.url) : reject(new UsageError("the dashboard did not start"))));
    child.once("exit", () => {
      const msg = /^error: (.*)$/m.exec(stderr)?.[1] ?? (stderr.trim() || "the dashboard exited before it started");
      reject(new UsageError(msg));
    });
  });
  // Its messages from now on (a failure, say) are the user's to see.
  child.stderr!.on("data", (d: string) => process.stderr.write(d));
  process.stderr.write(`dashboard: ${url}\n`);
  return {
    url,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.disconnect();
        await Promise.race([exited, new Promise((r) => setTimeout(r, 3000).unref())]);
        if (child.exitCode === null && child.signalCode === null) child.kill();
      }
    },
  };
}

/** `ganc ui <run-dir>`: serves the dashboard until Ctrl-C (or, as train --ui's child, until its parent goes). */
async function serveDashboard(runDir: string, o: { port: number; host?: string; quiet?: boolean }): Promise<void> {
  const { trainerFile } = await import("./tools/runinfo.ts");
  try {
    trainerFile(runDir);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const { startDashboard, DashboardError } = await uiServer();
  let dash;
  try {
    dash = await startDashboard({ runDir, port: o.port, host: o.host });
  } catch (err) {
    if (err instanceof DashboardError) throw new UsageError(err.message);
    throw err;
  }
  const host = o.host ?? "127.0.0.1";
  if (process.send) process.send({ url: dash.url });
  else {
    process.stderr.write(`dashboard for ${runDir}: ${dash.url} (Ctrl-C to stop)\n`);
    if (!/^(127\.|::1$|localhost$)/.test(host)) process.stderr.write(`note: listening on ${host}: anyone who can reach this machine on port ${dash.port} can see this run\n`);
  }
  await new Promise<void>((resolve) => {
    const done = () => resolve();
    process.once("SIGINT", done);
    process.once("SIGTERM", done);
    process.once("disconnect", done);
  });
  await dash.close();
}

/** `ganc playground`: serves the playground's page until Ctrl-C. */
async function servePlayground(o: { port: number; host?: string }): Promise<void> {
  const { startPlayground, PlaygroundServerError } = await import("./ui/playground-server.ts");
  let srv;
  try {
    srv = await startPlayground({ port: o.port, host: o.host });
  } catch (err) {
    if (err instanceof PlaygroundServerError) throw new UsageError(err.message);
    throw err;
  }
  process.stderr.write(`playground: ${srv.url} (Ctrl-C to stop)\n`);
  if (o.host !== undefined && !/^(127\.|::1$|localhost$)/.test(o.host)) process.stderr.write(`note: listening on ${o.host}: anyone who can reach this machine on port ${srv.port} can open the playground\n`);
  await new Promise<void>((resolve) => {
    process.once("SIGINT", () => resolve());
    process.once("SIGTERM", () => resolve());
  });
  await srv.close();
}

export function program(): Command {
  const cli = new Command("ganc")
    .description("compile declarative GAN specs (.gan or .gan.yaml) into TensorFlow.js trainers")
    .version("0.1.0")
    .exitOverride()
    .showHelpAfterError("(run with --help for usage)")
    .addHelpText("after", EXIT_CODES);

  cli
    .command("check")
    .description("check a spec and print its diagnostics (exit 0 clean, 1 errors, 2 usage)")
    .argument("<spec>", "a .gan or .gan.yaml file")
    .option("--json", "print diagnostics as JSON on stdout")
    .option("--resolved", "print the resolved spec, every default filled in")
    .action(async (file: string, o: { json?: boolean; resolved?: boolean }) => {
      const text = await readSpec(file);
      const { checkText } = await checker();
      const r = checkText(text, file);
      const bad = report(r.diagnostics, file, text, !!o.json);
      if (!bad && o.resolved && r.program) {
        const resolved = (await compiler()).resolvedText(text, file);
        if (resolved !== null) process.stdout.write(resolved);
      }
      process.exitCode = bad ? 1 : 0;
    });

  cli
    .command("compile")
    .description("compile a spec into a standalone TypeScript trainer (or, with --target pytorch, a Python one)")
    .argument("<spec>", "a .gan or .gan.yaml file")
    .option("-o, --out <file>", "write the trainer here (default: print it)")
    .option("--target <target>", "tfjs (a TypeScript trainer for TensorFlow.js) or pytorch (a Python trainer for PyTorch)", "tfjs")
    .option("--json", "print diagnostics as JSON on stdout")
    .option("--no-opt [passes]", `switch off all optimization passes, or those named (comma-separated: ${Object.keys(OPT_PASSES).join(", ")})`)
    .option("--stats", "run one iteration of the trainer with tf.profile and print its kernel count (stderr)")
    .option("--backend <name>", "tfjs backend for --stats", "auto")
    .action(async (file: string, o: { out?: string; json?: boolean; opt: boolean | string; stats?: boolean; backend: string; target: string }) => {
      if (o.target !== "tfjs" && o.target !== "pytorch") throw new UsageError(`--target must be tfjs or pytorch, got '${o.target}'`);
      if (o.target === "pytorch" && o.stats) throw new UsageError("--stats counts the kernels of the TypeScript trainer; it does not apply to --target pytorch");
      const text = await readSpec(file);
      const passes = passesFrom(o.opt);
      const { compileText } = await compiler();
      const r = compileText(text, file, { source: displayPath(file), passes, target: o.target });
      const bad = report(r.diagnostics, file, text, !!o.json);
      if (bad || !r.code) {
        process.exitCode = 1;
        return;
      }
      if (o.out) {
        fs.mkdirSync(path.dirname(path.resolve(o.out)), { recursive: true });
        writeFileAtomic(o.out, r.code);
        if (!o.json) process.stderr.write(`wrote ${o.out}\n`);
      } else if (!o.json) process.stdout.write(r.code);
      if (o.stats) {
        const stats = await kernelStats(file, text, passes, o.backend);
        process.stderr.write(formatStats(stats) + "\n");
      }
    });

  // The trainer's own flags (trainerCommand in runtime/run-flags.ts) are `ganc train`'s: they are read from
  // there when the command runs, so `ganc train` parses its arguments itself.
  cli
    .command("train")
    .description("compile a spec and train it (all trainer flags apply; ganc train --help lists them)")
    .usage("[options] <spec>")
    .helpOption(false)
    .allowUnknownOption()
    .argument("[spec]")
    .argument("[flags...]")
    .action(async (spec: string | undefined, flags: string[]) => train(spec === undefined ? flags : [spec, ...flags]));

  cli
    .command("sample")
    .description("write a sample grid from a run's newest checkpoint, without training")
    .argument("<run-dir>", "a run folder written by ganc train")
    .option("-n, --n <count>", "number of images", (v) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n <= 0 || n > 10000) throw new InvalidArgumentError("must be a whole number in 1..10000");
      return n;
    }, 64)
    .option("-o, --out <file>", "PNG file to write (default <run-dir>/samples/sample.png)")
    .option("--backend <name>", "tfjs backend (default: the run's)")
    .option("--truncation <psi>", "psi of truncate() in the spec's samples: w_avg + psi (w - w_avg) (default 1: none; 0: the average w)", (v) => {
      const x = Number(v);
      if (v.trim() === "" || !Number.isFinite(x)) throw new InvalidArgumentError("must be a number (1: no truncation, 0: the average w; 0.5 to 0.7 are usual)");
      return x;
    })
    .action(async (runDir: string, o: { n: number; out?: string; backend?: string; truncation?: number }) => {
      const { trainerFile } = await runFolder();
      let trainer: string;
      try {
        trainer = trainerFile(runDir);
      } catch (err) {
        throw err instanceof Error && err.name === "RunFolderError" ? new UsageError(err.message) : err;
      }
      const exec = (await runFolder()).forThisProcess(fs.readFileSync(trainer, "utf8"));
      const out = o.out ?? path.join(runDir, "samples", "sample.png");
      process.exitCode = await runTrainer(exec, runDir, ["--out", runDir, "--sample-to", out, "--sample-count", String(o.n), ...(o.backend ? ["--backend", o.backend] : []), ...(o.truncation !== undefined ? ["--truncation", String(o.truncation)] : []), "--quiet"]);
      if (process.exitCode === 0) process.stderr.write(`wrote ${out}\n`);
    });

  cli
    .command("data")
    .description("write a spec's data, decoded, as NumPy arrays (x.npy, labels.npy) for the PyTorch trainer's --data")
    .argument("<spec>", "a .gan or .gan.yaml file")
    .requiredOption("-o, --out <dir>", "the folder to write")
    .option("--data <path>", "read the data from here instead of the spec's path")
    .option("--seed <n>", "the seed that draws toy data (default: the spec's)")
    .action(async (file: string, o: { out: string; data?: string; seed?: string }) => {
      const text = await readSpec(file);
      const { checkText } = await checker();
      const r = checkText(text, file);
      if (report(r.diagnostics, file, text, false) || !r.program) {
        process.exitCode = 1;
        return;
      }
      const seed = o.seed === undefined ? r.program.train.seed : Number(o.seed);
      if (!Number.isInteger(seed) || seed < 0 || seed >= 2 ** 32) throw new UsageError(`--seed must be a whole number in [0, 2^32), got '${o.seed}'`);
      const d = r.program.data;
      const { loadDataset } = await import("./data/index.ts");
      const { exportDataset } = await import("./tools/data-export.ts");
      const ds = await loadDataset(
        { name: d.name, source: d.source, batch: d.batch, shape: [...d.shape], numClasses: d.numClasses, classNames: d.classNames ? [...d.classNames] : null, path: d.path, args: { ...d.args } },
        { specFile: file, data: o.data, seed, log: (l) => process.stderr.write(l + "\n") },
      );
      const w = exportDataset(ds, o.out, { spec: displayPath(file), data: d.source });
      process.stderr.write(`wrote ${w.count} samples of [${w.shape.join(", ")}] to ${o.out} (${w.files.join(", ")})\n`);
    });

  cli
    .command("convert")
    .description("print a spec in the other form (.gan <-> .gan.yaml); the leading comment block is kept")
    .argument("<spec>", "a .gan or .gan.yaml file")
    .option("-o, --out <file>", "write here (the form follows its name); default: print the other form")
    .option("--to <form>", "gan or yaml (default: the other form, or what -o's name says)")
    .action(async (file: string, o: { out?: string; to?: string }) => {
      const text = await readSpec(file);
      const { isYamlFile, parseSpec } = await specParser();
      const parsed = parseSpec(text, file);
      if (!parsed.spec || hasErrors(parsed.diagnostics)) {
        report(parsed.diagnostics, file, text, false);
        process.exitCode = 1;
        return;
      }
      const to = o.to ?? (o.out ? (isYamlFile(o.out) ? "yaml" : "gan") : isYamlFile(file) ? "gan" : "yaml");
      if (to !== "gan" && to !== "yaml") throw new UsageError(`--to must be gan or yaml, got '${to}'`);
      // Comments are not in the AST; carry over the block of comment lines that opens the file.
      const lines = text.replace(/^\uFEFF/, "").split(/\r?\n/);
      const end = lines.findIndex((l) => !/^\s*#/.test(l));
      const lead = lines.slice(0, end < 0 ? lines.length : end).filter((l) => !/yaml-language-server/.test(l));
      // The modeline points at this package's schema from where the file is written (stdout: the working folder).
      const schema = fileURLToPath(new URL("../grammar/gan.schema.json", import.meta.url));
      const schemaRel = path.relative(o.out ? path.dirname(path.resolve(o.out)) : process.cwd(), schema).split(path.sep).join("/");
      const { printDsl, printYaml } = await import("./parser/print.ts");
      const body = to === "yaml" ? printYaml(parsed.spec, schemaRel) : printDsl(parsed.spec);
      const out = to === "yaml" ? body.replace(/^(# yaml-language-server.*\n)/, `$1${lead.map((l) => l + "\n").join("")}`) : lead.map((l) => l + "\n").join("") + body;
      if (o.out) {
        writeFileAtomic(o.out, out);
        process.stderr.write(`wrote ${o.out}\n`);
      } else process.stdout.write(out);
    });

  cli
    .command("fmt")
    .description("format .gan specs: print the result, or --check / --write (exit 0 done, 1 unformatted or errors, 2 usage)")
    .argument("<spec...>", ".gan files; - reads a spec from stdin")
    .option("--check", "print the files that are not formatted (and change nothing); exit 1 if there are any")
    .option("--write", "rewrite the files that are not formatted in place (unchanged files are not touched)")
    .action(async (files: string[], o: { check?: boolean; write?: boolean }) => {
      if (o.check && o.write) throw new UsageError("--check and --write exclude each other");
      if (files.includes("-") && (files.length > 1 || o.write)) throw new UsageError("- (stdin) is formatted alone and cannot be written back; drop --write or the other files");
      const { isYamlFile } = await specParser();
      const yaml = files.find((f) => isYamlFile(f));
      if (yaml) throw new UsageError(`${yaml}: ganc fmt formats .gan specs only (a YAML spec keeps its own layout; \`ganc convert ${yaml}\` prints it as .gan)`);
      const texts = files.map((f) => (f === "-" ? { file: "<stdin>", text: fs.readFileSync(0, "utf8") } : { file: f, text: readSpecText(f) }));
      const { formatGan } = await formatter();
      let failed = false;
      const changed: string[] = [];
      for (const { file, text } of texts) {
        const r = formatGan(text, file);
        if (!r.ok) {
          report(r.diagnostics, file, text, false);
          failed = true;
          continue;
        }
        if (o.check) {
          if (r.text !== text) changed.push(file);
        } else if (o.write) {
          if (r.text === text) continue;
          // The file itself when `file` is a link; its permission bits are kept.
          const real = fs.realpathSync(file);
          writeFileAtomic(real, r.text, fs.statSync(real).mode & 0o7777);
          changed.push(file);
        } else process.stdout.write(r.text);
      }
      if (o.check) {
        for (const f of changed) process.stdout.write(f + "\n");
        if (changed.length) process.stderr.write(`${changed.length} of ${texts.length} file${texts.length === 1 ? "" : "s"} not formatted (ganc fmt --write rewrites them)\n`);
      } else if (o.write) for (const f of changed) process.stderr.write(`formatted ${f}\n`);
      process.exitCode = failed || (o.check && changed.length > 0) ? 1 : 0;
    });

  cli
    .command("init")
    .description("write a starter spec (the seed GAN)")
    .argument("[name]", "spec name", "my-gan")
    .action((name: string) => {
      const file = `${name}.gan`;
      if (fs.existsSync(file)) throw new UsageError(`${file} already exists`);
      const seed = fs.readFileSync(new URL("../specs/gan.gan", import.meta.url), "utf8").replace(/^gan "gan"$/m, `gan "${name}"`);
      writeFileAtomic(file, seed);
      process.stderr.write(`wrote ${file}\nnext: ganc check ${file} && ganc train ${file} --steps 200\n`);
    });

  cli
    .command("ui")
    .description("serve a live dashboard of a run folder (in progress or finished): charts of every logged value, sample grids, progress, spec")
    .argument("<run-dir>", "a run folder written by ganc train")
    .option("--port <n>", "port to listen on (default 0: any free port; the URL is printed)", parsePort, 0)
    .option("--host <address>", "address to listen on (default 127.0.0.1, this machine only)")
    .addHelpText("after", "\nThe page follows the run while a trainer writes to the folder. ganc train --ui starts it with the run.")
    .action(async (runDir: string, o: { port: number; host?: string }) => serveDashboard(runDir, o));

  cli
    .command("playground")
    .description("serve the playground: write a spec in the browser, see the checker's diagnostics as you type, train it in the page")
    .option("--port <n>", "port to listen on (default 0: any free port; the URL is printed)", parsePort, 0)
    .option("--host <address>", "address to listen on (default 127.0.0.1, this machine only)")
    .addHelpText("after", "\nnpm run build:playground writes the same page into a folder any static file server can serve.")
    .action(async (o: { port: number; host?: string }) => servePlayground(o));

  cli
    .command("lsp")
    .description("run the language server (Language Server Protocol over stdin and stdout) for editors")
    .option("--stdio", "talk over stdin and stdout (the default and only transport; editors pass it)")
    .action(async () => {
      // Loaded only here: the protocol libraries cost every other command nothing.
      const { startServer } = await import("./lsp/server.ts");
      await startServer();
      process.exitCode = 0;
    });

  registerToolCommands(cli, (message) => new UsageError(message));
  registerExplainCommand(cli, (message) => new UsageError(message));

  return cli;
}

/**
 * A commander error, from this commander or another copy: dist/ bundles commander, while the trainer
 * that `ganc train` and `ganc sample` run parses its flags with node_modules' (src/runtime/run-flags.ts).
 */
function isCommanderError(err: unknown): err is CommanderError {
  if (err instanceof CommanderError) return true;
  const e = err as Partial<CommanderError> | null;
  return err instanceof Error && typeof e?.exitCode === "number" && typeof e.code === "string" && e.code.startsWith("commander.");
}

export async function main(argv: string[]): Promise<number> {
  const cli = program();
  try {
    // A bare --no-opt takes no value (commander would read the next argument as its list of passes).
    await cli.parseAsync(argv.map((a) => (a === "--no-opt" ? "--no-opt=all" : a)), { from: "user" });
    return typeof process.exitCode === "number" ? process.exitCode : 0;
  } catch (err) {
    if (isCommanderError(err)) return err.exitCode === 0 ? 0 : 2;
    if (err instanceof UsageError) {
      process.stderr.write(`error: ${err.message}\n`);
      return 2;
    }
    return reportError(err);
  }
}
