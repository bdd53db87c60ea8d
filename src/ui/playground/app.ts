import * as tf from "@tensorflow/tfjs";
import uPlot from "uplot";
import specs from "playground:specs";
import { toyModes } from "../../runtime/data.ts";
import { toyMetrics } from "../../runtime/eval/metrics.ts";
import { encodeCheckpoint, checkpointFileName } from "./checkpoint-bytes.ts";
import { createEditor, type ShownDiagnostic } from "./editor.ts";
import { compileTrainer, pageDataset, PlaygroundError, usePageBackend, type PageBackend } from "./program.ts";
import { PageRun } from "./run.ts";
import { fusedNets } from "./runtime.ts";
import { drawPlane, evaluateHeat, heatUnavailable, meanModeDistance } from "./view2d.ts";

/**
 * The playground: a spec editor with the checker's diagnostics as you type, and the spec compiled and
 * trained in the page with live loss charts and, for 2-D data, the points and D's output over the plane.
 * `window.playground.state()` is what the page shows, for tests.
 */

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;
const params = new URLSearchParams(location.search);

type Status = "idle" | "compiling" | "training" | "paused" | "finished" | "stopped" | "error";
let status: Status = "idle";
let diagnostics: ShownDiagnostic[] = [];
let run: PageRun | null = null;
let trainerCode: string | null = null;
let backendDetail = "–";
let specName = "ring8.gan";
// Control of the loop, read between iterations (host.iteration).
let pauseRequested = false;
let stopRequested = false;
let stepBudget: number | null = null;
let resumeLoop: (() => void) | null = null;
// What the page shows.
const losses = new Map<string, number[]>();
let xs: number[] = [];
let distances: { step: number; value: number }[] = [];
let modesCovered: number | null = null;
let chart: uPlot | null = null;
let lastChartDraw = 0;
let lastPlaneDraw = 0;
let started = 0;
let startedStep = 0;

function setStatus(s: Status, message?: string, kind: "error" | "note" = "error"): void {
  status = s;
  const pill = $("status");
  pill.textContent = s;
  pill.className = `pill ${s}`;
  const m = $("message");
  m.hidden = !message;
  m.textContent = message ?? "";
  m.className = `message ${kind}`;
  const active = s === "training" || s === "paused" || s === "compiling";
  ($("train") as HTMLButtonElement).disabled = active;
  ($("pause") as HTMLButtonElement).disabled = s !== "training";
  ($("resume") as HTMLButtonElement).disabled = s !== "paused";
  ($("step") as HTMLButtonElement).disabled = s === "training" || s === "compiling";
  ($("stop") as HTMLButtonElement).disabled = !(s === "training" || s === "paused");
  ($("dl-checkpoint") as HTMLButtonElement).disabled = !run || run.step === 0 || s === "training" || s === "compiling";
  for (const input of $("lr").querySelectorAll("input")) input.disabled = s !== "paused";
}

// ---- the editor --------------------------------------------------------------------------------------

function showDiagnostics(ds: ShownDiagnostic[]): void {
  diagnostics = ds;
  const list = $("diagnostics");
  list.replaceChildren();
  if (ds.length === 0) {
    const li = document.createElement("li");
    li.className = "ok";
    li.textContent = "no problems: ganc check passes";
    list.append(li);
  }
  for (const d of ds) {
    const li = document.createElement("li");
    li.className = d.severity;
    li.dataset.line = String(d.line);
    li.dataset.code = d.code;
    li.textContent = `${d.line}:${d.column} ${d.severity}[${d.code}]: ${d.message}`;
    li.addEventListener("click", () => {
      editor.view.dispatch({ selection: { anchor: d.from, head: d.to }, scrollIntoView: true });
      editor.view.focus();
    });
    list.append(li);
  }
}

const editor = createEditor($("editor"), { file: () => `specs/${specName}`, onCheck: (ds) => showDiagnostics(ds) });

function loadSpec(name: string): void {
  const s = specs.find((x) => x.name === name) ?? specs[0]!;
  specName = s.name;
  ($("spec-select") as HTMLSelectElement).value = s.name;
  editor.setText(s.text);
}

for (const s of specs) {
  const o = document.createElement("option");
  o.value = o.textContent = s.name;
  $("spec-select").append(o);
}
$("spec-select").addEventListener("change", (e) => loadSpec((e.target as HTMLSelectElement).value));

// ---- charts and views ----------------------------------------------------------------------------

const COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2"];

function resetChart(names: string[]): void {
  chart?.destroy();
  losses.clear();
  xs = [];
  for (const n of names) losses.set(n, []);
  const box = $("chart");
  box.replaceChildren();
  box.dataset.points = "0";
  chart = new uPlot(
    {
      width: Math.max(360, box.clientWidth || 480),
      height: 300,
      title: "losses",
      scales: { x: { time: false } },
      series: [{ label: "iteration" }, ...names.map((n, i) => ({ label: n, stroke: COLORS[i % COLORS.length], width: 1.5 }))],
      axes: [{}, { size: 60 }],
    },
    [[], ...names.map(() => [])],
    box,
  );
}

function drawChart(force = false): void {
  const now = performance.now();
  if (!chart || (!force && now - lastChartDraw < 120)) return;
  lastChartDraw = now;
  chart.setData([xs, ...[...losses.values()]] as uPlot.AlignedData);
  $("chart").dataset.points = String(xs.length);
}

/** The sample grid for image data: the spec's sample_count rows of fixed noise (the grid ganc train writes). */
async function refreshSamples(): Promise<void> {
  if (!run || run.spec.data.shape.length !== 3) return;
  const gen = await run.generate(Math.min(100, run.spec.train.sampleCount));
  if (!gen) return;
  const [n, h, w, c] = gen.shape as [number, number, number, number];
  const cols = Math.ceil(Math.sqrt(n));
  const rows = Math.ceil(n / cols);
  const canvas = $("samples") as HTMLCanvasElement;
  canvas.width = cols * (w + 1) + 1;
  canvas.height = rows * (h + 1) + 1;
  const scale = Math.max(1, Math.floor(Math.min(420 / canvas.width, 420 / canvas.height)));
  canvas.style.width = `${canvas.width * scale}px`;
  canvas.style.height = `${canvas.height * scale}px`;
  const img = new ImageData(canvas.width, canvas.height);
  for (let i = 0; i < img.data.length; i += 4) img.data.set([64, 64, 64, 255], i); // dark grey between tiles
  const [lo, hi] = run.spec.sampleRange;
  const byte = (v: number) => Math.max(0, Math.min(255, Math.round(((v - lo) / (hi - lo)) * 255)));
  for (let k = 0; k < n; k++) {
    const ox = (k % cols) * (w + 1) + 1;
    const oy = Math.floor(k / cols) * (h + 1) + 1;
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const src = ((k * h + y) * w + x) * c;
        const dst = ((oy + y) * canvas.width + ox + x) * 4;
        img.data[dst] = byte(gen.data[src]!);
        img.data[dst + 1] = byte(gen.data[src + (c === 3 ? 1 : 0)]!);
        img.data[dst + 2] = byte(gen.data[src + (c === 3 ? 2 : 0)]!);
        img.data[dst + 3] = 255;
      }
    }
  }
  canvas.getContext("2d")!.putImageData(img, 0, 0);
  canvas.dataset.step = String(run.step);
  $("samples-label").textContent = `at iteration ${run.step}`;
}

async function refreshViews(): Promise<void> {
  await refreshPlane();
  await refreshSamples();
}

async function refreshPlane(): Promise<void> {
  if (!run || run.spec.data.shape.length !== 1 || run.spec.data.shape[0] !== 2) return;
  const kind = run.spec.data.source as "ring8" | "grid25";
  const { centers, std } = toyModes(kind);
  const extent = Math.max(...centers.flat().map(Math.abs)) * 1.35 + 0.5;
  const gen = await run.generate(512);
  if (!gen) return;
  const d = fusedNets.get("D");
  const why = heatUnavailable(d);
  $("heat-note").textContent = why ? `(D's output not drawn: ${why})` : "";
  const heat = why ? null : await evaluateHeat(d!, extent);
  const real = run.dataset.x!.subarray(0, 1024);
  drawPlane($("plane") as HTMLCanvasElement, { extent, heat, real, fake: gen.data, centers });
  const dist = meanModeDistance(gen.data, centers);
  distances.push({ step: run.step, value: dist });
  modesCovered = toyMetrics(gen.data, centers, std).modesCovered;
  $("distance").textContent = dist.toFixed(3);
  $("modes").textContent = `${modesCovered} / ${centers.length}`;
  $("plane").dataset.step = String(run.step);
}

// ---- training ------------------------------------------------------------------------------------

const yieldToPage = () => new Promise<void>((r) => setTimeout(r, 0));

function lrControls(r: PageRun): void {
  const box = $("lr");
  box.replaceChildren();
  for (const [step, opt] of r.optimizers) {
    const label = document.createElement("label");
    label.textContent = `lr ${step} `;
    const input = document.createElement("input");
    input.type = "number";
    input.step = "any";
    input.min = "0";
    input.value = String(PageRun.lr(opt));
    input.dataset.step = step;
    input.disabled = true;
    input.addEventListener("change", () => {
      const v = Number(input.value);
      if (!(v >= 0) || !Number.isFinite(v)) {
        setStatus(status, `learning rate must be a number >= 0, got '${input.value}'`);
        input.value = String(PageRun.lr(opt));
        return;
      }
      r.setLearningRate(step, v);
    });
    label.append(input);
    box.append(label);
  }
}

function numberParam(id: string, fallback: number): number {
  const raw = ($(id) as HTMLInputElement).value.trim();
  const v = Number(raw);
  if (raw === "") return fallback;
  if (!Number.isInteger(v) || v < 0) throw new PlaygroundError(`${id} must be a whole number >= 0, got '${raw}'`);
  return v;
}

async function train(pauseAfter: number | null): Promise<void> {
  if (status === "training" || status === "compiling" || status === "paused") return;
  const errors = editor.checkNow().filter((d) => d.severity === "error");
  if (errors.length > 0) {
    setStatus("error", `the spec has ${errors.length} error${errors.length === 1 ? "" : "s"}: fix ${errors.length === 1 ? "it" : "them"} first (line ${errors[0]!.line}: ${errors[0]!.message})`);
    return;
  }
  setStatus("compiling");
  try {
    const trainer = compileTrainer(editor.text(), `specs/${specName}`);
    trainerCode = trainer.code;
    const choice = ($("backend-select") as HTMLSelectElement).value as PageBackend | "auto";
    const backend = await usePageBackend(choice);
    backendDetail = backend.detail;
    $("backend").textContent = backend.detail;
    $("backend").title = backend.skipped.length ? `skipped: ${backend.skipped.join("; ")}` : "";
    const spec = trainer.SPEC;
    const seed = numberParam("seed", spec.train.seed);
    const dataset = await pageDataset(spec, seed);
    const perEpoch = Math.floor(dataset.count / spec.data.batch);
    const steps = numberParam("iterations", spec.train.steps ?? (spec.train.epochs ?? 25) * perEpoch);
    if (steps < 1) throw new PlaygroundError("iterations must be at least 1");
    run?.dispose();
    run = null;
    fusedNets.clear();
    tf.disposeVariables();
    distances = [];
    modesCovered = null;
    pauseRequested = pauseAfter !== null;
    stepBudget = pauseAfter;
    stopRequested = false;
    const planeShown = spec.data.shape.length === 1 && spec.data.shape[0] === 2;
    $("plane-box").hidden = !planeShown;
    $("samples-box").hidden = spec.data.shape.length !== 3;
    let names: string[] | null = null;
    PageRun.host = {
      dataset,
      seed,
      steps,
      backend: backend.name,
      ready: async (r) => {
        run = r;
        lrControls(r);
        started = performance.now();
        startedStep = 0;
        await refreshViews();
        setStatus("training");
        if (pauseAfter !== null) pauseRequested = false;
      },
      iteration: async (r, step, values) => {
        if (!names) {
          names = Object.keys(values);
          resetChart(names);
        }
        xs.push(step);
        for (const n of names) losses.get(n)!.push(values[n] ?? NaN);
        $("iteration").textContent = `${step} / ${steps}`;
        const secs = (performance.now() - started) / 1000;
        if (secs > 0) $("speed").textContent = ((step - startedStep) / secs).toFixed(1);
        const last = step === steps;
        if (stepBudget !== null && --stepBudget <= 0) {
          stepBudget = null;
          pauseRequested = true;
        }
        // The 2-D view costs a pass of G and of D over the plane: redrawn a few times a second, not every iteration.
        if (last || pauseRequested || stopRequested || performance.now() - lastPlaneDraw > 400) {
          drawChart(true);
          await refreshViews();
          lastPlaneDraw = performance.now();
        } else drawChart();
        if (stopRequested) return "stop";
        if (pauseRequested && !last) {
          pauseRequested = false;
          setStatus("paused");
          await new Promise<void>((resume) => (resumeLoop = resume));
          resumeLoop = null;
          started = performance.now();
          startedStep = r.step;
          if (stopRequested) return "stop";
          setStatus("training");
        } else await yieldToPage();
        return "go";
      },
    };
    const code = await trainer.main([]);
    drawChart(true);
    setStatus(code === 0 ? "finished" : "stopped");
  } catch (err) {
    const e = err as Error;
    // Errors that say what is wrong (the spec, the data, a NaN loss) are shown as they are; others with their kind.
    const known = e instanceof PlaygroundError || e.name === "TrainingError" || e.name === "DataError";
    setStatus("error", known ? e.message : `${e.name}: ${e.message}`);
  }
}

$("train").addEventListener("click", () => void train(null));
$("pause").addEventListener("click", () => (pauseRequested = true));
$("resume").addEventListener("click", () => resumeLoop?.());
$("step").addEventListener("click", () => {
  if (status === "paused") {
    stepBudget = 1;
    resumeLoop?.();
  } else void train(1);
});
$("stop").addEventListener("click", () => {
  stopRequested = true;
  resumeLoop?.();
});

// ---- downloads -------------------------------------------------------------------------------------

function download(name: string, data: BlobPart, type: string): void {
  const url = URL.createObjectURL(new Blob([data], { type }));
  const a = document.createElement("a");
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

const base = () => specName.replace(/\.gan$/, "");
$("dl-spec").addEventListener("click", () => download(specName, editor.text(), "text/plain"));
$("dl-trainer").addEventListener("click", () => {
  try {
    const code = compileTrainer(editor.text(), `specs/${specName}`).code;
    download(`${base()}.trainer.ts`, code, "text/plain");
  } catch (err) {
    setStatus(status, (err as Error).message);
  }
});
$("dl-checkpoint").addEventListener("click", async () => {
  if (!run) return;
  try {
    const bytes = encodeCheckpoint(run.step, await run.checkpointPayload());
    download(checkpointFileName(run.step), bytes as BlobPart, "application/octet-stream");
  } catch (err) {
    setStatus(status, (err as Error).message);
  }
});

// ---- start -----------------------------------------------------------------------------------------

declare global {
  interface Window {
    playground: { state(): unknown };
  }
}
window.playground = {
  state: () => ({
    status,
    spec: specName,
    backend: backendDetail,
    iteration: run?.step ?? 0,
    points: xs.length,
    losses: Object.fromEntries(losses),
    distances,
    modesCovered,
    diagnostics: diagnostics.map(({ code, severity, message, line, column }) => ({ code, severity, message, line, column })),
    lr: run ? Object.fromEntries([...run.optimizers].map(([s, o]) => [s, PageRun.lr(o)])) : {},
    trainer: trainerCode !== null,
    sampleStep: $("samples").dataset.step === undefined ? null : Number($("samples").dataset.step),
  }),
};

for (const [param, id] of [["iterations", "iterations"], ["seed", "seed"], ["backend", "backend-select"]] as const) {
  const v = params.get(param);
  if (v !== null) ($(id) as HTMLInputElement).value = v;
}
if (params.get("seed") === null) ($("seed") as HTMLInputElement).value = "";
($("seed") as HTMLInputElement).placeholder = "spec's";
loadSpec(params.get("spec") ?? "ring8.gan");
setStatus("idle");
