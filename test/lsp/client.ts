/**
 * A language client for tests: starts `ganc lsp --stdio` as a child process and speaks JSON-RPC to it over
 * its stdin and stdout, as an editor does. Diagnostics the server publishes are kept per document.
 */
import { spawn, type ChildProcess } from "node:child_process";
import * as path from "node:path";
import { pathToFileURL } from "node:url";
import { createMessageConnection, StreamMessageReader, StreamMessageWriter, type MessageConnection } from "vscode-jsonrpc/node.js";
import { TextDocument } from "vscode-languageserver-textdocument";
import { ROOT } from "../helpers.ts";

export interface LspDiagnostic {
  range: { start: { line: number; character: number }; end: { line: number; character: number } };
  severity: number;
  code: string;
  source: string;
  message: string;
  relatedInformation?: { location: { uri: string; range: LspDiagnostic["range"] }; message: string }[];
}

export interface Published {
  uri: string;
  version?: number;
  diagnostics: LspDiagnostic[];
}

/** How long a test waits for an answer before it calls the server hung (a guard, not a timing). */
const PATIENCE_MS = 60_000;

export class TestClient {
  readonly child: ChildProcess;
  readonly conn: MessageConnection;
  readonly stderr: string[] = [];
  /** Errors the server logged (a handler that threw and answered its fallback). */
  readonly errors: string[] = [];
  private readonly published = new Map<string, Published[]>();
  private readonly waiters: (() => void)[] = [];
  private readonly docs = new Map<string, TextDocument>();
  exitCode: number | null = null;
  readonly exited: Promise<number | null>;

  constructor(env: NodeJS.ProcessEnv = {}) {
    this.child = spawn(process.execPath, [path.join(ROOT, "bin/ganc.mjs"), "lsp", "--stdio"], { cwd: ROOT, env: { ...process.env, GANC_LSP_DEBOUNCE_MS: "20", ...env }, stdio: ["pipe", "pipe", "pipe"] });
    this.child.stderr!.on("data", (b: Buffer) => this.stderr.push(b.toString()));
    this.exited = new Promise((resolve) => this.child.on("exit", (code) => resolve((this.exitCode = code))));
    this.conn = createMessageConnection(new StreamMessageReader(this.child.stdout!), new StreamMessageWriter(this.child.stdin!));
    this.conn.onNotification("textDocument/publishDiagnostics", (p: Published) => {
      const list = this.published.get(p.uri) ?? [];
      list.push(p);
      this.published.set(p.uri, list);
      for (const w of this.waiters.splice(0)) w();
    });
    this.conn.onNotification("window/logMessage", (p: { type: number; message: string }) => {
      if (p.type === 1) this.errors.push(p.message);
    });
    this.conn.listen();
  }

  async request<R>(method: string, params: unknown): Promise<R> {
    let timer: NodeJS.Timeout | undefined;
    const hung = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer to ${method} in ${PATIENCE_MS} ms: the server hangs (stderr: ${this.stderr.join("")})`)), PATIENCE_MS);
    });
    try {
      return await Promise.race([this.conn.sendRequest(method, params) as Promise<R>, hung]);
    } finally {
      clearTimeout(timer);
    }
  }

  async initialize(): Promise<{ capabilities: Record<string, unknown> }> {
    const r = await this.request<{ capabilities: Record<string, unknown> }>("initialize", { processId: process.pid, rootUri: pathToFileURL(ROOT).href, capabilities: {} });
    await this.conn.sendNotification("initialized", {});
    return r;
  }

  doc(uri: string): TextDocument {
    return this.docs.get(uri)!;
  }

  async open(uri: string, text: string, languageId = uri.endsWith(".yaml") ? "gan-yaml" : "gan"): Promise<void> {
    this.docs.set(uri, TextDocument.create(uri, languageId, 1, text));
    await this.conn.sendNotification("textDocument/didOpen", { textDocument: { uri, languageId, version: 1, text } });
  }

  /** Replaces the text between two offsets, as an editor's incremental change. */
  async edit(uri: string, start: number, end: number, newText: string): Promise<number> {
    const d = this.docs.get(uri)!;
    const range = { start: d.positionAt(start), end: d.positionAt(end) };
    const next = TextDocument.update(d, [{ range, text: newText }], d.version + 1);
    this.docs.set(uri, next);
    await this.conn.sendNotification("textDocument/didChange", { textDocument: { uri, version: next.version }, contentChanges: [{ range, text: newText }] });
    return next.version;
  }

  /** Replaces the first occurrence of `from` in the document with `to`. */
  async replace(uri: string, from: string, to: string): Promise<number> {
    const at = this.docs.get(uri)!.getText().indexOf(from);
    if (at < 0) throw new Error(`'${from}' is not in ${uri}`);
    return this.edit(uri, at, at + from.length, to);
  }

  async close(uri: string): Promise<void> {
    this.docs.delete(uri);
    await this.conn.sendNotification("textDocument/didClose", { textDocument: { uri } });
  }

  /** The diagnostics published for `uri` at `version` (or the first published, without a version). */
  async diagnostics(uri: string, version?: number): Promise<LspDiagnostic[]> {
    const end = Date.now() + PATIENCE_MS;
    for (;;) {
      const hit = (this.published.get(uri) ?? []).find((p) => version === undefined || p.version === version);
      if (hit) return hit.diagnostics;
      if (Date.now() > end || this.exitCode !== null) throw new Error(`no diagnostics for ${uri}${version === undefined ? "" : ` version ${version}`} (stderr: ${this.stderr.join("")})`);
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, 200);
      });
    }
  }

  /** The position of the `k`-th character of the first `needle` in the document. */
  pos(uri: string, needle: string, k = 0): { line: number; character: number } {
    const d = this.docs.get(uri)!;
    const at = d.getText().indexOf(needle);
    if (at < 0) throw new Error(`'${needle}' is not in ${uri}`);
    return d.positionAt(at + k);
  }

  async shutdown(): Promise<number | null> {
    await this.request("shutdown", null);
    await this.conn.sendNotification("exit");
    const code = await this.exited;
    this.conn.dispose();
    return code;
  }

  kill(): void {
    this.conn.dispose();
    if (this.exitCode === null) this.child.kill();
  }
}

export const uriOf = (file: string) => pathToFileURL(path.resolve(ROOT, file)).href;
