/**
 * How long the language server takes to re-check a 10,000-line spec after an edit: the time from sending
 * `textDocument/didChange` to receiving its `publishDiagnostics`, with the debounce set to 0, over 20 edits
 * (each one breaks or fixes a tap name somewhere in the file). The target is 300 ms; exit 1 when the
 * median is over it. Also prints the server's CPU time per edit (from /proc, on Linux: on a shared machine
 * the wall time mostly measures the wait for a CPU) and the in-process check of the same text, for scale.
 *
 *   node bin/run-ts.mjs bench/lsp.ts [--lines N] [--edits N]
 */
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { createMessageConnection, StreamMessageReader, StreamMessageWriter } from "vscode-jsonrpc/node.js";
import { TextDocument } from "vscode-languageserver-textdocument";
import { analyze } from "../src/lsp/analysis.ts";
import { IncrementalParser } from "../src/lsp/incremental.ts";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const argv = process.argv.slice(2);
const lines = Number(argv[argv.indexOf("--lines") + 1] || 10000) || 10000;
const edits = Number(argv[argv.indexOf("--edits") + 1] || 20) || 20;
const TARGET_MS = 300;

/** A spec of about `n` lines: the seed GAN's G and many discriminators, each with its loss and step. */
function bigSpec(n: number): string {
  const out = [
    'gan "big"',
    "data  real: mnist(batch=64)",
    "noise z: uniform(-1, 1, [62])",
    "net G(z) {",
    "  dense 1024, batchnorm, relu",
    "  dense 7*7*128, batchnorm, relu",
    "  reshape [7, 7, 128]",
    "  deconv 64 kernel=4 stride=2, batchnorm, relu",
    "  deconv 1 kernel=4 stride=2, sigmoid",
    "}",
    "fake = G(z)",
    "loss g = bce_logits(D0(fake).logit, ones)",
    "step g: adam(lr=1e-3, beta1=0.5) minimize g over G",
  ];
  const steps: string[] = [];
  for (let i = 0; out.length + 14 < n; i++) {
    out.push(
      `# discriminator ${i}`,
      `net D${i}(x) {`,
      "  conv 64 kernel=4 stride=2",
      "  lrelu 0.2",
      "  conv 128 kernel=4 stride=2",
      "  batchnorm",
      "  lrelu 0.2",
      "  flatten",
      "  dense 1024, batchnorm, lrelu 0.2   -> features",
      "  dense 1                            -> logit",
      "}",
      `loss d${i} = bce_logits(D${i}(real).logit, ones) + bce_logits(D${i}(fake).logit, zeros)`,
      `step d${i}: adam(lr=2e-4, beta1=0.5) minimize d${i} over D${i}`,
      "",
    );
    steps.push(`d${i}`);
  }
  out.push(`train { steps=10, schedule=[${steps.join(", ")}, g] }`);
  return out.join("\n") + "\n";
}

const text = bigSpec(lines);
const file = path.join(root, "bench/big.gan");
const uri = pathToFileURL(file).href;
process.stdout.write(`spec: ${text.split("\n").length - 1} lines, ${(text.length / 1024).toFixed(0)} KB\n`);

// In process: the check an edit triggers (parse, check, index), CPU time (the machine may be shared), warm.
const cpuMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};
const cpu: number[] = [];
for (let i = 0; i < 4; i++) {
  const t0 = cpuMs();
  const a = analyze(text, file);
  cpu.push(cpuMs() - t0);
  const errors = a.diagnostics.filter((d) => d.severity === "error");
  if (errors.length) throw new Error(`the generated spec has errors: ${errors[0]!.message}`);
}
process.stdout.write(`in process, whole text parsed: ${cpu.map((x) => x.toFixed(0)).join(", ")} ms of CPU per check (first cold); load average ${os.loadavg()[0]!.toFixed(1)} on ${os.cpus().length} CPUs\n`);
// As the server does it: only the declaration an edit touched is parsed again.
const parser = new IncrementalParser();
analyze(text, file, parser);
const inc: number[] = [];
for (let i = 0; i < 6; i++) {
  const edited = text.replace(`net D${i * 50}(x) {\n  conv 64`, `net D${i * 50}(x) {\n  conv ${65 + i}`);
  const t0 = cpuMs();
  analyze(edited, file, parser);
  inc.push(cpuMs() - t0);
}
process.stdout.write(`in process, re-check after an edit (one declaration parsed again, the nets whose text did not change kept: ${parser.nets.hits} nets kept, ${parser.nets.misses} inferred): ${inc.map((x) => x.toFixed(0)).join(", ")} ms of CPU\n`);

const child = spawn(process.execPath, [path.join(root, "bin/ganc.mjs"), "lsp", "--stdio"], { cwd: root, env: { ...process.env, GANC_LSP_DEBOUNCE_MS: "0" }, stdio: ["pipe", "pipe", "inherit"] });
const conn = createMessageConnection(new StreamMessageReader(child.stdout), new StreamMessageWriter(child.stdin));
const waiting = new Map<number, (t: number) => void>();
conn.onNotification("textDocument/publishDiagnostics", (p: { version?: number }) => {
  if (p.version !== undefined) waiting.get(p.version)?.(performance.now());
});
conn.listen();
await conn.sendRequest("initialize", { processId: process.pid, rootUri: pathToFileURL(root).href, capabilities: {} });
await conn.sendNotification("initialized", {});
const published = (version: number) => new Promise<number>((resolve) => waiting.set(version, resolve));

let doc = TextDocument.create(uri, "gan", 1, text);
const opened = published(1);
await conn.sendNotification("textDocument/didOpen", { textDocument: { uri, languageId: "gan", version: 1, text } });
await opened;

/** The server's CPU time so far (user + system, ms) from /proc (Linux), or NaN where there is none. */
const serverCpuMs = (): number => {
  try {
    const f = fs.readFileSync(`/proc/${child.pid}/stat`, "utf8").split(") ")[1]!.split(" ");
    return ((Number(f[11]) + Number(f[12])) * 1000) / 100; // utime, stime in clock ticks (USER_HZ = 100)
  } catch {
    return NaN;
  }
};

const times: number[] = [];
const cpuTimes: number[] = [];
for (let i = 0; i < edits; i++) {
  // Alternately break and fix a tap somewhere in the file.
  const body = doc.getText();
  const needle = i % 2 === 0 ? ".logit, zeros" : ".logits, zeros";
  let at = -1;
  for (let k = 0, from = 0; k <= (i * 37) % 50; k++) {
    const next = body.indexOf(needle, from);
    if (next < 0) break;
    at = next;
    from = next + 1;
  }
  const range = { start: doc.positionAt(at), end: doc.positionAt(at + needle.length) };
  const newText = i % 2 === 0 ? ".logits, zeros" : ".logit, zeros";
  doc = TextDocument.update(doc, [{ range, text: newText }], doc.version + 1);
  const done = published(doc.version);
  const start = performance.now();
  const cpu0 = serverCpuMs();
  await conn.sendNotification("textDocument/didChange", { textDocument: { uri, version: doc.version }, contentChanges: [{ range, text: newText }] });
  times.push((await done) - start);
  cpuTimes.push(serverCpuMs() - cpu0);
}
await conn.sendRequest("shutdown", null);
await conn.sendNotification("exit");
conn.dispose();

times.sort((x, y) => x - y);
const median = times[Math.floor(times.length / 2)]!;
process.stdout.write(`re-check after an edit, over stdio (${edits} edits): median ${median.toFixed(0)} ms, min ${times[0]!.toFixed(0)} ms, max ${times.at(-1)!.toFixed(0)} ms (target ${TARGET_MS} ms)\n`);
cpuTimes.sort((x, y) => x - y);
if (!Number.isNaN(cpuTimes[0])) process.stdout.write(`the server's CPU time per edit (all its threads, GC included): median ${cpuTimes[Math.floor(cpuTimes.length / 2)]!.toFixed(0)} ms, max ${cpuTimes.at(-1)!.toFixed(0)} ms; load average ${os.loadavg()[0]!.toFixed(1)} on ${os.cpus().length} CPUs\n`);
process.exitCode = median <= TARGET_MS ? 0 : 1;
