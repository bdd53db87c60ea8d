import type { ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { chromium as playwright, type Browser, type Page } from "playwright-core";
import { CHROMIUM } from "../browser.ts";
import { gancAsync, readJsonl, ROOT, tmpDir, waitFor } from "../helpers.ts";

/**
 * The live dashboard in a real headless Chromium (this machine's, driven by playwright-core): it follows
 * a short run of `ganc train --ui` (charts gain points, the sample grid changes, no console errors), and
 * `ganc ui` on the finished folder shows the whole history, quality metrics included. Screenshots go to test-artifacts/dashboard/.
 */

const ARTIFACTS = path.join(ROOT, "test-artifacts/dashboard");

if (!CHROMIUM) console.warn("dashboard browser test skipped: no chromium on this machine (apt install chromium)");

/** What the page shows: points per chart, the sample grid's iteration, the slider's range, status text. */
async function pageState(page: Page) {
  return page.evaluate(() => {
    const charts: Record<string, number> = {};
    for (const el of document.querySelectorAll<HTMLElement>(".chart[data-key]")) charts[el.dataset.key!] = Number(el.dataset.points);
    const img = document.getElementById("sample-img") as HTMLImageElement;
    const slider = document.getElementById("sample-slider") as HTMLInputElement;
    return {
      charts,
      sampleStep: img.dataset.step ? Number(img.dataset.step) : null,
      sampleLoaded: img.complete && img.naturalWidth > 0,
      samples: Number(slider.max) + 1,
      status: document.getElementById("status")!.textContent,
      iteration: document.getElementById("iteration")!.textContent,
      title: document.getElementById("title")!.textContent,
      spec: document.getElementById("spec")!.textContent,
      backend: document.getElementById("backend")!.textContent,
      eta: document.getElementById("eta")!.textContent,
    };
  });
}

async function poll<T>(page: Page, cond: (s: Awaited<ReturnType<typeof pageState>>) => boolean, timeoutMs: number, what: string) {
  const end = Date.now() + timeoutMs;
  let s = await pageState(page);
  while (!cond(s)) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}; the page shows ${JSON.stringify({ ...s, spec: s.spec?.slice(0, 40) })}`);
    await new Promise((r) => setTimeout(r, 150));
    s = await pageState(page);
  }
  return s;
}

/** The first line matching `re` on the child's stderr. */
function lineFrom(child: ChildProcess, re: RegExp, timeoutMs: number): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    let buf = "";
    const timer = setTimeout(() => reject(new Error(`no line matching ${re} in ${timeoutMs} ms; stderr so far:\n${buf}`)), timeoutMs);
    child.stderr!.setEncoding("utf8").on("data", (d: string) => {
      buf += d;
      const m = re.exec(buf);
      if (m) {
        clearTimeout(timer);
        resolve(m);
      }
    });
  });
}

let browser: Browser | null = null;
const children: ChildProcess[] = [];
afterAll(async () => {
  await browser?.close();
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGINT");
});

describe.skipIf(!CHROMIUM)("the live dashboard in headless Chromium", () => {
  it("follows ganc train --ui while it trains, and ganc ui shows the finished run's whole history", async () => {
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    const out = path.join(tmpDir("ganc-ui-browser-"), "run");
    // ring8 trains fast on any backend; enough iterations that the page sees the run at several points.
    const train = gancAsync(["train", "test/fixtures/ring8.gan", "--ui", "--out", out, "--steps", "2400", "--log-every", "20", "--sample-every", "200", "--checkpoint-every", "2400", "--eval-every", "800", "--histogram-every", "0", "--seed", "1"]);
    children.push(train);
    let trainStderr = "";
    train.stderr.on("data", (d: Buffer) => (trainStderr += d.toString()));
    const exited = new Promise<number>((resolve) => train.on("exit", (code) => resolve(code ?? -1)));
    const url = (await lineFrom(train, /^dashboard: (http:\/\/127\.0\.0\.1:\d+\/)$/m, 60_000))[1]!;

    browser = await playwright.launch({ executablePath: CHROMIUM!, args: ["--no-sandbox", "--disable-gpu"] });
    const page = await browser.newPage({ viewport: { width: 1360, height: 1000 } });
    // Console errors and uncaught exceptions while the run trains (after it ends the server goes, and the
    // page's reconnect attempts are expected to fail).
    let runEnded = false;
    void exited.then(() => (runEnded = true));
    const errors: string[] = [];
    page.on("console", (m) => {
      if (m.type() === "error" && !runEnded) errors.push(m.text());
    });
    page.on("pageerror", (e) => errors.push(`uncaught: ${e.message}`));
    await page.goto(url);

    // Early: the run is training and the page has its first points and grid.
    const early = await poll(page, (s) => s.status === "training" && (s.charts.d ?? 0) >= 2 && s.sampleStep !== null && s.sampleLoaded, 200_000, "the first points and sample grid while training");
    await page.screenshot({ path: path.join(ARTIFACTS, "1-training-early.png"), fullPage: true });
    expect(early.title).toBe("ring8-test");
    expect(early.spec).toContain('gan "ring8-test"');
    expect(early.backend).not.toBe("–");
    // Later, still training: more points on every loss chart, a newer sample grid.
    const later = await poll(page, (s) => s.status === "training" && s.charts.d! > early.charts.d! + 4 && s.charts.g! > early.charts.g! && s.sampleStep! > early.sampleStep! && s.sampleLoaded, 200_000, `more points and a newer sample grid while training than at first (${JSON.stringify(early.charts)}, grid ${early.sampleStep})`);
    // The viewport only: docs/dashboard.png (the README's picture) is this screenshot.
    await page.screenshot({ path: path.join(ARTIFACTS, "2-training-later.png") });
    expect(later.samples).toBeGreaterThan(early.samples);
    expect(later.eta).toMatch(/\d+ (s|min|h)/);
    expect(errors).toEqual([]);

    expect(await exited, trainStderr).toBe(0);
    expect(trainStderr).toContain(`dashboard stopped with the run; ganc ui ${out} serves it again`);

    // Opened after the run: `ganc ui` on the folder shows all of it.
    const ui = gancAsync(["ui", out, "--port", "0"]);
    children.push(ui);
    const uiUrl = (await lineFrom(ui, /^dashboard for .*: (http:\/\/127\.0\.0\.1:\d+\/) \(Ctrl-C to stop\)$/m, 30_000))[1]!;
    const late = await browser.newPage({ viewport: { width: 1360, height: 900 } });
    const lateErrors: string[] = [];
    late.on("console", (m) => m.type() === "error" && lateErrors.push(m.text()));
    late.on("pageerror", (e) => lateErrors.push(`uncaught: ${e.message}`));
    await late.goto(uiUrl);
    const rows = readJsonl(path.join(out, "metrics.jsonl"));
    const grids = fs.readdirSync(path.join(out, "samples")).filter((f) => /^step-\d+\.png$/.test(f));
    const done = await poll(late, (s) => s.status === "finished" && s.charts.d === rows.length && s.sampleLoaded, 30_000, "the finished run's history");
    expect(rows.length).toBe(120);
    expect(done.charts.g).toBe(rows.length);
    expect(done.charts.itPerSec).toBe(rows.length);
    expect(done.samples).toBe(grids.length);
    // The run's quality metrics (toy data: modes covered, share of high-quality samples), in their panel.
    const evalRows = rows.filter((r) => typeof r.modesCovered === "number");
    expect(evalRows.map((r) => r.step)).toEqual([800, 1600, 2400]);
    expect(done.charts.modesCovered).toBe(3);
    expect(done.charts.highQuality).toBe(3);
    expect(await late.locator("#quality-panel").isVisible()).toBe(true);
    expect(done.sampleStep).toBe(2400);
    expect(done.iteration).toBe("2400 / 2400");
    await late.screenshot({ path: path.join(ARTIFACTS, "3-finished.png") });
    // The slider goes back over earlier grids.
    await late.locator("#sample-slider").fill("0");
    await poll(late, (s) => s.sampleStep === 200 && s.sampleLoaded, 10_000, "the first grid after moving the slider");
    expect(lateErrors).toEqual([]);
    ui.kill("SIGINT");
    await waitFor(() => ui.exitCode !== null || ui.signalCode !== null, 10_000);
    expect(ui.exitCode).toBe(0);
    // Minutes on a loaded machine: a real run, followed twice.
  }, 600_000);
});
