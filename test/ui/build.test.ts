import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { buildUi, uiStale } from "../../scripts/build-ui.mjs";
import { ROOT, tmpDir } from "../helpers.ts";

/** A copy of the page's sources in a scratch root (node_modules linked), so the real dist/ is left alone. */
function scratchRoot(): string {
  const root = tmpDir("ganc-ui-build-");
  fs.cpSync(path.join(ROOT, "src/ui/page"), path.join(root, "src/ui/page"), { recursive: true });
  fs.symlinkSync(path.join(ROOT, "node_modules"), path.join(root, "node_modules"), "dir");
  return root;
}

const digest = (dir: string) =>
  Object.fromEntries(fs.readdirSync(dir).sort().map((f) => [f, createHash("sha256").update(fs.readFileSync(path.join(dir, f))).digest("hex")]));

describe("scripts/build-ui.mjs", () => {
  it("bundles the page into dist/ui (index.html, app.js with uPlot, app.css), the same bytes every time", async () => {
    const a = scratchRoot();
    const b = scratchRoot();
    expect(uiStale(a)).toBe(true);
    await buildUi({ root: a, quiet: true });
    await buildUi({ root: b, quiet: true });
    const da = digest(path.join(a, "dist/ui"));
    expect(Object.keys(da)).toEqual(["app.css", "app.js", "index.html"]);
    expect(digest(path.join(b, "dist/ui"))).toEqual(da);
    const js = fs.readFileSync(path.join(a, "dist/ui/app.js"), "utf8");
    expect(js).toContain("EventSource");
    expect(js).toContain("uplot"); // uPlot's class names: the library is in the bundle, not fetched
    expect(js).not.toContain(a); // no absolute paths of the machine that built it
    expect(fs.readFileSync(path.join(a, "dist/ui/app.css"), "utf8")).toContain(".u-legend");
  });

  it("is stale when a page source is newer than the build, and fresh after building", async () => {
    const root = scratchRoot();
    await buildUi({ root, quiet: true });
    expect(uiStale(root)).toBe(false);
    const later = Date.now() / 1000 + 60;
    fs.utimesSync(path.join(root, "src/ui/page/app.ts"), later, later);
    expect(uiStale(root)).toBe(true);
  });
});
