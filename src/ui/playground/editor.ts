import { defaultKeymap, history, historyKeymap, indentWithTab } from "@codemirror/commands";
import { HighlightStyle, StreamLanguage, syntaxHighlighting, type StringStream } from "@codemirror/language";
import { lintGutter, setDiagnostics, type Diagnostic as CmDiagnostic } from "@codemirror/lint";
import { EditorState } from "@codemirror/state";
import { EditorView, highlightActiveLine, highlightActiveLineGutter, keymap, lineNumbers } from "@codemirror/view";
import { tags as t, type Tag } from "@lezer/highlight";
import grammar from "../../../grammar/gan.tmLanguage.json";
import { checkText } from "../../check.ts";
import { SourceText, type Diagnostic } from "../../parser/diagnostics.ts";

/**
 * The spec editor: CodeMirror 6 with `.gan` highlighting taken from grammar/gan.tmLanguage.json (which
 * scripts/gen-textmate.ts writes from the lexer's keywords and the layer, function and data tables, so the
 * page highlights what the compiler knows), and the checker's diagnostics as you type: src/check.ts, the
 * code `ganc check` runs, on the editor's text after a pause in typing.
 */

interface Rule {
  name?: string;
  match: string;
  captures?: Record<string, { name: string }>;
}
const repository = grammar.repository as unknown as Record<string, Rule>;

/** TextMate scope -> highlight tag. */
const TAGS: [RegExp, Tag][] = [
  [/^comment/, t.lineComment],
  [/^string/, t.string],
  [/^keyword\.control/, t.keyword],
  [/^keyword\.operator/, t.operator],
  [/^entity\.name/, t.definition(t.variableName)],
  [/^support\.type/, t.typeName],
  [/^support\.function/, t.function(t.variableName)],
  [/^constant\.numeric/, t.number],
  [/^variable/, t.propertyName],
];
const TOKEN_NAMES = new Map<Tag, string>(TAGS.map(([, tag], i) => [tag, `gan${i}`]));
const styleOf = (scope: string | undefined): string | null => {
  const hit = scope ? TAGS.find(([re]) => re.test(scope)) : undefined;
  return hit ? TOKEN_NAMES.get(hit[1])! : null;
};

/** The grammar's top-level patterns in order, each a regex anchored at the stream's position. */
const RULES = (grammar.patterns as { include: string }[]).map(({ include }) => {
  const rule = repository[include.slice(1)]!;
  return { re: new RegExp(`^(?:${rule.match})`), rule };
});

interface LexState {
  /** Styles of the capture groups still to come in a match that has captures (a declaration's name, a tap's name). */
  queue: { length: number; style: string | null }[];
}

export const ganLanguage = StreamLanguage.define<LexState>({
  name: "gan",
  startState: () => ({ queue: [] }),
  copyState: (s) => ({ queue: [...s.queue] }),
  token(stream: StringStream, state: LexState): string | null {
    if (state.queue.length > 0) {
      if (stream.eatSpace()) return null;
      const next = state.queue.shift()!;
      for (let i = 0; i < next.length; i++) stream.next();
      return next.style;
    }
    if (stream.eatSpace()) return null;
    for (const { re, rule } of RULES) {
      const m = stream.match(re, false) as RegExpMatchArray | null;
      if (!m || m[0].length === 0) continue;
      if (rule.captures) {
        // Groups are consecutive words separated by spaces: the first now, the rest queued.
        const groups = Object.keys(rule.captures).sort().map((k) => ({ length: m[Number(k)]?.length ?? 0, style: styleOf(rule.captures![k]!.name) }));
        const first = groups.shift()!;
        for (let i = 0; i < first.length; i++) stream.next();
        state.queue = groups.filter((g) => g.length > 0);
        return first.style;
      }
      stream.match(re);
      return styleOf(rule.name);
    }
    if (!stream.match(/^[A-Za-z_][A-Za-z0-9_]*/)) stream.next();
    return null;
  },
  tokenTable: Object.fromEntries([...TOKEN_NAMES].map(([tag, name]) => [name, tag])),
  languageData: { commentTokens: { line: "#" } },
});

const highlight = HighlightStyle.define([
  { tag: t.lineComment, color: "#6a737d", fontStyle: "italic" },
  { tag: t.string, color: "#032f62" },
  { tag: t.keyword, color: "#d73a49", fontWeight: "bold" },
  { tag: t.operator, color: "#d73a49" },
  { tag: t.definition(t.variableName), color: "#6f42c1", fontWeight: "bold" },
  { tag: t.typeName, color: "#005cc5" },
  { tag: t.function(t.variableName), color: "#e36209" },
  { tag: t.number, color: "#098658" },
  { tag: t.propertyName, color: "#22863a" },
]);

/** A diagnostic as the page lists it: what `ganc check` prints, with 1-based line and column. */
export interface ShownDiagnostic {
  code: string;
  severity: "error" | "warning";
  message: string;
  line: number;
  column: number;
  from: number;
  to: number;
}

export interface SpecEditor {
  view: EditorView;
  text(): string;
  setText(text: string): void;
  /** Checks now (instead of after the typing pause); returns what it found. */
  checkNow(): ShownDiagnostic[];
}

export function createEditor(parent: HTMLElement, opts: { file: () => string; onCheck: (d: ShownDiagnostic[], text: string) => void; delayMs?: number }): SpecEditor {
  let timer: ReturnType<typeof setTimeout> | null = null;
  const check = (): ShownDiagnostic[] => {
    if (timer) clearTimeout(timer);
    timer = null;
    const text = view.state.doc.toString();
    const file = opts.file();
    let diags: Diagnostic[];
    try {
      diags = checkText(text, file).diagnostics;
    } catch (err) {
      // The checker never throws on a spec; if it does, say so in the page rather than in the console only.
      diags = [{ code: "E0001" as Diagnostic["code"], severity: "error", message: `internal error in the checker: ${(err as Error).message}`, file, span: { start: 0, end: 0 }, notes: [] }];
    }
    const src = new SourceText(file, text);
    const len = text.length;
    const shown = diags.map((d): ShownDiagnostic => {
      const from = Math.max(0, Math.min(d.span.start, len));
      const to = Math.max(from, Math.min(d.span.end, len));
      const { line, column } = src.position(from);
      const notes = d.notes.map((n) => `\nnote (line ${src.position(n.span.start).line}): ${n.message}`).join("");
      return { code: d.code, severity: d.severity, message: d.message + notes, line, column, from, to };
    });
    const cm: CmDiagnostic[] = shown.map((d) => ({ from: d.from, to: d.to, severity: d.severity, message: `${d.severity}[${d.code}]: ${d.message}`, source: d.code }));
    view.dispatch(setDiagnostics(view.state, cm));
    opts.onCheck(shown, text);
    return shown;
  };
  const view = new EditorView({
    parent,
    state: EditorState.create({
      doc: "",
      extensions: [
        lineNumbers(),
        highlightActiveLineGutter(),
        highlightActiveLine(),
        history(),
        keymap.of([...defaultKeymap, ...historyKeymap, indentWithTab]),
        ganLanguage,
        syntaxHighlighting(highlight),
        lintGutter(),
        EditorView.updateListener.of((u) => {
          if (!u.docChanged) return;
          if (timer) clearTimeout(timer);
          timer = setTimeout(check, opts.delayMs ?? 300);
        }),
      ],
    }),
  });
  return {
    view,
    text: () => view.state.doc.toString(),
    setText(text: string) {
      view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: text } });
      check();
    },
    checkNow: check,
  };
}
