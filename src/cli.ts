import * as fs from "node:fs";
import * as path from "node:path";
import { pathToFileURL } from "node:url";
import { Command, CommanderError, InvalidArgumentError } from "commander";
import { compileText, checkText } from "./compile.ts";
import { formatDiagnostic, hasErrors, SourceText, toJson, type Diagnostic } from "./parser/diagnostics.ts";
import { writeFileAtomic } from "./runtime/fsutil.ts";
import { reportError } from "./runtime/main.ts";
import { EXIT_CODES, keepSpec, registerToolCommands } from "./tools/commands.ts";

const useColor = () => !!process.stderr.isTTY && !process.env.NO_COLOR;

class UsageError extends Error {}

function readSpec(file: string): string {
  let st: fs.Stats;
  try {
    st = fs.statSync(file);
  } catch {
    throw new UsageError(`no such file: ${file}`);
  }
  if (st.isDirectory()) throw new UsageError(`${file} is a folder, not a spec file`);
  if (st.size > 16 * 1024 * 1024) throw new UsageError(`${file} is ${(st.size / 1048576).toFixed(1)} MB; specs are limited to 16 MB`);
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

const RUNTIME_URL = new URL("./runtime/index.ts", import.meta.url).href;

/** The trainer as written for the user (imports "ganc/runtime") and the copy this process runs. */
function compileFor(file: string, text: string) {
  const source = displayPath(file);
  const forUser = compileText(text, file, { source });
  if (!forUser.code) return null;
  const tfjs = import.meta.resolve("@tensorflow/tfjs");
  const exec = forUser.code
    .replace(`from "ganc/runtime";`, `from ${JSON.stringify(RUNTIME_URL)};`)
    .replace(`from "@tensorflow/tfjs";`, `from ${JSON.stringify(tfjs)};`)
    .replace(/\nrt\.runIfMain\(import\.meta\.url, main\);\n$/, "\n");
  return { code: forUser.code, exec, diagnostics: forUser.diagnostics };
}

async function runTrainer(execCode: string, runDir: string, argv: string[]): Promise<number> {
  const dir = path.join(runDir, ".ganc");
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, "trainer.exec.mts");
  writeFileAtomic(file, execCode);
  const mod = (await import(pathToFileURL(path.resolve(file)).href)) as { main: (argv: string[]) => Promise<number> };
  return mod.main(argv);
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
    .action((file: string, o: { json?: boolean; resolved?: boolean }) => {
      const text = readSpec(file);
      const r = checkText(text, file);
      const bad = report(r.diagnostics, file, text, !!o.json);
      if (!bad && o.resolved && r.program) {
        const c = compileText(text, file);
        const m = c.code && /resolved: (".*"),\n/.exec(c.code);
        if (m) process.stdout.write(JSON.parse(m[1]!) + "\n");
      }
      process.exitCode = bad ? 1 : 0;
    });

  cli
    .command("compile")
    .description("compile a spec into a standalone TypeScript trainer")
    .argument("<spec>", "a .gan or .gan.yaml file")
    .option("-o, --out <file>", "write the trainer here (default: print it)")
    .option("--json", "print diagnostics as JSON on stdout")
    .action((file: string, o: { out?: string; json?: boolean }) => {
      const text = readSpec(file);
      const r = compileText(text, file, { source: displayPath(file) });
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
    });

  cli
    .command("train")
    .description("compile a spec and train it (all trainer flags apply)")
    .argument("<spec>", "a .gan or .gan.yaml file")
    .allowUnknownOption(false)
    .option("-o, --out <dir>", "run folder (default runs/<spec name>)")
    .option("--epochs <n>", "passes over the data")
    .option("--steps <n>", "iterations (overrides epochs)")
    .option("--batch <n>", "batch size")
    .option("--backend <name>", "auto | tensorflow-gpu | tensorflow | wasm | cpu | webgpu")
    .option("--seed <n>", "seed for weights, noise and data order")
    .option("--data <dir>", "folder of MNIST / Fashion-MNIST IDX files")
    .option("--resume", "continue from the newest good checkpoint")
    .option("-q, --quiet", "no progress output")
    .option("--log-every <n>", "iterations between loss read-backs")
    .option("--sample-every <n>", "iterations between sample grids")
    .option("--histogram-every <n>", "iterations between TensorBoard histograms (0: none)")
    .option("--checkpoint-every <n>", "iterations between checkpoints (default: the spec's)")
    .option("--stats <file>", "profile one iteration with tf.profile; write its kernel counts to this JSON file")
    .action(async (file: string, o: Record<string, string | boolean | undefined>) => {
      const text = readSpec(file);
      const c = compileFor(file, text);
      if (!c) {
        report(checkText(text, file).diagnostics, file, text, false);
        process.exitCode = 1;
        return;
      }
      if (c.diagnostics.length) report(c.diagnostics, file, text, false);
      const name = /name: "(.*)",/.exec(c.code)![1]!;
      const out = (o.out as string | undefined) ?? path.join("runs", name);
      fs.mkdirSync(out, { recursive: true });
      writeFileAtomic(path.join(out, "trainer.ts"), c.code);
      keepSpec(out, file, text);
      const argv: string[] = ["--out", out];
      for (const [k, v] of Object.entries(o)) {
        if (k === "out" || v === undefined || v === false) continue;
        const flag = "--" + k.replace(/[A-Z]/g, (m) => "-" + m.toLowerCase());
        if (v === true) argv.push(flag);
        else argv.push(flag, String(v));
      }
      process.exitCode = await runTrainer(c.exec, out, argv);
    });

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
    .option("--backend <name>", "tfjs backend", "auto")
    .action(async (runDir: string, o: { n: number; out?: string; backend: string }) => {
      const trainer = path.join(runDir, "trainer.ts");
      if (!fs.existsSync(trainer)) throw new UsageError(`${runDir} is not a run folder (no trainer.ts in it)`);
      const code = fs.readFileSync(trainer, "utf8");
      const tfjs = import.meta.resolve("@tensorflow/tfjs");
      const exec = code
        .replace(`from "ganc/runtime";`, `from ${JSON.stringify(RUNTIME_URL)};`)
        .replace(`from "@tensorflow/tfjs";`, `from ${JSON.stringify(tfjs)};`)
        .replace(/\nrt\.runIfMain\(import\.meta\.url, main\);\n$/, "\n");
      const out = o.out ?? path.join(runDir, "samples", "sample.png");
      process.exitCode = await runTrainer(exec, runDir, ["--out", runDir, "--sample-to", out, "--sample-count", String(o.n), "--backend", o.backend, "--quiet"]);
      if (process.exitCode === 0) process.stderr.write(`wrote ${out}\n`);
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

  registerToolCommands(cli, (message) => new UsageError(message));

  return cli;
}

export async function main(argv: string[]): Promise<number> {
  const cli = program();
  try {
    await cli.parseAsync(argv, { from: "user" });
    return typeof process.exitCode === "number" ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2;
    if (err instanceof UsageError) {
      process.stderr.write(`error: ${err.message}\n`);
      return 2;
    }
    return reportError(err);
  }
}
