import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { chromium as playwright, type Browser, type Page } from "playwright-core";
import { startPlayground, type PlaygroundServer } from "../../src/ui/playground-server.ts";
import { CHROMIUM } from "../browser.ts";
import { ganc, readJsonl, ROOT, tmpDir } from "../helpers.ts";

/**
 * The playground in a real headless Chromium (this machine's, driven by playwright-core): a spec typed with
 * an error shows the checker's diagnostic at its line (what `ganc check` says), clicking it selects the
 * mistake and typing fixes it; ring8 trains 200 iterations in the page on the wasm backend, the chart has
 * 200 points, the generated points moved toward the modes (measured in the page), and every loss equals
 * what `ganc train --backend wasm` computes in Node with the same seed. Then the controls (step, pause,
 * learning rate, resume) and the downloads: the checkpoint and trainer the page gives are a run folder that
 * `ganc sample` and `ganc export` read; gan.gan on the embedded digits gives ganc train's losses and a sample grid. No console errors. Screenshots go to test-artifacts/playground/.
 */

const ARTIFACTS = path.join(ROOT, "test-artifacts/playground");

if (!CHROMIUM) console.warn("playground browser test skipped: no chromium on this machine (apt install chromium)");

interface State {
  status: string;
  iteration: number;
  points: number;
  losses: Record<string, number[]>;
  distances: { step: number; value: number }[];
  modesCovered: number | null;
  diagnostics: { code: string; severity: string; message: string; line: number; column: number }[];
  lr: Record<string, number>;
  backend: string;
  spec: string;
  sampleStep: number | null;
}

const state = (page: Page) => page.evaluate(() => (window as unknown as { playground: { state(): unknown } }).playground.state()) as Promise<State>;

async function poll(page: Page, cond: (s: State) => boolean, timeoutMs: number, what: string): Promise<State> {
  const end = Date.now() + timeoutMs;
  let s = await state(page);
  while (!cond(s)) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}; the page shows ${JSON.stringify({ ...s, losses: Object.keys(s.losses), distances: s.distances.length })} ${await page.textContent("#message")}`);
    await new Promise((r) => setTimeout(r, 200));
    s = await state(page);
  }
  return s;
}

let browser: Browser | null = null;
let server: PlaygroundServer | null = null;
afterAll(async () => {
  await browser?.close();
  await server?.close();
});

describe.skipIf(!CHROMIUM)("the playground in headless Chromium", () => {
  it("checks a typed spec, trains ring8 200 iterations in the page as ganc train does, and hands out a checkpoint ganc sample reads", async () => {
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    const scratch = tmpDir("ganc-playground-");
    // The Node run the page must match: same spec, seed, backend and iterations, losses logged every iteration.
    // (GANC_BLAS=off: the pure wasm kernels, as in the page, not a native BLAS.)
    const nodeOut = path.join(scratch, "node-run");
    const nodeRun = new Promise<number>((resolve) => {
      const child = spawn(process.execPath, [path.join(ROOT, "bin/ganc.mjs"), "train", "specs/ring8.gan", "--backend", "wasm", "--seed", "1", "--steps", "200", "--log-every", "1", "--histogram-every", "0", "--out", nodeOut, "--quiet"], {
        cwd: ROOT,
        env: { ...process.env, GANC_BLAS: "off", NO_COLOR: "1" },
        stdio: "ignore",
      });
      child.on("exit", (code) => resolve(code ?? -1));
    });

    server = await startPlayground();
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    browser = await playwright.launch({ executablePath: CHROMIUM!, args: ["--no-sandbox", "--disable-gpu"] });
    const context = await browser.newContext({ viewport: { width: 1400, height: 960 }, acceptDownloads: true });
    const page = await context.newPage();
    const errors: string[] = [];
    page.on("console", (m) => m.type() === "error" && errors.push(m.text()));
    page.on("pageerror", (e) => errors.push(`uncaught: ${e.message}`));
    await page.goto(`${server.url}?backend=wasm&iterations=200&seed=1`);
    await poll(page, (s) => s.status === "idle" && s.diagnostics.length === 0, 30_000, "ring8 loaded and checked");

    // Type a spec with a mistake on line 11: the diagnostic `ganc check` gives, at that line.
    const ring8 = fs.readFileSync(path.join(ROOT, "specs/ring8.gan"), "utf8");
    const bad = ring8.replace(/^ {2}dense 2$/m, "  dnse 2");
    expect(bad.split("\n")[10]).toBe("  dnse 2");
    fs.writeFileSync(path.join(scratch, "ring8.gan"), bad);
    const cli = JSON.parse(ganc(["check", "--json", path.join(scratch, "ring8.gan")]).stdout) as { code: string; message: string; line: number; column: number }[];
    expect(cli.map((d) => [d.code, d.line])).toEqual([["E0101", 11]]);
    await page.click("#editor .cm-content");
    await page.keyboard.press("Control+A");
    await page.keyboard.press("Delete");
    await page.keyboard.insertText(bad);
    const checked = await poll(page, (s) => s.diagnostics.length > 0, 10_000, "the diagnostic of the typed spec");
    expect(checked.diagnostics).toEqual(cli.map((d) => ({ code: d.code, severity: "error", message: d.message, line: d.line, column: d.column })));
    // The editor marks it on line 11: the lint gutter's marker sits beside that line's number.
    const marked = await page.evaluate(() => {
      const gutter = document.querySelector(".cm-gutter-lint");
      const marker = gutter?.querySelector(".cm-lint-marker-error");
      if (!marker) return null;
      const y = marker.getBoundingClientRect().top + 2;
      const numbers = [...document.querySelectorAll(".cm-lineNumbers .cm-gutterElement")];
      return numbers.find((n) => Math.abs(n.getBoundingClientRect().top - y) < 8)?.textContent ?? "no line there";
    });
    expect(marked).toBe("11");
    expect(await page.locator(".cm-lintRange-error").first().textContent()).toBe("dnse");
    await page.screenshot({ path: path.join(ARTIFACTS, "1-diagnostic.png") });
    // Training refuses while the spec has errors, saying where.
    await page.click("#train");
    await poll(page, (s) => s.status === "error", 5_000, "the refusal to train");
    expect(await page.textContent("#message")).toContain("line 11");

    // Fix it: clicking the diagnostic selects the mistake; typing replaces it.
    await page.click("#diagnostics li[data-line='11']");
    await page.keyboard.type("dense");
    await poll(page, (s) => s.diagnostics.length === 0, 10_000, "no diagnostics after the fix");
    expect(await page.evaluate(() => document.querySelector("#diagnostics")!.textContent)).toContain("no problems");

    // Train 200 iterations in the page.
    await page.click("#train");
    const done = await poll(page, (s) => s.status === "finished" || s.status === "error", 480_000, "200 iterations trained in the page");
    expect(done.status, await page.textContent("#message") ?? "").toBe("finished");
    expect(done.backend).toMatch(/^wasm/);
    expect(done.iteration).toBe(200);
    expect(done.points).toBe(200);
    expect(await page.locator("#chart").getAttribute("data-points")).toBe("200");
    expect(await page.locator("#plane").getAttribute("data-step")).toBe("200");
    // The generated points moved toward the modes: their mean distance to the nearest mode (computed in the
    // page on 512 points of fixed noise) before training and after.
    const first = done.distances[0]!;
    const last = done.distances[done.distances.length - 1]!;
    expect(first.step).toBe(0);
    expect(last.step).toBe(200);
    expect(last.value).toBeLessThan(0.75 * first.value);
    await page.screenshot({ path: path.join(ARTIFACTS, "2-trained.png") });

    // The losses of `ganc train` in Node on the same backend, iteration by iteration.
    expect(await nodeRun).toBe(0);
    const rows = readJsonl(path.join(nodeOut, "metrics.jsonl"));
    expect(rows.map((r) => r.step)).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
    for (const name of ["d", "d_real", "d_fake", "g"]) expect(done.losses[name], name).toEqual(rows.map((r) => r[name]));

    // Controls: Step from idle trains one iteration and pauses; the learning rate changes while paused;
    // Step again, then Resume to the end.
    await page.fill("#iterations", "12");
    await page.click("#step");
    let s = await poll(page, (x) => x.status === "paused", 60_000, "paused after one step");
    expect(s.iteration).toBe(1);
    expect(s.points).toBe(1);
    expect(await page.locator("#lr input[data-step='d']").isEnabled()).toBe(true);
    await page.fill("#lr input[data-step='d']", "0.0005");
    await page.locator("#lr input[data-step='d']").dispatchEvent("change");
    s = await state(page);
    expect(s.lr).toEqual({ d: 0.0005, g: 0.001 });
    await page.click("#step");
    s = await poll(page, (x) => x.status === "paused" && x.iteration === 2, 60_000, "paused after the second step");
    await page.click("#resume");
    s = await poll(page, (x) => x.status === "finished", 120_000, "the short run finished");
    expect(s.iteration).toBe(12);
    expect(s.points).toBe(12);
    expect(s.lr.d).toBe(0.0005);
    // The first iteration is the same as before (same seed), the third differs (D's learning rate halved at 2).
    expect(s.losses.d![0]).toBe(done.losses.d![0]);
    expect(s.losses.d![2]).not.toBe(done.losses.d![2]);

    // Downloads: the spec, the trainer and a checkpoint; as a run folder, ganc sample reads them.
    const take = async (button: string) => {
      const [dl] = await Promise.all([page.waitForEvent("download"), page.click(button)]);
      const file = path.join(scratch, dl.suggestedFilename());
      await dl.saveAs(file);
      return file;
    };
    const specFile = await take("#dl-spec");
    expect(path.basename(specFile)).toBe("ring8.gan");
    expect(fs.readFileSync(specFile, "utf8")).toBe(ring8);
    const trainerFile = await take("#dl-trainer");
    expect(path.basename(trainerFile)).toBe("ring8.trainer.ts");
    const ckpt = await take("#dl-checkpoint");
    expect(path.basename(ckpt)).toBe("ckpt-00000012.ganckpt");
    const runDir = path.join(scratch, "from-page");
    fs.mkdirSync(path.join(runDir, "checkpoints"), { recursive: true });
    fs.copyFileSync(trainerFile, path.join(runDir, "trainer.ts"));
    fs.copyFileSync(ckpt, path.join(runDir, "checkpoints", path.basename(ckpt)));
    const png = path.join(scratch, "sample.png");
    const sampled = ganc(["sample", runDir, "-n", "64", "-o", png]);
    expect(sampled.code, sampled.stderr).toBe(0);
    expect(fs.statSync(png).size).toBeGreaterThan(100);
    const exported = ganc(["export", runDir, "-o", path.join(scratch, "export"), "-q"]);
    expect(exported.code, exported.stderr).toBe(0);
    expect(JSON.parse(fs.readFileSync(path.join(scratch, "export", "model.json"), "utf8")).format).toBe("layers-model");

    // Image data: gan.gan on the embedded digits, a few iterations; the sample grid, and ganc train's losses.
    const ganOut = path.join(scratch, "node-gan");
    const ganRun = new Promise<number>((resolve) => {
      const child = spawn(process.execPath, [path.join(ROOT, "bin/ganc.mjs"), "train", "specs/gan.gan", "--backend", "wasm", "--seed", "1", "--steps", "3", "--log-every", "1", "--histogram-every", "0", "--out", ganOut, "--quiet"], {
        cwd: ROOT,
        env: { ...process.env, GANC_BLAS: "off", NO_COLOR: "1" },
        stdio: "ignore",
      });
      child.on("exit", (code) => resolve(code ?? -1));
    });
    await page.selectOption("#spec-select", "gan.gan");
    await poll(page, (x) => x.spec === "gan.gan" && x.diagnostics.length === 0, 10_000, "gan.gan loaded and checked");
    await page.fill("#iterations", "3");
    await page.click("#train");
    const gan = await poll(page, (x) => x.status === "finished" || x.status === "error", 300_000, "gan.gan trained 3 iterations");
    expect(gan.status, (await page.textContent("#message")) ?? "").toBe("finished");
    expect(gan.sampleStep).toBe(3);
    expect(await page.locator("#plane-box").isHidden()).toBe(true);
    // The grid is 64 samples of 28x28 with 1-pixel borders, and not blank.
    const grid = await page.evaluate(() => {
      const c = document.getElementById("samples") as HTMLCanvasElement;
      const d = c.getContext("2d")!.getImageData(0, 0, c.width, c.height).data;
      const at = (x: number, y: number) => d[(y * c.width + x) * 4]!;
      // The first tile's pixels (G's output after 3 iterations: greys around sigmoid(0)), and a border pixel.
      const tile: number[] = [];
      for (let y = 1; y <= 28; y++) for (let x = 1; x <= 28; x++) tile.push(at(x, y));
      return { w: c.width, h: c.height, border: at(0, 0), opaque: d[3], tileMin: Math.min(...tile), tileMax: Math.max(...tile) };
    });
    expect(grid).toMatchObject({ w: 8 * 29 + 1, h: 8 * 29 + 1, border: 64, opaque: 255 });
    expect(grid.tileMin).toBeGreaterThan(64);
    expect(grid.tileMax).toBeLessThan(255);
    expect(grid.tileMax).toBeGreaterThan(grid.tileMin); // not one flat colour
    await page.screenshot({ path: path.join(ARTIFACTS, "3-digits.png") });
    expect(await ganRun).toBe(0);
    const ganRows = readJsonl(path.join(ganOut, "metrics.jsonl"));
    for (const name of ["d", "d_real", "d_fake", "g"]) expect(gan.losses[name], name).toEqual(ganRows.map((r) => r[name]));

    expect(errors).toEqual([]);
  }, 900_000);

  it("with backend auto picks the first of WebGPU, WebGL, wasm, cpu that works here, says which, and trains", async () => {
    server ??= await startPlayground();
    browser ??= await playwright.launch({ executablePath: CHROMIUM!, args: ["--no-sandbox", "--disable-gpu"] });
    const page = await browser.newPage({ viewport: { width: 1400, height: 960 } });
    const errors: string[] = [];
    page.on("console", (m) => m.type() === "error" && errors.push(m.text()));
    page.on("pageerror", (e) => errors.push(`uncaught: ${e.message}`));
    await page.goto(`${server.url}?iterations=5&seed=1`);
    await poll(page, (s) => s.status === "idle" && s.diagnostics.length === 0, 30_000, "ring8 loaded and checked");
    await page.click("#train");
    const s = await poll(page, (x) => x.status === "finished" || x.status === "error", 120_000, "5 iterations on the automatic backend");
    expect(s.status, (await page.textContent("#message")) ?? "").toBe("finished");
    expect(s.backend).toMatch(/^(webgpu|webgl|wasm|cpu)/);
    expect(await page.textContent("#backend")).toBe(s.backend);
    expect(s.points).toBe(5);
    expect(errors).toEqual([]);
    await page.close();
  }, 300_000);

  it("on WebGPU (Chromium's SwiftShader adapter) with ganc's WGSL kernels, ring8 trains in the page to ganc train's losses within float32 rounding", async () => {
    server ??= await startPlayground();
    // a browser of its own: WebGPU on SwiftShader, the Vulkan device on the CPU that Chromium ships
    const gpuBrowser = await playwright.launch({ executablePath: CHROMIUM!, args: ["--no-sandbox", "--enable-unsafe-webgpu", "--use-webgpu-adapter=swiftshader"] });
    try {
      const page = await gpuBrowser.newPage({ viewport: { width: 1400, height: 960 } });
      const errors: string[] = [];
      page.on("console", (m) => m.type() === "error" && errors.push(m.text()));
      page.on("pageerror", (e) => errors.push(`uncaught: ${e.message}`));
      await page.goto(`${server.url}?iterations=5&seed=1&backend=webgpu`);
      const adapter = await page.evaluate(async () => !!(await (navigator as unknown as { gpu?: { requestAdapter(): Promise<unknown> } }).gpu?.requestAdapter()));
      if (!adapter) {
        console.warn("skipped the playground on WebGPU: this Chromium gives no SwiftShader WebGPU adapter");
        return;
      }
      await poll(page, (s) => s.status === "idle" && s.diagnostics.length === 0, 30_000, "ring8 loaded and checked");
      await page.click("#train");
      const s = await poll(page, (x) => x.status === "finished" || x.status === "error", 240_000, "5 iterations on WebGPU");
      expect(s.status, (await page.textContent("#message")) ?? "").toBe("finished");
      expect(s.backend).toBe("webgpu (ganc training kernels)");
      const out = path.join(tmpDir(), "ring8-cpu");
      expect(ganc(["train", "specs/ring8.gan", "--seed", "1", "--steps", "5", "--log-every", "1", "--backend", "cpu", "--out", out]).code).toBe(0);
      const rows = readJsonl(path.join(out, "metrics.jsonl"));
      for (const name of ["d", "d_real", "d_fake", "g"]) {
        expect(s.losses[name], name).toHaveLength(5);
        s.losses[name]!.forEach((v, i) => expect(Math.abs(v - rows[i]![name]!), `${name} at ${i + 1}`).toBeLessThan(1e-5 * Math.abs(rows[i]![name]!)));
      }
      expect(errors).toEqual([]);
    } finally {
      await gpuBrowser.close();
    }
  }, 300_000);
});
