import * as fs from "node:fs";
import * as path from "node:path";
import { spawnSync } from "node:child_process";
import { beforeAll, describe, expect, it } from "vitest";
import { freshBuild } from "../../bin/fresh.mjs";
import { trainCommand, trainerArgv } from "../../src/cli.ts";
import { trainerCommand } from "../../src/runtime/session.ts";
import { ganc, ROOT, tmpDir } from "../helpers.ts";

/**
 * The command starts without loading what it does not need: --version, --help, check, compile and
 * convert never load tfjs (nor the runtime), from the compiled build (dist/) or from the sources.
 * Which modules a command loaded is recorded by a preloaded hook (test/fixtures/startup), not timed.
 */
const RECORDER = path.join(ROOT, "test/fixtures/startup/record-modules.mjs");

function loadedBy(args: string[], env: NodeJS.ProcessEnv = {}): { code: number; modules: string[] } {
  const list = path.join(tmpDir("ganc-modules-"), "modules.txt");
  fs.writeFileSync(list, "");
  const r = ganc(args, { env: { ...process.env, ...env, NODE_OPTIONS: `--import=${RECORDER}`, GANC_RECORD_MODULES: list } });
  return { code: r.code, modules: fs.readFileSync(list, "utf8").split("\n").filter(Boolean) };
}

const tfjs = (m: string) => /@tensorflow\//.test(m);
const fromSrc = (m: string) => m.startsWith(new URL("src/", `file://${ROOT}/`).href);
const COMMANDS = [["--version"], ["--help"], ["check", "specs/gan.gan"], ["check", "specs/gan.gan.yaml"], ["compile", "specs/gan.gan"], ["convert", "specs/gan.gan"], ["check", "test/fixtures/images.gan"]];
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

  it("the recorder sees tfjs where a command loads it (ganc train --help reads the trainer's flags)", () => {
    const r = loadedBy(["train", "--help"]);
    expect(r.code).toBe(0);
    expect(r.modules.some(tfjs)).toBe(true);
  });

  for (const args of COMMANDS) {
    it(`ganc ${args.join(" ")} runs from dist/ and loads neither tfjs nor TypeScript sources`, () => {
      const r = loadedBy(args);
      expect(r.code).toBe(0);
      expect(r.modules).toContain(new URL("dist/cli.js", `file://${ROOT}/`).href);
      expect(r.modules.filter(tfjs)).toEqual([]);
      expect(r.modules.filter(decoder)).toEqual([]);
      expect(r.modules.filter(fromSrc)).toEqual([]);
    });
  }

  for (const args of [["--version"], ["check", "specs/gan.gan"]]) {
    it(`ganc ${args.join(" ")} from the sources (GANC_FROM_SOURCE=1) loads no tfjs either`, () => {
      const r = loadedBy(args, { GANC_FROM_SOURCE: "1" });
      expect(r.code).toBe(0);
      expect(r.modules.some(fromSrc)).toBe(true);
      expect(r.modules.filter(tfjs)).toEqual([]);
    });
  }
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
  it("every trainer flag but --sample-to/--sample-count is a ganc train flag, with the trainer's parser", async () => {
    const trainer = trainerCommand("t").options.map((o) => o.long).filter((l) => l !== "--sample-to" && l !== "--sample-count");
    const train = (await trainCommand()).options.map((o) => o.long);
    expect(trainer.length).toBeGreaterThan(10);
    expect(train).toEqual([...trainer, "--no-opt"]);
    expect(train).not.toContain("--sample-to");
    const bad = await trainCommand();
    bad.action(() => {});
    await expect(bad.parseAsync(["s.gan", "--steps", "0"], { from: "user" })).rejects.toThrow(/positive whole number/);
  });

  it("what ganc train forwards parses, in the trainer, to the values given", async () => {
    const cmd = await trainCommand();
    cmd.action(() => {});
    await cmd.parseAsync(["s.gan", "-o", "x", "--steps", "7", "--seed", "3", "-q", "--backend", "cpu", "--eval-every", "0", "--no-opt=all"], { from: "user" });
    const argv = trainerArgv(cmd);
    expect(argv).toEqual(["--steps", "7", "--backend", "cpu", "--seed", "3", "--quiet", "--eval-every", "0"]);
    const back = trainerCommand("t").parse(argv, { from: "user" }).opts();
    expect(back).toMatchObject({ steps: 7, seed: 3, quiet: true, backend: "cpu", evalEvery: 0 });
  });
});
