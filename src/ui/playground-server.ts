import * as fs from "node:fs";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { hostName, isLoopback } from "./server.ts";

/**
 * `ganc playground`: serves the playground's static folder (dist/playground, built by
 * scripts/build-playground.mjs, first when missing or older than the sources) on 127.0.0.1 unless given
 * another host. Everything happens in the page; the server only hands out files.
 */

/** The package root: from src/ui/ and from dist/chunks/ alike. */
const ROOT = fileURLToPath(new URL("../../", import.meta.url));

export class PlaygroundServerError extends Error {
  override name = "PlaygroundServerError";
}

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".wasm": "application/wasm",
  ".bin": "application/octet-stream",
};

async function playgroundDir(): Promise<string> {
  const dir = path.join(ROOT, "dist/playground");
  let stale = true;
  let build: typeof import("../../scripts/build-playground.mjs") | null = null;
  try {
    build = await import("../../scripts/build-playground.mjs");
    stale = build.playgroundStale(ROOT, dir);
  } catch {
    // an installed copy with dist/playground only: serve what was built
    stale = !fs.existsSync(path.join(dir, "app.js"));
  }
  if (stale) {
    try {
      if (!build) throw new Error("scripts/build-playground.mjs is missing");
      await build.buildPlayground({ root: ROOT, out: dir, quiet: true });
    } catch (err) {
      throw new PlaygroundServerError(`the playground is not built and building it failed (${(err as Error).message.split("\n")[0]}); run npm run build:playground`);
    }
  }
  return dir;
}

export interface PlaygroundServer {
  url: string;
  port: number;
  close(): Promise<void>;
}

export async function startPlayground(opts: { host?: string; port?: number; dir?: string } = {}): Promise<PlaygroundServer> {
  const dir = opts.dir ?? (await playgroundDir());
  const files = new Map<string, { body: Buffer; type: string }>();
  for (const name of fs.readdirSync(dir)) {
    const type = TYPES[path.extname(name)];
    if (type) files.set(name === "index.html" ? "/" : `/${name}`, { body: fs.readFileSync(path.join(dir, name)), type });
  }
  if (!files.has("/")) throw new PlaygroundServerError(`${dir} holds no index.html: run npm run build:playground`);
  const host = opts.host ?? "127.0.0.1";
  const loopback = isLoopback(host);
  const server = http.createServer((req, res) => {
    // On loopback, only requests addressed to this machine by name (no DNS rebinding).
    if (loopback && !isLoopback(hostName(req.headers.host ?? ""))) {
      res.writeHead(403, { "content-type": "text/plain" }).end("this playground answers requests for localhost only\n");
      return;
    }
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { allow: "GET, HEAD" }).end();
      return;
    }
    const url = new URL(req.url ?? "/", "http://localhost");
    const file = files.get(url.pathname === "/index.html" ? "/" : url.pathname);
    if (!file) {
      res.writeHead(404, { "content-type": "text/plain" }).end("not found\n");
      return;
    }
    res.writeHead(200, { "content-type": file.type, "cache-control": "no-cache" }).end(req.method === "HEAD" ? undefined : file.body);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", (err: NodeJS.ErrnoException) => {
      const where = `${host}:${opts.port ?? 0}`;
      reject(
        new PlaygroundServerError(
          err.code === "EADDRINUSE" ? `port ${opts.port} is in use on ${host}: choose another with --port (0 picks a free one)`
          : err.code === "EACCES" ? `not allowed to listen on ${where} (ports below 1024 need privileges)`
          : err.code === "EADDRNOTAVAIL" || err.code === "ENOTFOUND" ? `cannot listen on ${host}: no such address on this machine`
          : `cannot listen on ${where}: ${err.message}`,
        ),
      );
    });
    server.listen(opts.port ?? 0, host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const shown = host.includes(":") ? `[${host}]` : host === "0.0.0.0" ? "127.0.0.1" : host;
  return {
    url: `http://${shown}:${port}/`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
