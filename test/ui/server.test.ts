import * as fs from "node:fs";
import * as http from "node:http";
import * as path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { startDashboard, type Dashboard } from "../../src/ui/server.ts";
import { ganc, gancAsync, tmpDir, waitFor } from "../helpers.ts";

function fakeRun(): string {
  const dir = tmpDir("ganc-ui-server-");
  fs.writeFileSync(path.join(dir, "trainer.ts"), ['export const SPEC = {', '  name: "toy",', '  source: "toy.gan",', '  hash: "abc",', '  resolved: "gan \\"toy\\"\\n",', "};", ""].join("\n"));
  fs.mkdirSync(path.join(dir, "samples"));
  fs.writeFileSync(path.join(dir, "metrics.jsonl"), '{"step":10,"d":1}\n');
  fs.writeFileSync(path.join(dir, "samples", "step-0000010.png"), "not really a png");
  fs.writeFileSync(path.join(dir, "settings.json"), "{}");
  return dir;
}

function get(url: string): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get(url, (res) => {
        let body = "";
        res.setEncoding("utf8").on("data", (d: string) => (body += d));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, type: String(res.headers["content-type"]), body }));
      })
      .on("error", reject);
  });
}

/** Server-sent events from `url` until `until` says stop: each as { event, data }. */
function events(url: string, until: (evs: { event: string; data: any }[]) => boolean): Promise<{ event: string; data: any }[]> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, (res) => {
      let buf = "";
      const evs: { event: string; data: any }[] = [];
      res.setEncoding("utf8").on("data", (d: string) => {
        buf += d;
        let i: number;
        while ((i = buf.indexOf("\n\n")) >= 0) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const ev = /^event: (.*)$/m.exec(block)?.[1];
          const data = /^data: (.*)$/m.exec(block)?.[1];
          if (ev && data) evs.push({ event: ev, data: JSON.parse(data) });
        }
        if (until(evs)) {
          req.destroy();
          resolve(evs);
        }
      });
    });
    req.on("error", reject);
  });
}

let open: Dashboard[] = [];
afterEach(async () => {
  await Promise.all(open.map((d) => d.close()));
  open = [];
});

async function start(runDir: string, o: { port?: number; host?: string } = {}): Promise<Dashboard> {
  const d = await startDashboard({ runDir, pollMs: 100, ...o });
  open.push(d);
  return d;
}

describe("dashboard server", () => {
  it("listens on 127.0.0.1 on a free port by default and serves the page, its script and stylesheet", async () => {
    const d = await start(fakeRun());
    expect(d.url).toBe(`http://127.0.0.1:${d.port}/`);
    expect(d.port).toBeGreaterThan(0);
    const page = await get(d.url);
    expect(page.status).toBe(200);
    expect(page.type).toMatch(/text\/html/);
    expect(page.body).toContain('<script src="app.js">');
    const js = await get(d.url + "app.js");
    expect(js.type).toMatch(/javascript/);
    expect(js.body).toContain("EventSource");
    expect((await get(d.url + "app.css")).body).toContain(".uplot");
  });

  it("/api/state is the run folder's history; sample grids are served by name and nothing else is", async () => {
    const d = await start(fakeRun());
    const state = JSON.parse((await get(d.url + "api/state")).body);
    expect(state.rows).toEqual([{ step: 10, d: 1 }]);
    expect(state.samples).toEqual([{ step: 10, name: "step-0000010.png" }]);
    expect(state.info.spec.name).toBe("toy");
    const img = await get(d.url + "samples/step-0000010.png");
    expect([img.status, img.type]).toEqual([200, "image/png"]);
    for (const bad of ["samples/..%2Fsettings.json", "samples/step-0000099.png", "trainer.ts", "settings.json", "../etc/passwd"]) expect((await get(d.url + bad)).status, bad).toBe(404);
  });

  it("/events sends the whole history first, then each row appended to metrics.jsonl and each new sample grid", async () => {
    const dir = fakeRun();
    const d = await start(dir);
    const got = events(d.url + "events", (evs) => evs.some((e) => e.event === "rows") && evs.some((e) => e.event === "samples"));
    // Written while the stream is open: the watcher picks them up (fs.watch or its poll).
    setTimeout(() => {
      fs.appendFileSync(path.join(dir, "metrics.jsonl"), '{"step":20,"d":0.5}\n');
      fs.writeFileSync(path.join(dir, "samples", "step-0000020.png"), "png");
    }, 200);
    const evs = await got;
    expect(evs[0]!.event).toBe("snapshot");
    expect(evs[0]!.data.rows).toEqual([{ step: 10, d: 1 }]);
    expect(evs.find((e) => e.event === "rows")!.data.rows).toEqual([{ step: 20, d: 0.5 }]);
    expect(evs.find((e) => e.event === "samples")!.data.samples).toEqual([{ step: 20, name: "step-0000020.png" }]);
    // A late visitor gets all of it in its snapshot.
    const late = await events(d.url + "events", (e) => e.length > 0);
    expect(late[0]!.data.rows).toHaveLength(2);
    expect(late[0]!.data.samples).toHaveLength(2);
  });

  it("on loopback, a request naming another host (DNS rebinding) is refused", async () => {
    const d = await start(fakeRun());
    const status = (host: string) =>
      new Promise<number>((resolve, reject) => {
        http.get({ host: "127.0.0.1", port: d.port, path: "/api/state", headers: { host } }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        }).on("error", reject);
      });
    expect(await status("evil.example:" + d.port)).toBe(403);
    expect(await status("evil.example")).toBe(403);
    expect(await status(`localhost:${d.port}`)).toBe(200);
    expect(await status(`127.0.0.1:${d.port}`)).toBe(200);
  });

  it("a port in use is a clear error", async () => {
    const d = await start(fakeRun());
    await expect(startDashboard({ runDir: fakeRun(), port: d.port })).rejects.toThrow(`port ${d.port} is in use on 127.0.0.1: choose another with --port`);
  });
});

describe("ganc ui and ganc train --ui: usage errors", () => {
  it("ganc ui on a folder that is not a run folder: exit 2, one line, no stack", () => {
    const r = ganc(["ui", path.join(tmpDir(), "nope")]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^error: no such run folder: .*nope\n$/);
  });

  it("--port and --host without --ui are refused; a bad port is a usage error", () => {
    const r = ganc(["train", "test/fixtures/ring8.gan", "--port", "8000", "--steps", "1"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("--port and --host apply to the dashboard: add --ui");
    const bad = ganc(["ui", tmpDir(), "--port", "70000"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("must be a whole number in 0..65535");
  });
});

describe("ganc train --ui", () => {
  it("a --port in use stops ganc train before it trains: exit 2, the reason in one line", async () => {
    const d = await start(fakeRun());
    const out = path.join(tmpDir(), "run");
    const r = ganc(["train", "test/fixtures/ring8.gan", "--ui", "--port", String(d.port), "--out", out, "--steps", "5"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`error: port ${d.port} is in use on 127.0.0.1: choose another with --port (0 picks a free one)`);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(fs.existsSync(path.join(out, "metrics.jsonl"))).toBe(false);
    expect(fs.existsSync(path.join(out, ".lock"))).toBe(false);
  });

  it("the dashboard's process goes with the trainer's, even when that one is killed (SIGKILL)", async () => {
    const out = path.join(tmpDir(), "run");
    const train = gancAsync(["train", "test/fixtures/ring8.gan", "--ui", "--quiet", "--out", out, "--steps", "1000000", "--histogram-every", "0"]);
    let stderr = "";
    train.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    try {
      await waitFor(() => /^dashboard: http:\/\/127\.0\.0\.1:\d+\/$/m.test(stderr), 60_000);
      const url = /^dashboard: (\S+)$/m.exec(stderr)![1]!;
      expect((await get(url + "api/state")).status).toBe(200);
      train.kill("SIGKILL");
      // The server is gone once its IPC channel closes: the port stops answering.
      let refused = false;
      for (let i = 0; i < 50 && !refused; i++) {
        refused = await get(url + "api/state").then(() => false, () => true);
        if (!refused) await new Promise((r) => setTimeout(r, 200));
      }
      expect(refused, "the dashboard still answers after its trainer was killed").toBe(true);
    } finally {
      if (train.exitCode === null && train.signalCode === null) train.kill("SIGKILL");
    }
  });
});
