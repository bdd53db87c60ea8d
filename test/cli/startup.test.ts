import * as fs from "node:fs";
import * as path from "node:path";
import { spawnSync } from "node:child_process";
import { beforeAll, describe, expect, it } from "vitest";
import { pathToFileURL } from "node:url";
import { freshBuild } from "../../bin/fresh.mjs";
import { LAZY_ENTRIES } from "../../scripts/build.mjs";
import { trainCommand, trainerArgv } from "../../src/cli.ts";
import { trainerCommand } from "../../src/runtime/run-flags.ts";
import { VALIDATE_GRAMMAR } from "../../src/parser/dsl/tokens.ts";
import { ganc, ROOT, tmpDir } from "../helpers.ts";

/**
 * The command starts without loading what it does not need: --version, --help, check, compile,
 * convert and fmt never load tfjs (nor the runtime), from the compiled build (dist/) or from the sources.
 * Which modules a command loaded is recorded by a preloaded hook (test/fixtures/startup), not timed.
 */
const RECORDER = path.join(ROOT, "test/fixtures/startup/record-modules.mjs");

function loadedBy(args: string[], env: NodeJS.ProcessEnv = {}, timeout?: number): { code: number; modules: string[] } {
  const list = path.join(tmpDir("ganc-modules-"), "modules.txt");
  fs.writeFileSync(list, "");
  const r = ganc(args, { timeout, env: { ...process.env, ...env, NODE_OPTIONS: `--import=${RECORDER}`, GANC_RECORD_MODULES: list } });
  return { code: r.code, modules: fs.readFileSync(list, "utf8").split("\n").filter(Boolean) };
}

const tfjs = (m: string) => /@tensorflow\//.test(m);
const fromSrc = (m: string) => m.startsWith(new URL("src/", `file://${ROOT}/`).href);
const COMMANDS = [["--version"], ["--help"], ["train", "--help"], ["check", "specs/gan.gan"], ["check", "specs/gan.gan.yaml"], ["compile", "specs/gan.gan"], ["convert", "specs/gan.gan"], ["fmt", "specs/gan.gan"], ["ui", "--help"], ["check", "test/fixtures/images.gan"]];
/** The language server: its chunk in dist/, its module in src/, the protocol libraries in node_modules. */
const lsp = (m: string) => /\/dist\/chunks\/server-\w+\.js$|\/src\/lsp\/|\/node_modules\/vscode-(languageserver|jsonrpc)/.test(m);
/** The image decoder: an image folder is read at check time for its class names, never decoded. */
const decoder = (m: string) => /\/node_modules\/(sharp|@img)\//.test(m);

beforeAll(() => {
  const r = spawnSync(process.execPath, ["scripts/build.mjs", "--quiet"], { cwd: ROOT, encoding: "utf8" });
  expect(r.status, r.stderr).toBe(0);
});

describe("startup", () => {
  it("the build is fresh right after building", () => {
    expect(freshBuild(ROOT)).toBe(true);
  });

  it("the recorder sees tfjs where a command loads it (ganc train, one iteration)", () => {
    const r = loadedBy(["train", "test/fixtures/ring8.gan", "--steps", "1", "--quiet", "--out", path.join(tmpDir(), "run")]);
    expect(r.code).toBe(0);
    expect(r.modules.some(tfjs)).toBe(true);
  });

  it("ganc train and ganc sample run their trainer on the runtime's bundle (dist/lazy/): no TypeScript, no tsx", () => {
    const run = path.join(tmpDir(), "run");
    const tsx = (m: string) => /\/node_modules\/tsx\//.test(m);
    const lazy = (rel: string) => new URL(`dist/lazy/${rel}`, `file://${ROOT}/`).href;
    for (const args of [["train", "test/fixtures/ring8.gan", "--steps", "1", "--quiet", "--out", run], ["sample", run, "-n", "4", "-o", path.join(run, "s.png")]]) {
      const r = loadedBy(args);
      expect(r.code, args[0]).toBe(0);
      expect(r.modules).toContain(lazy("runtime/index.js"));
      expect(r.modules).toContain(lazy("tools/runfolder.js"));
      expect(r.modules).toContain(pathToFileURL(path.join(run, ".ganc/trainer.exec.mjs")).href);
      expect(r.modules.filter(fromSrc)).toEqual([]);
      expect(r.modules.filter(tsx)).toEqual([]);
    }
    // The stripped trainer is the one ganc train wrote, made again only when the trainer changes.
    const stripped = path.join(run, ".ganc/trainer.exec.mjs");
    expect(fs.readFileSync(stripped, "utf8")).toMatch(/^\/\/ ganc: trainer\.exec\.mts without its types, sha256 [0-9a-f]{64}\n/);
    // From the sources the trainer is TypeScript, compiled by tsx, on src/runtime.
    const src = loadedBy(["sample", run, "-n", "4", "-o", path.join(run, "s2.png")], { GANC_FROM_SOURCE: "1" });
    expect(src.code).toBe(0);
    expect(src.modules).toContain(new URL("src/runtime/index.ts", `file://${ROOT}/`).href);
    expect(src.modules).toContain(pathToFileURL(path.join(run, ".ganc/trainer.exec.mts")).href);
    expect(src.modules.filter((m) => m.includes("/dist/lazy/"))).toEqual([]);
  });

  it("every module src/lazy.ts is asked for is an entry of the bundle (scripts/build.mjs LAZY_ENTRIES)", () => {
    const asked = new Set<string>();
    const visit = (dir: string) => {
      for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
        const f = path.join(dir, e.name);
        if (e.isDirectory()) visit(f);
        else if (f.endsWith(".ts")) for (const m of fs.readFileSync(f, "utf8").matchAll(/loadSource<[^\n]*?>\("([^"]+)"\)/g)) asked.add(m[1]!);
      }
    };
    visit(path.join(ROOT, "src"));
    expect(asked.size).toBeGreaterThan(3);
    for (const rel of asked) expect(LAZY_ENTRIES, rel).toContain(rel);
    for (const rel of LAZY_ENTRIES) expect(fs.existsSync(path.join(ROOT, "dist/lazy", rel.replace(/\.ts$/, ".js"))), rel).toBe(true);
  });

  for (const args of COMMANDS) {
    it(`ganc ${args.join(" ")} runs from dist/ and loads neither tfjs nor TypeScript sources`, () => {
      const r = loadedBy(args);
      expect(r.code).toBe(0);
      expect(r.modules).toContain(new URL("dist/cli.js", `file://${ROOT}/`).href);
      expect(r.modules.filter(tfjs)).toEqual([]);
      expect(r.modules.filter(decoder)).toEqual([]);
      expect(r.modules.filter(fromSrc)).toEqual([]);
      expect(r.modules.filter(lsp)).toEqual([]);
    });
  }

  it("ganc lsp loads the language server (its chunk and the protocol libraries bundled in it); nothing else does", () => {
    // stdin is closed at once: the server starts, sees the editor gone, and exits 0.
    const r = loadedBy(["lsp", "--stdio"]);
    expect(r.code).toBe(0);
    expect(r.modules.filter(lsp)).toHaveLength(1);
    expect(r.modules.filter(tfjs)).toEqual([]);
    for (const args of [["--version"], ["check", "specs/gan.gan"]]) {
      const src = loadedBy(args, { GANC_FROM_SOURCE: "1" });
      expect(src.code).toBe(0);
      expect(src.modules.filter(lsp)).toEqual([]);
    }
    const fromSource = loadedBy(["lsp"], { GANC_FROM_SOURCE: "1" });
    expect(fromSource.code).toBe(0);
    expect(fromSource.modules.some((m) => m.endsWith("/src/lsp/server.ts"))).toBe(true);
    expect(fromSource.modules.some((m) => /\/node_modules\/vscode-languageserver\//.test(m))).toBe(true);
  });

  it("a .gan spec is checked without the YAML front end (yaml, ajv, the schema); a YAML spec loads it", () => {
    // From dist/ the front end is its own chunk, named after src/parser/yaml/load.ts.
    const yamlChunk = (m: string) => /\/dist\/chunks\/load-\w+\.js$/.test(m);
    const yamlPackages = (m: string) => /\/node_modules\/(yaml|ajv)\//.test(m);
    const gan = loadedBy(["check", "specs/gan.gan"]);
    expect(gan.code).toBe(0);
    expect(gan.modules.filter(yamlChunk)).toEqual([]);
    // Nor the code generator (compile.ts's chunk), which only --resolved and compile need.
    expect(gan.modules.filter((m) => /\/dist\/chunks\/compile-\w+\.js$/.test(m))).toEqual([]);
    expect(loadedBy(["compile", "specs/gan.gan"]).modules.filter((m) => /\/dist\/chunks\/compile-\w+\.js$/.test(m))).toHaveLength(1);
    const yaml = loadedBy(["check", "specs/gan.gan.yaml"]);
    expect(yaml.code).toBe(0);
    expect(yaml.modules.filter(yamlChunk)).toHaveLength(1);
    const ganSrc = loadedBy(["check", "specs/gan.gan"], { GANC_FROM_SOURCE: "1" });
    expect(ganSrc.code).toBe(0);
    expect(ganSrc.modules.filter(yamlPackages)).toEqual([]);
    const yamlSrc = loadedBy(["check", "specs/gan.gan.yaml"], { GANC_FROM_SOURCE: "1" });
    expect(yamlSrc.code).toBe(0);
    expect(yamlSrc.modules.some(yamlPackages)).toBe(true);
  });

  it("--version and --help load neither the compiler nor the diagnostic catalog (layers, data sources, functions, codes)", () => {
    const heavy = (m: string) => /\/src\/(layers|data|functions|parser\/check|codegen\/opt\.ts|codegen\/trainer\.ts|parser\/codes\.ts|parser\/print\.ts)/.test(m);
    for (const args of [["--version"], ["--help"]]) {
      const r = loadedBy(args, { GANC_FROM_SOURCE: "1" });
      expect(r.code).toBe(0);
      expect(r.modules.some((m) => m.endsWith("/src/cli.ts"))).toBe(true);
      expect(r.modules.filter(heavy)).toEqual([]);
    }
    // `ganc explain` loads the catalog when it runs.
    const explain = loadedBy(["explain", "E0512"], { GANC_FROM_SOURCE: "1" });
    expect(explain.code).toBe(0);
    expect(explain.modules.some((m) => m.endsWith("/src/parser/codes.ts"))).toBe(true);
  });

  it("--version, --help and check load none of the dashboard (its server, its page's build), from dist/ or the sources", () => {
    const dashboard = (m: string) => /\/dist\/chunks\/(server|build-ui|watch)-\w+\.js$|\/src\/ui\/|\/scripts\/build-ui\.mjs$|\/node_modules\/uplot\//.test(m);
    for (const env of [{}, { GANC_FROM_SOURCE: "1" }]) {
      for (const args of [["--version"], ["--help"], ["check", "specs/gan.gan"]]) {
        const r = loadedBy(args, env);
        expect(r.code).toBe(0);
        expect(r.modules.filter(dashboard), args.join(" ")).toEqual([]);
      }
    }
    // The recorder does see it where it is loaded: ganc ui serving a run folder (stopped after a few seconds).
    const run = tmpDir("ganc-ui-run-");
    fs.writeFileSync(path.join(run, "trainer.ts"), 'export const SPEC = {\n  name: "toy",\n};\n');
    const ui = loadedBy(["ui", run], {}, 8000);
    expect(ui.modules.filter(dashboard).length).toBeGreaterThan(0);
    expect(ui.modules.filter(tfjs)).toEqual([]);
  });

  it("the grammar checks that dist/ skips run here, from the sources", () => {
    expect(VALIDATE_GRAMMAR).toBe(true);
  });

  for (const args of [["--version"], ["check", "specs/gan.gan"]]) {
    it(`ganc ${args.join(" ")} from the sources (GANC_FROM_SOURCE=1) loads no tfjs either`, () => {
      const r = loadedBy(args, { GANC_FROM_SOURCE: "1" });
      expect(r.code).toBe(0);
      expect(r.modules.some(fromSrc)).toBe(true);
      expect(r.modules.filter(tfjs)).toEqual([]);
    });
  }
});

describe("npm run build", () => {
  it("leaves only this build's chunks in dist/chunks (earlier builds' and interrupted ones' files go)", () => {
    const chunks = path.join(ROOT, "dist/chunks");
    const stale = ["chunk-STALE000.js", "chunk-STALE001.js", "chunk-ABC.js.123.tmp"].map((f) => path.join(chunks, f));
    // and in the runtime's bundle: an old chunk, and an entry that is no longer one
    const lazyStale = [path.join(ROOT, "dist/lazy/chunks/chunk-STALE002.js"), path.join(ROOT, "dist/lazy/tools/gone.js")];
    for (const f of [...stale, ...lazyStale]) fs.writeFileSync(f, "export {};\n");
    const hourAgo = Date.now() / 1000 - 7200;
    fs.utimesSync(stale[0]!, hourAgo, hourAgo); // old and recent alike
    const r = spawnSync(process.execPath, ["scripts/build.mjs", "--quiet"], { cwd: ROOT, encoding: "utf8" });
    expect(r.status, r.stderr).toBe(0);
    for (const f of [...stale, ...lazyStale]) expect(fs.existsSync(f), f).toBe(false);
    expect(fs.existsSync(path.join(ROOT, "dist/lazy/runtime/index.js"))).toBe(true);
    // What remains is what the entry and its chunks import, transitively.
    const imported = new Set<string>();
    const visit = (file: string) => {
      for (const m of fs.readFileSync(file, "utf8").matchAll(/["'](\.\/(?:chunks\/)?[\w-]+\.js)["']/g)) {
        const f = path.resolve(path.dirname(file), m[1]!);
        if (path.dirname(f) === chunks && !imported.has(f)) {
          imported.add(f);
          visit(f);
        }
      }
    };
    visit(path.join(ROOT, "dist/cli.js"));
    expect(fs.readdirSync(chunks).map((f) => path.join(chunks, f)).sort()).toEqual([...imported].sort());
    expect(freshBuild(ROOT)).toBe(true);
  });
});

describe("freshBuild: dist/ runs only while newer than every source it was built from", () => {
  function fakeRoot(): string {
    const root = tmpDir("ganc-fresh-");
    fs.mkdirSync(path.join(root, "dist"));
    fs.mkdirSync(path.join(root, "src"));
    fs.writeFileSync(path.join(root, "src/a.ts"), "");
    fs.writeFileSync(path.join(root, "dist/build.json"), JSON.stringify({ inputs: ["src/a.ts"] }));
    fs.writeFileSync(path.join(root, "dist/cli.js"), "");
    const t = Date.now() / 1000;
    fs.utimesSync(path.join(root, "src/a.ts"), t - 60, t - 60);
    fs.utimesSync(path.join(root, "dist/cli.js"), t - 30, t - 30);
    return root;
  }
  it("fresh", () => expect(freshBuild(fakeRoot())).toBe(true));
  it("a source edited after the build", () => {
    const root = fakeRoot();
    fs.utimesSync(path.join(root, "src/a.ts"), new Date(), new Date());
    expect(freshBuild(root)).toBe(false);
  });
  it("a source it was built from is gone", () => {
    const root = fakeRoot();
    fs.rmSync(path.join(root, "src/a.ts"));
    expect(freshBuild(root)).toBe(false);
  });
  it("no build", () => {
    const root = fakeRoot();
    fs.rmSync(path.join(root, "dist/cli.js"));
    expect(freshBuild(root)).toBe(false);
  });
});

describe("ganc train takes the trainer's flags (trainerCommand), not a copy", () => {
  it("every trainer flag but --sample-to/--sample-count/--truncation is a ganc train flag, with the trainer's parser", async () => {
    const trainer = trainerCommand("t").options.map((o) => o.long).filter((l) => l !== "--sample-to" && l !== "--sample-count" && l !== "--truncation");
    const train = (await trainCommand()).options.map((o) => o.long);
    expect(trainer.length).toBeGreaterThan(10);
    expect(train).toEqual([...trainer, "--no-opt", "--ui", "--port", "--host"]);
    expect(train).not.toContain("--sample-to");
    expect(train).not.toContain("--truncation");
    const bad = await trainCommand();
    bad.action(() => {});
    await expect(bad.parseAsync(["s.gan", "--steps", "0"], { from: "user" })).rejects.toThrow(/positive whole number/);
  });

  it("what ganc train forwards parses, in the trainer, to the values given", async () => {
    const cmd = await trainCommand();
    cmd.action(() => {});
    await cmd.parseAsync(["s.gan", "-o", "x", "--steps", "7", "--seed", "3", "-q", "--backend", "cpu", "--eval-every", "0", "--no-opt=all", "--ui", "--port", "0", "--host", "127.0.0.1"], { from: "user" });
    const argv = trainerArgv(cmd);
    expect(argv).toEqual(["--steps", "7", "--backend", "cpu", "--seed", "3", "--quiet", "--eval-every", "0"]);
    const back = trainerCommand("t").parse(argv, { from: "user" }).opts();
    expect(back).toMatchObject({ steps: 7, seed: 3, quiet: true, backend: "cpu", evalEvery: 0 });
  });
});
