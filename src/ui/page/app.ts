import uPlot from "uplot";

/**
 * The live dashboard's page: subscribes to /events (server-sent events) and keeps one uPlot chart per
 * logged value, the sample grids with a slider over them, the run's progress, its quality metrics and
 * its resolved spec. The first event is the whole history, so a reload or a late visit shows everything.
 * Each chart's element carries data-key and data-points, and the sample image data-step: what the page
 * shows, readable by tests.
 */

type Row = Record<string, number>;
interface Sample {
  step: number;
  name: string;
}
interface RunInfo {
  spec: { name: string; source: string; hash: string; resolved: string };
  run: Record<string, unknown> | null;
  settings: Record<string, unknown> | null;
  eval: Record<string, unknown> | null;
  writer: number | null;
}

const AXIS_KEYS = new Set(["step", "epoch"]);
const PERF_KEYS = new Set(["itPerSec", "tensors", "rssMB", "heapMB", "elapsedSec"]);
const QUALITY_KEYS = new Set(["fid", "classifierScore", "classesCovered", "modesCovered", "highQuality"]);
const COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2"];

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;

interface Chart {
  key: string;
  el: HTMLElement;
  plot: uPlot;
  xs: number[];
  ys: (number | null)[];
}

const charts = new Map<string, Chart>();
let rows: Row[] = [];
let samples: Sample[] = [];
let info: RunInfo | null = null;
let colorIndex = 0;

function fmt(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  if (v === 0) return "0";
  const a = Math.abs(v);
  if (a >= 1e5 || a < 1e-3) return v.toExponential(2);
  return String(Number(v.toPrecision(4)));
}

function duration(sec: number): string {
  if (!Number.isFinite(sec) || sec < 0) return "–";
  const s = Math.round(sec);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${s % 60} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

function chartWidth(container: HTMLElement): number {
  const w = container.clientWidth || 800;
  const cols = w > 1100 ? 3 : w > 640 ? 2 : 1;
  return Math.max(240, Math.floor((w - 12 * (cols - 1)) / cols) - 10);
}

function containerFor(key: string): HTMLElement {
  if (QUALITY_KEYS.has(key)) {
    $("quality-panel").hidden = false;
    return $("quality-charts");
  }
  return PERF_KEYS.has(key) ? $("perf-charts") : $("charts");
}

function chartFor(key: string): Chart {
  let c = charts.get(key);
  if (c) return c;
  const container = containerFor(key);
  container.querySelector(".empty")?.remove();
  const el = document.createElement("div");
  el.className = "chart";
  el.dataset.key = key;
  el.dataset.points = "0";
  container.appendChild(el);
  const color = COLORS[colorIndex++ % COLORS.length]!;
  const plot = new uPlot(
    {
      title: key,
      width: chartWidth(container),
      height: 200,
      scales: { x: { time: false } },
      legend: { show: true, live: true },
      cursor: { drag: { x: true, y: false } },
      axes: [{ label: "iteration", size: 36, labelSize: 18 }, { size: 56 }],
      series: [{ label: "iteration" }, { label: key, stroke: color, width: 2, points: { size: 6, fill: color }, spanGaps: true, value: (_u, v) => (v == null ? "–" : fmt(v)) }],
    },
    [[], []],
    el,
  );
  c = { key, el, plot, xs: [], ys: [] };
  charts.set(key, c);
  return c;
}

function addRows(newRows: Row[]): void {
  const touched = new Set<Chart>();
  for (const r of newRows) {
    rows.push(r);
    for (const [k, v] of Object.entries(r)) {
      if (AXIS_KEYS.has(k) || typeof v !== "number") continue;
      const c = chartFor(k);
      c.xs.push(r.step ?? rows.length);
      c.ys.push(Number.isFinite(v) ? v : null);
      touched.add(c);
    }
  }
  for (const c of touched) {
    c.plot.setData([c.xs, c.ys]);
    c.el.dataset.points = String(c.xs.length);
    // The newest value in the title: the legend shows values only under the cursor.
    const last = c.ys[c.ys.length - 1];
    const title = c.el.querySelector(".u-title");
    if (title) title.textContent = last == null ? c.key : `${c.key}  ${fmt(last)}`;
  }
  renderStats();
}

function clearAll(): void {
  for (const c of charts.values()) {
    c.plot.destroy();
    c.el.remove();
  }
  charts.clear();
  colorIndex = 0;
  rows = [];
  samples = [];
  renderSamples();
}

// ---- samples ---------------------------------------------------------------------------------------

function addSamples(added: Sample[]): void {
  const known = new Set(samples.map((s) => s.name));
  for (const s of added) if (!known.has(s.name)) samples.push(s);
  samples.sort((a, b) => a.step - b.step);
  renderSamples();
}

function showSample(i: number): void {
  const s = samples[i];
  const img = $<HTMLImageElement>("sample-img");
  if (!s) {
    img.removeAttribute("src");
    delete img.dataset.step;
    $("sample-label").textContent = "";
    return;
  }
  img.src = `samples/${encodeURIComponent(s.name)}`;
  img.alt = `samples at iteration ${s.step}`;
  img.dataset.step = String(s.step);
  $("sample-label").textContent = `iteration ${s.step} (${i + 1} of ${samples.length})`;
}

function renderSamples(): void {
  const slider = $<HTMLInputElement>("sample-slider");
  const follow = $<HTMLInputElement>("follow").checked;
  $("no-samples").hidden = samples.length > 0;
  slider.disabled = samples.length < 2;
  slider.max = String(Math.max(0, samples.length - 1));
  if (follow || Number(slider.value) >= samples.length) slider.value = String(Math.max(0, samples.length - 1));
  showSample(Number(slider.value));
}

$<HTMLInputElement>("sample-slider").addEventListener("input", (e) => {
  const i = Number((e.target as HTMLInputElement).value);
  $<HTMLInputElement>("follow").checked = i === samples.length - 1;
  showSample(i);
});
$<HTMLInputElement>("follow").addEventListener("change", () => renderSamples());

// ---- run info ----------------------------------------------------------------------------------------

function status(): { text: string; cls: string } {
  const st = info?.run?.status;
  if (info?.writer) return { text: "training", cls: "training" };
  if (st === "finished") return { text: "finished", cls: "finished" };
  if (st === "stopped") return { text: "stopped (interrupted)", cls: "stopped" };
  if (st === "running") return { text: "ended without finishing", cls: "ended" };
  return { text: rows.length ? "not training" : "waiting for the run", cls: "" };
}

/** Iterations per second over the last few logged rows (one row's rate jumps with each read-back). */
function recentSpeed(): number | null {
  const last = rows[rows.length - 1];
  const first = rows[Math.max(0, rows.length - 11)];
  if (last && first && last !== first && typeof last.elapsedSec === "number" && typeof first.elapsedSec === "number" && last.elapsedSec > first.elapsedSec) {
    return (last.step! - first.step!) / (last.elapsedSec - first.elapsedSec);
  }
  return typeof last?.itPerSec === "number" ? last.itPerSec : null;
}

function renderStats(): void {
  const last = rows[rows.length - 1];
  const run = info?.run ?? null;
  const total = typeof run?.totalSteps === "number" ? run.totalSteps : null;
  const step = typeof run?.steps === "number" && run.status !== "running" ? run.steps : (last?.step ?? 0);
  $("iteration").textContent = last || total ? `${step}${total ? ` / ${total}` : ""}` : "–";
  $("epoch").textContent = last?.epoch !== undefined ? String(last.epoch) : "–";
  const speed = recentSpeed();
  $("speed").textContent = speed !== null ? fmt(speed) : "–";
  const training = !!info?.writer;
  $("eta").textContent = training && total && speed && speed > 0 ? duration((total - step) / speed) : training ? "–" : total && step >= total ? "done" : "–";
  const elapsed = typeof run?.seconds === "number" && !training ? run.seconds : last?.elapsedSec;
  $("elapsed").textContent = typeof elapsed === "number" ? duration(elapsed) : "–";
  const prog = $<HTMLProgressElement>("progress");
  prog.value = total ? Math.min(1, step / total) : 0;
  const s = status();
  const pill = $("status");
  pill.textContent = s.text;
  pill.className = `pill ${s.cls}`;
}

function esc(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

function table(id: string, entries: [string, string][]): void {
  $(id).innerHTML = entries.map(([k, v]) => `<tr><th>${esc(k)}</th><td>${esc(v)}</td></tr>`).join("");
}

function renderInfo(): void {
  if (!info) return;
  const name = info.spec.name || "run";
  $("title").textContent = name;
  document.title = `${name}: ganc dashboard`;
  $("spec").textContent = info.spec.resolved || "(the trainer in this run folder has no resolved spec)";
  const run = info.run;
  $("backend").textContent = typeof run?.backend === "string" ? run.backend : "–";
  const data = run?.data as { name?: string; count?: number; shape?: number[] } | undefined;
  $("data").textContent = data?.name ? `${data.name} (${data.count ?? "?"} × [${(data.shape ?? []).join(", ")}])` : "–";
  const entries: [string, string][] = [["spec", `${info.spec.name} (${info.spec.source}${info.spec.hash ? `, hash ${info.spec.hash}` : ""})`]];
  if (info.writer) entries.push(["trainer pid", String(info.writer)]);
  for (const [k, v] of Object.entries(info.settings ?? {})) if (v !== null && v !== undefined) entries.push([k, String(v)]);
  table("run-table", entries);
  const ev = info.eval;
  const m = ev?.metrics as Record<string, unknown> | null | undefined;
  if (ev) {
    $("quality-panel").hidden = false;
    const e: [string, string][] = [["ganc eval", ev.step !== undefined ? `iteration ${String(ev.step)}` : "saved"]];
    if (m) for (const [k, v] of Object.entries(m)) if (typeof v === "number" || typeof v === "string") e.push([k, typeof v === "number" ? fmt(v) : v]);
    else if (typeof ev.note === "string") e.push(["note", ev.note]);
    table("eval-table", e);
  }
  renderStats();
}

// ---- the stream --------------------------------------------------------------------------------------

function connect(): void {
  const es = new EventSource("events");
  const on = <T>(type: string, fn: (d: T) => void) => es.addEventListener(type, (e) => fn(JSON.parse((e as MessageEvent<string>).data) as T));
  on<{ rows: Row[]; samples: Sample[]; info: RunInfo }>("snapshot", (d) => {
    // A reconnect sends the whole history again: start from it.
    clearAll();
    info = d.info;
    renderInfo();
    addRows(d.rows);
    addSamples(d.samples);
    $("connection").textContent = "";
    document.body.dataset.connected = "true";
  });
  on<{ rows: Row[] }>("rows", (d) => addRows(d.rows));
  on<{ samples: Sample[] }>("samples", (d) => addSamples(d.samples));
  on<{ info: RunInfo }>("info", (d) => {
    info = d.info;
    renderInfo();
  });
  on<Record<string, never>>("reset", () => clearAll());
  es.onerror = () => {
    document.body.dataset.connected = "false";
    $("connection").textContent = "disconnected from the server (retrying); `ganc ui <run-dir>` serves a finished run";
  };
}

window.addEventListener("resize", () => {
  for (const c of charts.values()) c.plot.setSize({ width: chartWidth(c.el.parentElement!), height: 200 });
});

connect();
