import * as fs from "node:fs";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { RunWatcher, type WatchEvent } from "./watch.ts";

/**
 * The live dashboard's server: the page (built into dist/ui by scripts/build-ui.mjs), a snapshot of the
 * run folder as JSON (/api/state), its sample grids (/samples/step-NNNNNNN.png), and /events, a stream
 * of server-sent events: the whole history first (so a reload or a late visitor sees everything), then
 * each new metrics row, sample grid and change of run.json / settings.json / eval.json / the writer.
 * It only reads the folder (RunWatcher); it binds to 127.0.0.1 unless given another host.
 */

/** The package root: from src/ui/server.ts and from dist/chunks/*.js alike. */
const ROOT = fileURLToPath(new URL("../../", import.meta.url));

export class DashboardError extends Error {
  override name = "DashboardError";
}

export interface DashboardOptions {
  runDir: string;
  /** Default 127.0.0.1. */
  host?: string;
  /** 0 (default): any free port. */
  port?: number;
  pollMs?: number;
}

export interface Dashboard {
  url: string;
  port: number;
  close(): Promise<void>;
}

const TYPES: Record<string, string> = { ".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8" };

/** dist/ui, built first when missing or older than the page's sources. */
async function pageDir(): Promise<string> {
  const dir = path.join(ROOT, "dist/ui");
  const build = await import("../../scripts/build-ui.mjs");
  let stale = true;
  try {
    stale = build.uiStale(ROOT);
  } catch {
    // no page sources here (an installed copy with dist/ui only): serve what was built
    stale = !fs.existsSync(path.join(dir, "app.js"));
  }
  if (stale) {
    try {
      await build.buildUi({ root: ROOT, quiet: true });
    } catch (err) {
      throw new DashboardError(`the dashboard's page is not built and building it failed (${(err as Error).message.split("\n")[0]}); run npm run build`);
    }
  }
  return dir;
}

export const isLoopback = (h: string) => /^(127\.\d+\.\d+\.\d+|::1|localhost)$/i.test(h);

/** The name in a Host header: without its port, IPv6 brackets removed. */
export function hostName(header: string): string {
  const m = /^\[([^\]]+)\](?::\d+)?$/.exec(header);
  return m ? m[1]! : header.replace(/:\d+$/, "");
}

export async function startDashboard(opts: DashboardOptions): Promise<Dashboard> {
  const dir = await pageDir();
  const files = new Map<string, { body: Buffer; type: string }>();
  for (const name of ["index.html", "app.js", "app.css"]) files.set(name === "index.html" ? "/" : `/${name}`, { body: fs.readFileSync(path.join(dir, name)), type: TYPES[path.extname(name)]! });

  const watcher = new RunWatcher(opts.runDir, { pollMs: opts.pollMs });
  const clients = new Set<http.ServerResponse>();
  const send = (res: http.ServerResponse, event: string, data: unknown) => res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  watcher.subscribe((e: WatchEvent) => {
    for (const res of clients) send(res, e.type, e);
  });

  const host = opts.host ?? "127.0.0.1";
  const loopback = isLoopback(host);
  const server = http.createServer((req, res) => {
    // On loopback, only pages addressed to this machine by name may read the run: a site whose name is
    // made to point at 127.0.0.1 (DNS rebinding) sends its own name in Host and is refused.
    if (loopback && !isLoopback(hostName(req.headers.host ?? ""))) {
      res.writeHead(403, { "content-type": "text/plain" }).end("this dashboard answers requests for localhost only\n");
      return;
    }
    const url = new URL(req.url ?? "/", "http://localhost");
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { allow: "GET, HEAD" }).end();
      return;
    }
    const file = files.get(url.pathname === "/index.html" ? "/" : url.pathname);
    if (file) {
      res.writeHead(200, { "content-type": file.type, "cache-control": "no-cache" }).end(file.body);
      return;
    }
    if (url.pathname === "/api/state") {
      res.writeHead(200, { "content-type": "application/json", "cache-control": "no-store" }).end(JSON.stringify(watcher.snapshot()));
      return;
    }
    if (url.pathname === "/events") {
      res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-store", connection: "keep-alive" });
      res.write("retry: 1000\n\n");
      send(res, "snapshot", watcher.snapshot());
      clients.add(res);
      req.on("close", () => clients.delete(res));
      return;
    }
    const m = /^\/samples\/([\w.-]+)$/.exec(url.pathname);
    const sample = m ? watcher.sampleFile(m[1]!) : null;
    if (sample) {
      fs.readFile(sample, (err, body) => {
        if (err) res.writeHead(404, { "content-type": "text/plain" }).end("no such sample grid\n");
        // A grid is never rewritten under its step's name: cached for good (latest.png is not).
        else res.writeHead(200, { "content-type": "image/png", "cache-control": m![1] === "latest.png" ? "no-cache" : "max-age=31536000, immutable" }).end(body);
      });
      return;
    }
    res.writeHead(404, { "content-type": "text/plain" }).end("not found\n");
  });

  // Comments keep idle streams open through proxies and let a closed tab be noticed.
  const heartbeat = setInterval(() => {
    for (const res of clients) res.write(": ping\n\n");
  }, 15_000);
  heartbeat.unref();

  await new Promise<void>((resolve, reject) => {
    server.once("error", (err: NodeJS.ErrnoException) => {
      const where = `${host}:${opts.port ?? 0}`;
      reject(
        new DashboardError(
          err.code === "EADDRINUSE" ? `port ${opts.port} is in use on ${host}: choose another with --port (0 picks a free one)`
          : err.code === "EACCES" ? `not allowed to listen on ${where} (ports below 1024 need privileges)`
          : err.code === "EADDRNOTAVAIL" || err.code === "ENOTFOUND" ? `cannot listen on ${host}: no such address on this machine`
          : `cannot listen on ${where}: ${err.message}`,
        ),
      );
    });
    server.listen(opts.port ?? 0, host, () => resolve());
  });
  watcher.start();
  const port = (server.address() as AddressInfo).port;
  const shown = host.includes(":") ? `[${host}]` : host === "0.0.0.0" ? "127.0.0.1" : host;
  return {
    url: `http://${shown}:${port}/`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        clearInterval(heartbeat);
        watcher.stop();
        for (const res of clients) res.end();
        clients.clear();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
