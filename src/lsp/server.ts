/**
 * `ganc lsp`: a Language Server Protocol server over stdio for `.gan` and `.gan.yaml` specs. Each open
 * document is checked in this process by the same call as `ganc check` (analysis.ts): on open at once, on
 * edits after a short pause (GANC_LSP_DEBOUNCE_MS, default 200 ms). A request always answers from the
 * document's current text, checking it first if the last check is older.
 */
import { fileURLToPath, pathToFileURL } from "node:url";
import {
  CodeActionKind,
  CompletionItemKind,
  DiagnosticSeverity,
  DocumentSymbol,
  ResponseError,
  ErrorCodes,
  StreamMessageReader,
  StreamMessageWriter,
  SymbolKind,
  TextDocumentSyncKind,
  TextDocuments,
  createConnection,
  type CodeAction,
  type CompletionItem,
  type Connection,
  type Diagnostic as LspDiagnostic,
  type InitializeResult,
  type Location,
  type Range,
  type TextEdit,
} from "vscode-languageserver/node.js";
import { TextDocument } from "vscode-languageserver-textdocument";
import type { Span } from "../parser/ast.ts";
import type { Diagnostic } from "../parser/diagnostics.ts";
import { isYamlFile } from "../parser/index.ts";
import "../parser/yaml/load.ts";
import { formatGan } from "../format/index.ts";
import { IncrementalParser } from "./incremental.ts";
import { analyze, occurrences, symbolAt, type Analysis } from "./analysis.ts";
import { encodeTokens, semanticTokens, TOKEN_MODIFIERS, TOKEN_TYPES } from "./semantic.ts";
import { complete, didYouMean, hover, outline, prepareRename, rename, type CompletionKind, type OutlineKind } from "./features.ts";

/** The file name a document is checked under: its path for file: URIs (data paths resolve from there). */
export function fileOfUri(uri: string, languageId = ""): string {
  let file: string;
  try {
    file = uri.startsWith("file:") ? fileURLToPath(uri) : decodeURIComponent(uri.replace(/^[a-z][\w+.-]*:/i, "")) || "untitled";
  } catch {
    file = uri;
  }
  // An unsaved YAML spec (untitled:Untitled-1) is told apart by its language.
  if (/yaml/i.test(languageId) && !isYamlFile(file)) file += ".gan.yaml";
  if (!/yaml/i.test(languageId) && languageId && !/\.gan$/i.test(file) && !isYamlFile(file)) file += ".gan";
  return file;
}

export function toLspDiagnostic(d: Diagnostic, doc: TextDocument, uri: string): LspDiagnostic {
  return {
    range: rangeOf(doc, d.span),
    severity: d.severity === "error" ? DiagnosticSeverity.Error : DiagnosticSeverity.Warning,
    code: d.code,
    source: "ganc",
    message: d.message,
    ...(d.notes.length ? { relatedInformation: d.notes.map((n) => ({ location: { uri: n.file === d.file ? uri : pathToFileURL(n.file).href, range: rangeOf(doc, n.span) }, message: n.message })) } : {}),
  };
}

function rangeOf(doc: TextDocument, s: Span): Range {
  return { start: doc.positionAt(s.start), end: doc.positionAt(Math.max(s.start, s.end)) };
}

const COMPLETION_KINDS: Record<CompletionKind, CompletionItemKind> = {
  keyword: CompletionItemKind.Keyword,
  layer: CompletionItemKind.Class,
  block: CompletionItemKind.Module,
  function: CompletionItemKind.Function,
  argument: CompletionItemKind.Property,
  net: CompletionItemKind.Class,
  value: CompletionItemKind.Variable,
  loss: CompletionItemKind.Variable,
  step: CompletionItemKind.Event,
  noise: CompletionItemKind.Variable,
  data: CompletionItemKind.Variable,
  state: CompletionItemKind.Variable,
  optimizer: CompletionItemKind.Constructor,
  setting: CompletionItemKind.Property,
  source: CompletionItemKind.Constructor,
  dist: CompletionItemKind.Constructor,
  tap: CompletionItemKind.Field,
  constant: CompletionItemKind.Constant,
};

const OUTLINE_KINDS: Record<OutlineKind, SymbolKind> = {
  net: SymbolKind.Class,
  block: SymbolKind.Module,
  layer: SymbolKind.Field,
  data: SymbolKind.Variable,
  noise: SymbolKind.Variable,
  value: SymbolKind.Variable,
  loss: SymbolKind.Function,
  state: SymbolKind.Variable,
  step: SymbolKind.Event,
  train: SymbolKind.Object,
};

export interface ServerOptions {
  readonly debounceMs?: number;
}

/** Starts the server on a connection (stdio by default) and resolves when the connection closes. */
export function startServer(input: NodeJS.ReadableStream = process.stdin, output: NodeJS.WritableStream = process.stdout, opts: ServerOptions = {}): Promise<void> {
  const reader = new StreamMessageReader(input);
  const connection: Connection = createConnection(reader, new StreamMessageWriter(output));
  const envDelay = Number(process.env.GANC_LSP_DEBOUNCE_MS);
  const debounceMs = opts.debounceMs ?? (Number.isFinite(envDelay) && envDelay >= 0 ? envDelay : 200);
  const documents = new TextDocuments(TextDocument);
  const cache = new Map<string, { version: number; analysis: Analysis }>();
  const parsers = new Map<string, IncrementalParser>();
  const timers = new Map<string, NodeJS.Timeout>();

  const analysisOf = (doc: TextDocument): Analysis => {
    const hit = cache.get(doc.uri);
    if (hit && hit.version === doc.version) return hit.analysis;
    let parser = parsers.get(doc.uri);
    if (!parser) parsers.set(doc.uri, (parser = new IncrementalParser()));
    const analysis = analyze(doc.getText(), fileOfUri(doc.uri, doc.languageId), parser);
    cache.set(doc.uri, { version: doc.version, analysis });
    return analysis;
  };

  const publish = (uri: string) => {
    timers.delete(uri);
    const doc = documents.get(uri);
    if (!doc) return;
    try {
      const a = analysisOf(doc);
      void connection.sendDiagnostics({ uri, version: doc.version, diagnostics: a.diagnostics.map((d) => toLspDiagnostic(d, doc, uri)) });
    } catch (err) {
      connection.console.error(`ganc: checking ${uri} failed: ${(err as Error).message}`);
    }
  };

  /** A handler that answers `fallback` instead of failing: an editor keeps working whatever the text. */
  const safe = <P, R>(name: string, fallback: R, fn: (p: P) => R) => (p: P): R => {
    try {
      return fn(p);
    } catch (err) {
      if (err instanceof ResponseError) throw err;
      connection.console.error(`ganc: ${name} failed: ${(err as Error).stack ?? err}`);
      return fallback;
    }
  };

  const withDoc = <R>(uri: string, fallback: R, fn: (doc: TextDocument, a: Analysis) => R): R => {
    const doc = documents.get(uri);
    return doc ? fn(doc, analysisOf(doc)) : fallback;
  };

  connection.onInitialize((): InitializeResult => ({
    capabilities: {
      textDocumentSync: TextDocumentSyncKind.Incremental,
      hoverProvider: true,
      completionProvider: { triggerCharacters: [".", " ", ",", "(", "{", "[", ":", "-"] },
      definitionProvider: true,
      referencesProvider: true,
      renameProvider: { prepareProvider: true },
      documentSymbolProvider: true,
      documentHighlightProvider: true,
      documentFormattingProvider: true,
      semanticTokensProvider: { legend: { tokenTypes: [...TOKEN_TYPES], tokenModifiers: [...TOKEN_MODIFIERS] }, full: true, range: true },
      codeActionProvider: { codeActionKinds: [CodeActionKind.QuickFix] },
    },
    serverInfo: { name: "ganc", version: "0.1.0" },
  }));

  documents.onDidOpen((e) => publish(e.document.uri));
  documents.onDidChangeContent((e) => {
    const uri = e.document.uri;
    if (cache.get(uri)?.version === e.document.version) return; // just published on open
    clearTimeout(timers.get(uri));
    timers.set(uri, setTimeout(() => publish(uri), debounceMs));
  });
  documents.onDidClose((e) => {
    clearTimeout(timers.get(e.document.uri));
    timers.delete(e.document.uri);
    cache.delete(e.document.uri);
    parsers.delete(e.document.uri);
    void connection.sendDiagnostics({ uri: e.document.uri, diagnostics: [] });
  });

  connection.onHover(
    safe("hover", null, (p) =>
      withDoc(p.textDocument.uri, null, (doc, a) => {
        const h = hover(a, doc.offsetAt(p.position));
        return h ? { contents: { kind: "markdown" as const, value: h.markdown }, range: rangeOf(doc, h.span) } : null;
      }),
    ),
  );

  connection.onCompletion(
    safe("completion", [] as CompletionItem[], (p) =>
      {
        const doc = documents.get(p.textDocument.uri);
        if (!doc) return [];
        // The last check, even of an earlier version: names change rarely between keystrokes, and a check
        // of a long spec is not free. The context is read from the current text.
        const a = cache.get(doc.uri)?.analysis ?? analysisOf(doc);
        const r = complete(a, doc.offsetAt(p.position), isYamlFile(a.file), doc.getText());
        const range = rangeOf(doc, r.word);
        const seen = new Set<string>();
        return r.entries
          .filter((e) => !seen.has(e.label) && !!seen.add(e.label))
          .map((e) => ({
            label: e.label,
            kind: COMPLETION_KINDS[e.kind],
            ...(e.detail ? { detail: e.detail } : {}),
            ...(e.doc ? { documentation: e.doc } : {}),
            textEdit: { range, newText: e.insert ?? e.label },
          }));
      },
    ),
  );

  const locations = (doc: TextDocument, spans: Span[]): Location[] => spans.map((s) => ({ uri: doc.uri, range: rangeOf(doc, s) }));

  connection.onDefinition(
    safe("definition", null, (p) =>
      withDoc(p.textDocument.uri, null, (doc, a) => {
        const s = symbolAt(a, doc.offsetAt(p.position));
        return s?.def ? locations(doc, [s.def.span]) : null;
      }),
    ),
  );

  connection.onReferences(
    safe("references", [] as Location[], (p) =>
      withDoc(p.textDocument.uri, [] as Location[], (doc, a) => {
        const s = symbolAt(a, doc.offsetAt(p.position));
        if (!s) return [];
        const all = occurrences(a, s.name, s.kind);
        const defs = new Set(a.defs.map((d) => `${d.span.start}:${d.span.end}`));
        return locations(doc, p.context.includeDeclaration ? all : all.filter((x) => !defs.has(`${x.start}:${x.end}`)));
      }),
    ),
  );

  const tokensOf = (uri: string, range?: Range): { data: number[] } =>
    withDoc(uri, { data: [] }, (doc, a) => {
      let tokens = semanticTokens(a, isYamlFile(a.file));
      if (range) {
        const from = doc.offsetAt(range.start);
        const to = doc.offsetAt(range.end);
        tokens = tokens.filter((t) => t.end > from && t.start < to);
      }
      return { data: encodeTokens(tokens, (o) => doc.positionAt(o)) };
    });
  connection.languages.semanticTokens.on(safe("semantic tokens", { data: [] as number[] }, (p) => tokensOf(p.textDocument.uri)));
  connection.languages.semanticTokens.onRange(safe("semantic tokens", { data: [] as number[] }, (p) => tokensOf(p.textDocument.uri, p.range)));

  connection.onDocumentHighlight(
    safe("highlight", [], (p) =>
      withDoc(p.textDocument.uri, [], (doc, a) => {
        const s = symbolAt(a, doc.offsetAt(p.position));
        return s ? occurrences(a, s.name, s.kind).map((x) => ({ range: rangeOf(doc, x) })) : [];
      }),
    ),
  );

  // Formatting is `ganc fmt`'s layout, as one edit of the whole document. YAML specs and specs that do not
  // parse are left as they are (the diagnostics already say why).
  connection.onDocumentFormatting(
    safe("formatting", [] as TextEdit[], (p) =>
      withDoc(p.textDocument.uri, [] as TextEdit[], (doc, a) => {
        if (isYamlFile(a.file)) return [];
        const r = formatGan(doc.getText(), a.file);
        if (!r.ok || r.text === doc.getText()) return [];
        return [{ range: { start: { line: 0, character: 0 }, end: doc.positionAt(doc.getText().length) }, newText: r.text }];
      }),
    ),
  );

  connection.onPrepareRename(
    safe("prepareRename", null, (p) =>
      withDoc(p.textDocument.uri, null, (doc, a) => {
        const s = prepareRename(a, doc.offsetAt(p.position));
        return s ? { range: rangeOf(doc, s), placeholder: a.text.slice(s.start, s.end) } : null;
      }),
    ),
  );

  connection.onRenameRequest(
    safe("rename", null, (p) =>
      withDoc(p.textDocument.uri, null, (doc, a) => {
        const r = rename(a, doc.offsetAt(p.position), p.newName);
        if (!r.ok) throw new ResponseError(ErrorCodes.InvalidRequest, r.message);
        const edits: TextEdit[] = r.spans.map((s) => ({ range: rangeOf(doc, s), newText: p.newName }));
        return { changes: { [doc.uri]: edits } };
      }),
    ),
  );

  connection.onDocumentSymbol(
    safe("documentSymbol", [] as DocumentSymbol[], (p) =>
      withDoc(p.textDocument.uri, [] as DocumentSymbol[], (doc, a) => {
        const convert = (o: ReturnType<typeof outline>[number]): DocumentSymbol =>
          DocumentSymbol.create(o.name, o.detail || undefined, OUTLINE_KINDS[o.kind], rangeOf(doc, o.span), rangeOf(doc, o.nameSpan), o.children.map(convert));
        return outline(a).map(convert);
      }),
    ),
  );

  connection.onCodeAction(
    safe("codeAction", [] as CodeAction[], (p) =>
      withDoc(p.textDocument.uri, [] as CodeAction[], (doc) => {
        const out: CodeAction[] = [];
        for (const d of p.context.diagnostics) {
          if (d.source !== "ganc") continue;
          const fix = didYouMean(d.message, doc.getText(d.range));
          if (!fix) continue;
          out.push({ title: `Change to '${fix}'`, kind: CodeActionKind.QuickFix, diagnostics: [d], isPreferred: true, edit: { changes: { [doc.uri]: [{ range: d.range, newText: fix }] } } });
        }
        return out;
      }),
    ),
  );

  // The `exit` notification, or the editor gone (stdin closed): either ends the command.
  const closed = new Promise<void>((resolve) => {
    connection.onExit(() => resolve());
    reader.onClose(() => resolve());
    input.once("end", () => resolve());
  });
  documents.listen(connection);
  connection.listen();
  return closed;
}
