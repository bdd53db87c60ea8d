import * as fs from "node:fs";
import * as path from "node:path";
import { pathToFileURL } from "node:url";
import { beforeAll, describe, expect, it } from "vitest";
import { CHROMIUM, chromium, regionStats } from "../browser.ts";
import { ganc, gancInProcess, tmpDir } from "../helpers.ts";

// Commands run inside the test process (gancInProcess) where the test is about what they compute; the tests of
// exit codes and error messages run the real command line (ganc).
// One short run shared by the tests: three sample grids, a dozen log lines.
let run = "";
beforeAll(async () => {
  run = path.join(tmpDir(), "run");
  const r = await gancInProcess(["train", "test/fixtures/mlp-mnist.gan", "--out", run, "--steps", "60", "--sample-every", "20", "--log-every", "5", "--quiet"]);
  expect(r.code, r.stderr).toBe(0);
}, 120_000);

describe("ganc eval", () => {
  it("prints FID, classifier score and class coverage as JSON and keeps them in eval.json", async () => {
    const r = await gancInProcess(["eval", run, "-n", "300", "--json"]);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out).toMatchObject({ spec: "mlp-mnist", data: "mnist", metrics: { kind: "images", samples: 300, reference: 10000 } });
    expect(out.metrics.fid).toBeGreaterThan(0);
    expect(out.metrics.classifierScore).toBeGreaterThanOrEqual(1);
    expect(out.metrics.classCoverage.histogram.reduce((a: number, b: number) => a + b, 0)).toBe(300);
    expect(JSON.parse(fs.readFileSync(path.join(run, "eval.json"), "utf8"))).toEqual(out);
    // Text form: one value a line, nothing on stderr with --quiet.
    // The text form from the real command line (an eval in this process keeps the classifier it loaded).
    const t = ganc(["eval", run, "-n", "300", "--quiet"]);
    expect(t.code).toBe(0);
    expect(t.stdout).toMatch(/^FID \(classifier\): +\d+\.\d{3}/m);
    expect(t.stdout).toMatch(/^class coverage: +\d+ \/ 10/m);
    expect(t.stderr).toBe("");
  }, 60_000);

  it("usage errors exit 2: not a run folder, bad -n", () => {
    const dir = tmpDir();
    let r = ganc(["eval", dir]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/not a run folder/);
    r = ganc(["eval", run, "-n", "1"]);
    expect(r.code).toBe(2);
    r = ganc(["report", path.join(dir, "missing")]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/no such run folder/);
  });
});

describe("ganc report", () => {
  it("writes one self-contained HTML file: a chart per logged value, the sample grids, the resolved spec and the backend", () => {
    const out = path.join(run, "r.html");
    const r = ganc(["report", run, "-o", out]);
    expect(r.code, r.stderr).toBe(0);
    const html = fs.readFileSync(out, "utf8");
    const keys = Object.keys(JSON.parse(fs.readFileSync(path.join(run, "metrics.jsonl"), "utf8").split("\n")[0]!)).filter((k) => k !== "step" && k !== "epoch");
    expect(keys).toEqual(expect.arrayContaining(["d", "g", "itPerSec"]));
    for (const k of keys) expect(html).toContain(`aria-label="${k}"`);
    expect(html.match(/<svg class="chart"/g)!.length).toBe(keys.length);
    // Sample grids of iterations 20, 40, 60, inlined.
    expect(html.match(/<img src="data:image\/png;base64,/g)!.length).toBe(3);
    expect(html).toContain("iteration 60");
    expect(html).toMatch(/net G\(z\) \{ +# z: \[32\] -&gt; \[/); // the resolved spec, shapes as comments
    expect(html).toMatch(/backend<\/th><td>(wasm|cpu|tensorflow)/);
    if (fs.existsSync(path.join(run, "eval.json"))) expect(html).toContain("FID (classifier features)"); // saved by ganc eval
    // No external resources: every src/href is inline.
    expect(html).not.toMatch(/(src|href)="(?!data:)/);
    expect(html).not.toMatch(/https?:\/\//);
    expect(html).not.toMatch(/<script/);
  });

  it.skipIf(!CHROMIUM)("loads in headless Chromium without console errors and shows the charts", () => {
    const out = path.join(run, "r.html");
    if (!fs.existsSync(out)) expect(ganc(["report", run, "-o", out]).code).toBe(0);
    // The page has no script of its own: a checker appended to a copy reports what the browser rendered.
    const probe = path.join(run, "probe.html");
    fs.writeFileSync(
      probe,
      fs.readFileSync(out, "utf8").replace(
        "</body>",
        `<script>addEventListener("load", () => { const imgs = [...document.images]; document.body.dataset.probe = JSON.stringify({ images: imgs.length, decoded: imgs.filter((i) => i.complete && i.naturalWidth > 0).length, charts: document.querySelectorAll("svg.chart polyline").length }); });</script></body>`,
      ),
    );
    const dom = chromium(pathToFileURL(probe).href, ["--dump-dom", "--virtual-time-budget=5000"]);
    expect(dom.code, dom.stderr.slice(-2000)).toBe(0);
    const m = /data-probe="([^"]*)"/.exec(dom.stdout);
    expect(m, dom.stdout.slice(0, 500)).not.toBeNull();
    const probeResult = JSON.parse(m![1]!.replace(/&quot;/g, '"'));
    expect(probeResult.images).toBe(3);
    expect(probeResult.decoded).toBe(3);
    expect(probeResult.charts).toBeGreaterThanOrEqual(5);

    // The report itself, unmodified: no console messages at all, and coloured chart lines on screen.
    const shot = path.join(run, "shot.png");
    const page = chromium(pathToFileURL(out).href, [`--screenshot=${shot}`, "--window-size=1200,900"]);
    expect(page.code, page.stderr.slice(-2000)).toBe(0);
    expect(page.console).toEqual([]);
    const charts = regionStats(shot, { x: 0, y: 130, w: 1200, h: 700 });
    // A control: the same page without metrics has no chart lines there.
    const bare = path.join(tmpDir(), "run");
    fs.mkdirSync(bare);
    for (const f of ["trainer.ts", "run.json"]) fs.copyFileSync(path.join(run, f), path.join(bare, f));
    fs.cpSync(path.join(run, "samples"), path.join(bare, "samples"), { recursive: true });
    expect(ganc(["report", bare]).code).toBe(0);
    const bareShot = path.join(bare, "shot.png");
    expect(chromium(pathToFileURL(path.join(bare, "report.html")).href, [`--screenshot=${bareShot}`, "--window-size=1200,900"]).code).toBe(0);
    const control = regionStats(bareShot, { x: 0, y: 130, w: 1200, h: 700 });
    expect(charts.coloredPixels, `chart region: ${JSON.stringify(charts)}, control: ${JSON.stringify(control)}`).toBeGreaterThan(3000);
    expect(charts.nonWhite).toBeGreaterThan(0.02);
    expect(control.coloredPixels).toBeLessThan(charts.coloredPixels / 20);
  }, 60_000);
});
