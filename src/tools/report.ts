import * as fs from "node:fs";
import * as path from "node:path";
import { readSpecInfo, trainerFile } from "./runfolder.ts";

/**
 * `ganc report`: one self-contained HTML page for a run folder: a chart of every value in metrics.jsonl
 * (inline SVG), the sample grids over time (PNG as data: URIs), quality metrics when `ganc eval` saved
 * them, the resolved spec, backend and timings. No scripts, fonts or other external resources.
 */

const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

/** Values that describe the run rather than the model: charted after the losses. */
const PERF_KEYS = ["itPerSec", "tensors", "rssMB", "elapsedSec"];
const AXIS_KEYS = ["step", "epoch"];
const COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2"];

/** About `count` round tick values covering [lo, hi]. */
export function niceTicks(lo: number, hi: number, count = 5): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Math.abs(v) < step * 1e-9 ? 0 : v);
  return out;
}

function fmt(v: number): string {
  if (v === 0) return "0";
  const a = Math.abs(v);
  if (a >= 1e5 || a < 1e-3) return v.toExponential(1);
  return String(Number(v.toPrecision(4)));
}

/** A line chart of (x, y) points as an SVG element; non-finite points are left out. */
export function lineChart(title: string, xs: number[], ys: number[], opts: { width?: number; height?: number; color?: string; xLabel?: string } = {}): string {
  const W = opts.width ?? 420, H = opts.height ?? 220;
  const m = { l: 56, r: 14, t: 26, b: 34 };
  const pts = xs.map((x, i) => [x, ys[i]!] as const).filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
  const color = opts.color ?? COLORS[0]!;
  let body = "";
  if (pts.length === 0) {
    body = `<text x="${W / 2}" y="${H / 2}" text-anchor="middle" fill="#888">no finite values</text>`;
  } else {
    let x0 = Math.min(...pts.map((p) => p[0])), x1 = Math.max(...pts.map((p) => p[0]));
    let y0 = Math.min(...pts.map((p) => p[1])), y1 = Math.max(...pts.map((p) => p[1]));
    if (x1 === x0) [x0, x1] = [x0 - 1, x1 + 1];
    if (y1 === y0) [y0, y1] = [y0 - (Math.abs(y0) || 1) * 0.1, y1 + (Math.abs(y1) || 1) * 0.1];
    const pad = (y1 - y0) * 0.05;
    y0 -= pad;
    y1 += pad;
    const sx = (x: number) => m.l + ((x - x0) / (x1 - x0)) * (W - m.l - m.r);
    const sy = (y: number) => H - m.b - ((y - y0) / (y1 - y0)) * (H - m.t - m.b);
    const grid: string[] = [];
    for (const t of niceTicks(y0, y1)) {
      const y = sy(t).toFixed(1);
      grid.push(`<line x1="${m.l}" x2="${W - m.r}" y1="${y}" y2="${y}" stroke="#e5e5e5"/><text x="${m.l - 6}" y="${y}" dy="0.32em" text-anchor="end">${fmt(t)}</text>`);
    }
    for (const t of niceTicks(x0, x1, 6)) {
      const x = sx(t).toFixed(1);
      grid.push(`<line x1="${x}" x2="${x}" y1="${H - m.b}" y2="${H - m.b + 4}" stroke="#888"/><text x="${x}" y="${H - m.b + 16}" text-anchor="middle">${fmt(t)}</text>`);
    }
    const line = pts.map(([x, y]) => `${sx(x).toFixed(1)},${sy(y).toFixed(1)}`).join(" ");
    const dots = pts.length <= 60 ? pts.map(([x, y]) => `<circle cx="${sx(x).toFixed(1)}" cy="${sy(y).toFixed(1)}" r="2.5" fill="${color}"/>`).join("") : "";
    const last = pts[pts.length - 1]!;
    body =
      grid.join("") +
      `<line x1="${m.l}" x2="${m.l}" y1="${m.t}" y2="${H - m.b}" stroke="#888"/><line x1="${m.l}" x2="${W - m.r}" y1="${H - m.b}" y2="${H - m.b}" stroke="#888"/>` +
      `<polyline fill="none" stroke="${color}" stroke-width="2.5" stroke-linejoin="round" points="${line}"/>${dots}` +
      `<text x="${W - m.r}" y="${m.t - 8}" text-anchor="end" fill="#555">last ${fmt(last[1])} at ${fmt(last[0])}</text>` +
      `<text x="${(m.l + W - m.r) / 2}" y="${H - 4}" text-anchor="middle" fill="#555">${esc(opts.xLabel ?? "iteration")}</text>`;
  }
  return (
    `<svg class="chart" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" role="img" aria-label="${esc(title)}">` +
    `<text x="${m.l}" y="${m.t - 8}" font-weight="bold">${esc(title)}</text>${body}</svg>`
  );
}

function readMetrics(file: string): Record<string, number>[] {
  if (!fs.existsSync(file)) return [];
  const rows: Record<string, number>[] = [];
  for (const line of fs.readFileSync(file, "utf8").split("\n")) {
    if (!line.trim()) continue;
    try {
      rows.push(JSON.parse(line));
    } catch {
      // A line cut short by an interrupted run: skip it.
    }
  }
  return rows;
}

/** Sample grids in step order; at most `max`, evenly spaced, always keeping the first and the last. */
function sampleImages(dir: string, max: number): { step: number; file: string }[] {
  if (!fs.existsSync(dir)) return [];
  const all = fs
    .readdirSync(dir)
    .map((f) => ({ m: /^step-(\d+)\.png$/.exec(f), f }))
    .filter((e) => e.m)
    .map((e) => ({ step: Number(e.m![1]), file: path.join(dir, e.f) }))
    .sort((a, b) => a.step - b.step);
  if (all.length <= max) return all;
  const keep = new Set<number>();
  for (let i = 0; i < max; i++) keep.add(Math.round((i * (all.length - 1)) / (max - 1)));
  return [...keep].sort((a, b) => a - b).map((i) => all[i]!);
}

const dataUri = (file: string) => `data:image/png;base64,${fs.readFileSync(file).toString("base64")}`;

function evalSection(file: string): string {
  if (!fs.existsSync(file)) return "";
  let r: { metrics?: Record<string, unknown> | null; note?: string };
  try {
    r = JSON.parse(fs.readFileSync(file, "utf8"));
  } catch {
    return "";
  }
  const m = r.metrics as Record<string, any> | null | undefined;
  const rows: [string, string][] = [];
  if (!m) rows.push(["note", r.note ?? "no metrics"]);
  else if (m.kind === "swd") {
    rows.push(
      ["samples", `${m.samples} (reference: ${m.reference} real images)`],
      ["SWD x 1e3 (mean of the levels)", Number(m.mean).toFixed(2)],
      ...(m.levels as { resolution: number[]; swd: number }[]).map((l): [string, string] => [`SWD x 1e3 at ${l.resolution.join("x")}`, l.swd.toFixed(2)]),
      ["patches", `${m.settings.patchesPerImage} of ${m.settings.patchSize}x${m.settings.patchSize} per image and pyramid level, ${m.settings.repeats} x ${m.settings.directions} random directions (sliced Wasserstein distance, Karras et al. 2018; lower is better)`],
    );
  } else if (m.kind === "toy") {
    rows.push(["samples", String(m.samples)], ["modes covered", `${m.modesCovered} / ${m.modes}`], ["high-quality samples", `${(m.highQuality * 100).toFixed(1)}%`], ["per mode", (m.perMode as number[]).join(" ")]);
  } else {
    rows.push(
      ["samples", `${m.samples} (reference: ${m.reference} real digits)`],
      ["FID (classifier features)", Number(m.fid).toFixed(3)],
      ["classifier score", Number(m.classifierScore).toFixed(3)],
      ["class coverage", `${m.classCoverage.covered} / ${m.classCoverage.classes}`],
      ["class histogram", (m.classCoverage.histogram as number[]).map((h, i) => `${i}:${h}`).join(" ")],
    );
  }
  return `<h2>Quality (ganc eval)</h2><table>${rows.map(([k, v]) => `<tr><th>${esc(k)}</th><td>${esc(v)}</td></tr>`).join("")}</table>`;
}

export function buildReport(runDir: string, opts: { maxImages?: number } = {}): string {
  trainerFile(runDir);
  const spec = readSpecInfo(runDir);
  const rows = readMetrics(path.join(runDir, "metrics.jsonl"));
  const runJsonFile = path.join(runDir, "run.json");
  const run = fs.existsSync(runJsonFile) ? (JSON.parse(fs.readFileSync(runJsonFile, "utf8")) as Record<string, unknown>) : null;

  const keys: string[] = [];
  for (const r of rows) for (const k of Object.keys(r)) if (!keys.includes(k) && !AXIS_KEYS.includes(k) && typeof r[k] === "number") keys.push(k);
  const ordered = [...keys.filter((k) => !PERF_KEYS.includes(k)), ...keys.filter((k) => PERF_KEYS.includes(k))];
  const steps = rows.map((r) => r.step ?? NaN);
  const charts = ordered.map((k, i) => lineChart(k, steps, rows.map((r) => (typeof r[k] === "number" ? r[k]! : NaN)), { color: COLORS[i % COLORS.length] }));

  const images = sampleImages(path.join(runDir, "samples"), opts.maxImages ?? 24);
  const strip = images.map((im) => `<figure><img src="${dataUri(im.file)}" alt="samples at iteration ${im.step}"><figcaption>iteration ${im.step}</figcaption></figure>`).join("");

  const info: [string, string][] = [
    ["spec", `${spec.name} (${spec.source}, hash ${spec.hash})`],
    ["run folder", path.resolve(runDir)],
  ];
  if (run) {
    const data = run.data as { name: string; count: number; shape: number[]; classes: { name: string; count: number }[] | null } | undefined;
    if (data) {
      info.push(["data", `${data.name}: ${data.count} samples of [${data.shape.join(", ")}]`]);
      if (data.classes) info.push(["classes", data.classes.map((c) => `${c.name} ${c.count}`).join(", ")]);
    }
    if (run.backend) info.push(["backend", String(run.backend)]);
    if (typeof run.steps === "number") info.push(["iterations", String(run.steps)]);
    if (typeof run.seconds === "number") info.push(["training time", `${run.seconds} s${typeof run.steps === "number" && run.seconds > 0 ? ` (${(run.steps / run.seconds).toFixed(2)} it/s overall)` : ""}`]);
    if (run.status === "running") info.push(["status", "in progress (or ended without finishing)"]);
  } else info.push(["status", "no run.json: the run is in progress or was stopped before it finished"]);
  const last = rows[rows.length - 1];
  if (last) {
    info.push(["last logged iteration", `${last.step} (epoch ${last.epoch ?? "?"})`]);
    if (typeof last.elapsedSec === "number") info.push(["elapsed at last log", `${last.elapsedSec} s`]);
  }

  const css = `body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;background:#fff}h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #ddd}
.charts{display:flex;flex-wrap:wrap;gap:12px}.chart{font:11px system-ui,sans-serif;background:#fff;border:1px solid #eee}
.strip{display:flex;gap:12px;overflow-x:auto;padding-bottom:8px}figure{margin:0;text-align:center}figure img{image-rendering:pixelated;max-height:260px;border:1px solid #ddd}
figcaption{font-size:12px;color:#555}table{border-collapse:collapse}th,td{text-align:left;padding:3px 12px 3px 0;vertical-align:top}th{font-weight:600;color:#444}
pre{background:#f6f6f6;padding:12px;overflow-x:auto;font-size:12px}`;
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${esc(spec.name)}: training report</title><style>${css}</style></head>
<body>
<h1>${esc(spec.name)}</h1><div>training report for ${esc(path.basename(path.resolve(runDir)))}</div>
<h2>Logged values</h2>
${charts.length ? `<div class="charts">${charts.join("\n")}</div>` : "<p>No values logged yet (metrics.jsonl is missing or empty).</p>"}
<h2>Samples over time</h2>
${images.length ? `<div class="strip">${strip}</div>` : "<p>No sample grids yet.</p>"}
${evalSection(path.join(runDir, "eval.json"))}
<h2>Run</h2>
<table>${info.map(([k, v]) => `<tr><th>${esc(k)}</th><td>${esc(v)}</td></tr>`).join("")}</table>
<h2>Resolved spec</h2>
<pre>${esc(spec.resolved)}</pre>
</body></html>
`;
}
