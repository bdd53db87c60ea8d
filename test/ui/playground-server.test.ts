import * as fs from "node:fs";
import * as http from "node:http";
import * as path from "node:path";
import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { buildPlayground, playgroundSpecs, playgroundStale } from "../../scripts/build-playground.mjs";
import { PlaygroundServerError, startPlayground } from "../../src/ui/playground-server.ts";
import { gancAsync, ROOT, tmpDir } from "../helpers.ts";

function request(port: number, opts: { path?: string; method?: string; host?: string } = {}): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: "127.0.0.1", port, path: opts.path ?? "/", method: opts.method ?? "GET", headers: opts.host ? { host: opts.host } : {} }, (res) => {
      let body = "";
      res.setEncoding("latin1").on("data", (d: string) => (body += d));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, type: String(res.headers["content-type"]), body }));
    });
    req.on("error", reject).end();
  });
}

/** A folder shaped like a built playground, for the server's own behaviour. */
function fakeBuild(): string {
  const dir = tmpDir("ganc-playground-fake-");
  fs.writeFileSync(path.join(dir, "index.html"), "<!DOCTYPE html><title>p</title>");
  fs.writeFileSync(path.join(dir, "app.js"), "void 0;");
  fs.writeFileSync(path.join(dir, "app.css"), "body{}");
  fs.writeFileSync(path.join(dir, "tfjs-backend-wasm.wasm"), Buffer.from([0, 97, 115, 109]));
  fs.writeFileSync(path.join(dir, "mnist-digits.bin"), Buffer.from("GANCDIG1"));
  return dir;
}

const digest = (dir: string) =>
  Object.fromEntries(fs.readdirSync(dir).sort().map((f) => [f, createHash("sha256").update(fs.readFileSync(path.join(dir, f))).digest("hex")]));

describe("the playground's server", () => {
  it("serves the folder on 127.0.0.1 with the right types, and nothing else", async () => {
    const srv = await startPlayground({ dir: fakeBuild() });
    try {
      expect(srv.url).toBe(`http://127.0.0.1:${srv.port}/`);
      expect(await request(srv.port)).toMatchObject({ status: 200, type: "text/html; charset=utf-8" });
      expect(await request(srv.port, { path: "/index.html" })).toMatchObject({ status: 200, type: "text/html; charset=utf-8" });
      expect(await request(srv.port, { path: "/app.js" })).toMatchObject({ status: 200, type: "text/javascript; charset=utf-8", body: "void 0;" });
      expect(await request(srv.port, { path: "/tfjs-backend-wasm.wasm" })).toMatchObject({ status: 200, type: "application/wasm" });
      expect(await request(srv.port, { path: "/mnist-digits.bin" })).toMatchObject({ status: 200, type: "application/octet-stream" });
      expect((await request(srv.port, { path: "/../package.json" })).status).toBe(404);
      expect((await request(srv.port, { path: "/nope.js" })).status).toBe(404);
      expect((await request(srv.port, { method: "POST" })).status).toBe(405);
      // DNS rebinding: a page of another site whose name points here is refused.
      expect((await request(srv.port, { host: `evil.example:${srv.port}` })).status).toBe(403);
      expect((await request(srv.port, { host: `localhost:${srv.port}` })).status).toBe(200);
    } finally {
      await srv.close();
    }
  });

  it("says what is wrong with a port in use or a folder that is not a build", async () => {
    const a = await startPlayground({ dir: fakeBuild() });
    try {
      await expect(startPlayground({ dir: fakeBuild(), port: a.port })).rejects.toThrow(new PlaygroundServerError(`port ${a.port} is in use on 127.0.0.1: choose another with --port (0 picks a free one)`));
    } finally {
      await a.close();
    }
    await expect(startPlayground({ dir: tmpDir("ganc-empty-") })).rejects.toThrow(/holds no index\.html: run npm run build:playground/);
  });

  it("ganc playground prints its URL and stops on Ctrl-C; a bad port is a usage error", async () => {
    const child = gancAsync(["playground", "--port", "0"]);
    let err = "";
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no URL in 300 s; stderr:\n${err}`)), 300_000);
      child.stderr!.setEncoding("utf8").on("data", (d: string) => {
        err += d;
        const m = /^playground: (http:\/\/127\.0\.0\.1:\d+\/) \(Ctrl-C to stop\)$/m.exec(err);
        if (m) {
          clearTimeout(timer);
          resolve(m[1]!);
        }
      });
    });
    const port = Number(new URL(url).port);
    const page = await request(port);
    expect(page.status).toBe(200);
    expect(page.body).toContain("ganc playground");
    const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
    child.kill("SIGINT");
    expect(await exited).toBe(0);

    const bad = gancAsync(["playground", "--port", "70000"]);
    let badErr = "";
    bad.stderr!.setEncoding("utf8").on("data", (d: string) => (badErr += d));
    expect(await new Promise((resolve) => bad.on("exit", (code) => resolve(code)))).toBe(2);
    expect(badErr).toMatch(/^error: .*70000/m);
  }, 330_000);
});

describe("scripts/build-playground.mjs", () => {
  it("builds a static folder (page, bundle, styles, wasm binaries), the same bytes every time, ring8 first among the specs", async () => {
    const a = tmpDir("ganc-playground-build-");
    const b = tmpDir("ganc-playground-build-");
    await buildPlayground({ out: a, quiet: true });
    await buildPlayground({ out: b, quiet: true });
    const da = digest(a);
    expect(Object.keys(da)).toEqual(["app.css", "app.js", "index.html", "mnist-digits.bin", "tfjs-backend-wasm-simd.wasm", "tfjs-backend-wasm-threaded-simd.wasm", "tfjs-backend-wasm.wasm"]);
    expect(digest(b)).toEqual(da);
    const js = fs.readFileSync(path.join(a, "app.js"), "utf8");
    expect(js).not.toContain(ROOT); // no absolute paths of the machine that built it
    expect(js).toContain("cm-editor"); // CodeMirror, bundled
    expect(js).toContain("u-legend"); // uPlot
    expect(js).toContain("did you mean"); // the checker's messages: the front end is in the bundle
    const specs = playgroundSpecs();
    expect(specs[0]!.name).toBe("ring8.gan");
    expect(specs.map((s) => s.name)).toEqual(expect.arrayContaining(["gan.gan", "dcgan.gan", "wgan_gp.gan", "grid25.gan"].filter((f) => fs.existsSync(path.join(ROOT, "specs", f)))));
    expect(js).toContain(JSON.stringify(specs[0]!.text).slice(1, 60));
    expect(playgroundStale(ROOT, a)).toBe(false);
    const past = Date.now() / 1000 - 10 * 365 * 86400;
    fs.utimesSync(path.join(a, "index.html"), past, past);
    expect(playgroundStale(ROOT, a)).toBe(true);
  }, 240_000);
});
