import * as fs from "node:fs";
import * as path from "node:path";
import { readSpecInfo } from "../tools/runinfo.ts";

/**
 * Follows a run folder by reading what the trainer writes there anyway: metrics.jsonl (tailed from the
 * last byte read; a partial last line waits for its end), samples/step-NNNNNNN.png, run.json,
 * settings.json, eval.json and the .lock holding the writer's pid. The trainer is never asked for
 * anything, so watching costs its loop nothing. Changes are found by fs.watch on the folder and
 * samples/ where the platform supports it, and by polling in any case (a missed or coalesced event is
 * caught by the next poll).
 */

export type Row = Record<string, number>;

export interface Sample {
  step: number;
  /** The file's name in samples/ (step-NNNNNNN.png). */
  name: string;
}

export interface RunInfo {
  spec: { name: string; source: string; hash: string; resolved: string };
  /** run.json: status ("running", "finished", "stopped"), totalSteps, backend, data, and at the end steps and seconds. */
  run: Record<string, unknown> | null;
  settings: Record<string, unknown> | null;
  /** eval.json, written by `ganc eval`. */
  eval: Record<string, unknown> | null;
  /** The pid in .lock while a live process holds it; null when no trainer is writing. */
  writer: number | null;
}

export type WatchEvent =
  | { type: "rows"; rows: Row[] }
  | { type: "samples"; samples: Sample[] }
  | { type: "info"; info: RunInfo }
  /** metrics.jsonl or samples/ started over (a --fresh run in the same folder): drop what was sent. */
  | { type: "reset" };

export interface Snapshot {
  rows: Row[];
  samples: Sample[];
  info: RunInfo;
}

const SAMPLE_RE = /^step-(\d+)\.png$/;

function readJson(file: string): Record<string, unknown> | null {
  try {
    const v = JSON.parse(fs.readFileSync(file, "utf8")) as unknown;
    return v && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
  } catch {
    return null; // missing, or caught between writes (they are atomic renames, so rarely)
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** The pid of the live process holding the run folder's lock, or null. */
export function writerPid(runDir: string): number | null {
  try {
    const pid = Number.parseInt(fs.readFileSync(path.join(runDir, ".lock"), "utf8").trim(), 10);
    return Number.isInteger(pid) && pid > 0 && alive(pid) ? pid : null;
  } catch {
    return null;
  }
}

export class RunWatcher {
  private rows: Row[] = [];
  private samples: Sample[] = [];
  private info: RunInfo;
  private infoKey = "";
  private offset = 0;
  /** The bytes after the last newline read so far: a line the trainer has not finished writing. */
  private partial = "";
  private listeners = new Set<(e: WatchEvent) => void>();
  private timer: NodeJS.Timeout | null = null;
  private watchers: fs.FSWatcher[] = [];
  private pending: NodeJS.Timeout | null = null;
  private readonly metricsFile: string;
  private readonly samplesDir: string;

  constructor(
    readonly runDir: string,
    private readonly opts: { pollMs?: number } = {},
  ) {
    this.metricsFile = path.join(runDir, "metrics.jsonl");
    this.samplesDir = path.join(runDir, "samples");
    this.info = this.readInfo();
    this.infoKey = JSON.stringify(this.info);
    this.poll();
  }

  /** Everything read so far: what a page opened now (or reloaded) is sent first. */
  snapshot(): Snapshot {
    return { rows: [...this.rows], samples: [...this.samples], info: this.info };
  }

  subscribe(fn: (e: WatchEvent) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** Starts following the folder: polling every pollMs (default 500), and fs.watch where it works. */
  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.poll(), this.opts.pollMs ?? 500);
    this.timer.unref();
    for (const dir of [this.runDir, this.samplesDir]) {
      try {
        const w = fs.watch(dir, { persistent: false }, () => this.soon());
        w.on("error", () => w.close());
        this.watchers.push(w);
      } catch {
        // samples/ not there yet, or no fs.watch here: polling covers it.
      }
    }
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    if (this.pending) clearTimeout(this.pending);
    this.timer = this.pending = null;
    for (const w of this.watchers) w.close();
    this.watchers = [];
    this.listeners.clear();
  }

  /** A poll shortly after a change event (events come in bursts while a file is written). */
  private soon(): void {
    if (this.pending) return;
    this.pending = setTimeout(() => {
      this.pending = null;
      this.poll();
    }, 50);
  }

  private emit(e: WatchEvent): void {
    for (const fn of this.listeners) fn(e);
  }

  /** Reads what changed since the last poll and tells the listeners. */
  poll(): void {
    const reset = this.readMetrics();
    const { added, reset: samplesReset } = this.readSamples();
    if (reset || samplesReset) {
      this.emit({ type: "reset" });
      if (this.rows.length) this.emit({ type: "rows", rows: [...this.rows] });
      if (this.samples.length) this.emit({ type: "samples", samples: [...this.samples] });
    } else {
      // The rows' new values are in newRows (set by readMetrics).
      if (this.newRows.length) this.emit({ type: "rows", rows: this.newRows });
      if (added.length) this.emit({ type: "samples", samples: added });
    }
    this.newRows = [];
    const info = this.readInfo();
    const key = JSON.stringify(info);
    if (key !== this.infoKey) {
      this.info = info;
      this.infoKey = key;
      this.emit({ type: "info", info });
    }
  }

  private newRows: Row[] = [];

  /** Reads metrics.jsonl's new bytes; true when the file was replaced or cut (everything read again). */
  private readMetrics(): boolean {
    let size: number;
    try {
      size = fs.statSync(this.metricsFile).size;
    } catch {
      size = 0;
    }
    let reset = false;
    if (size < this.offset) {
      this.rows = [];
      this.offset = 0;
      this.partial = "";
      reset = true;
    }
    if (size === this.offset) return reset;
    let text: string;
    try {
      const fd = fs.openSync(this.metricsFile, "r");
      try {
        const buf = Buffer.alloc(size - this.offset);
        const n = fs.readSync(fd, buf, 0, buf.length, this.offset);
        this.offset += n;
        text = this.partial + buf.subarray(0, n).toString("utf8");
      } finally {
        fs.closeSync(fd);
      }
    } catch {
      return reset;
    }
    const lines = text.split("\n");
    this.partial = lines.pop() ?? "";
    for (const line of lines) {
      if (!line.trim()) continue;
      try {
        const row = JSON.parse(line) as unknown;
        if (row && typeof row === "object") {
          this.rows.push(row as Row);
          this.newRows.push(row as Row);
        }
      } catch {
        // A line cut short by an interrupted run: skip it, as the report does.
      }
    }
    return reset;
  }

  private readSamples(): { added: Sample[]; reset: boolean } {
    let names: string[];
    try {
      names = fs.readdirSync(this.samplesDir);
    } catch {
      names = [];
    }
    const all = names
      .map((name) => ({ m: SAMPLE_RE.exec(name), name }))
      .filter((e) => e.m)
      .map((e) => ({ step: Number(e.m![1]), name: e.name }))
      .sort((a, b) => a.step - b.step);
    const known = new Set(this.samples.map((s) => s.name));
    const now = new Set(all.map((s) => s.name));
    const reset = this.samples.some((s) => !now.has(s.name));
    const added = all.filter((s) => !known.has(s.name));
    this.samples = all;
    return { added, reset };
  }

  private spec: { mtime: number; spec: RunInfo["spec"] } | null = null;

  /** The trainer's SPEC fields, read again only when trainer.ts changes (a new run compiled into the folder). */
  private readSpec(): RunInfo["spec"] {
    let mtime = -1;
    try {
      mtime = fs.statSync(path.join(this.runDir, "trainer.ts")).mtimeMs;
    } catch {
      // no trainer yet
    }
    if (this.spec?.mtime === mtime) return this.spec.spec;
    let spec: RunInfo["spec"];
    try {
      const s = readSpecInfo(this.runDir);
      spec = { name: s.name, source: s.source, hash: s.hash, resolved: s.resolved };
    } catch {
      spec = { name: path.basename(path.resolve(this.runDir)), source: "", hash: "", resolved: "" };
    }
    this.spec = { mtime, spec };
    return spec;
  }

  private readInfo(): RunInfo {
    return {
      spec: this.readSpec(),
      run: readJson(path.join(this.runDir, "run.json")),
      settings: readJson(path.join(this.runDir, "settings.json")),
      eval: readJson(path.join(this.runDir, "eval.json")),
      writer: writerPid(this.runDir),
    };
  }

  /** The path of a sample grid by its name, or null for any other name. */
  sampleFile(name: string): string | null {
    return SAMPLE_RE.test(name) || name === "latest.png" ? path.join(this.samplesDir, name) : null;
  }
}
