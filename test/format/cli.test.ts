import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { formatGan } from "../../src/format/index.ts";
import { ganc, ROOT, tmpDir } from "../helpers.ts";

const MESSY = 'gan "m"\ndata real:ring8(batch=8)\nnoise z:normal(0,1,[2])   # z\nnet G(z){dense 2}\nnet D(x){\ndense 1->logit\n}\n';
const BAD = 'gan "x"\ndata real: mnist(batch=64\nnoise z: normal(0,1,[4])\n';

function setup() {
  const dir = tmpDir("ganc-fmt-");
  const messy = path.join(dir, "messy.gan");
  const clean = path.join(dir, "clean.gan");
  fs.writeFileSync(messy, MESSY);
  fs.copyFileSync("specs/ring8.gan", clean);
  const r = formatGan(MESSY);
  if (!r.ok) throw new Error("MESSY does not parse");
  return { dir, messy, clean, formatted: r.text };
}

describe("ganc fmt", () => {
  it("prints the formatted spec and changes no file", () => {
    const { messy, formatted } = setup();
    const r = ganc(["fmt", messy]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(formatted);
    expect(fs.readFileSync(messy, "utf8")).toBe(MESSY);
  });

  it("--check lists the files that would change and exits 1, 0 when all are formatted", () => {
    const { messy, clean } = setup();
    const r = ganc(["fmt", "--check", clean, messy]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe(messy + "\n");
    expect(r.stderr).toContain("1 of 2 files not formatted");
    expect(fs.readFileSync(messy, "utf8")).toBe(MESSY);
    const ok = ganc(["fmt", "--check", clean, "specs/gan.gan"]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toBe("");
  });

  it("--write rewrites changed files in place (mode kept, no temp file left) and leaves formatted ones untouched", () => {
    const { dir, messy, clean, formatted } = setup();
    fs.chmodSync(messy, 0o600);
    const before = fs.statSync(clean);
    const r = ganc(["fmt", "--write", messy, clean]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe(`formatted ${messy}\n`);
    expect(fs.readFileSync(messy, "utf8")).toBe(formatted);
    expect(fs.statSync(messy).mode & 0o777).toBe(0o600);
    const after = fs.statSync(clean);
    expect([after.ino, after.mtimeMs]).toEqual([before.ino, before.mtimeMs]);
    expect(fs.readdirSync(dir).sort()).toEqual(["clean.gan", "messy.gan"]);
    expect(ganc(["fmt", "--check", messy, clean]).code).toBe(0);
  });

  it("prints check's diagnostics for a spec that does not parse, exits 1 and writes nothing", () => {
    const { dir, messy } = setup();
    const bad = path.join(dir, "bad.gan");
    fs.writeFileSync(bad, BAD);
    const check = ganc(["check", bad]);
    const r = ganc(["fmt", "--write", bad, messy]);
    expect(r.code).toBe(1);
    expect(check.stderr).toContain("error[E0002]");
    expect(r.stderr).toBe(check.stderr + `formatted ${messy}\n`);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(fs.readFileSync(bad, "utf8")).toBe(BAD);
  });

  it("formats stdin with -, diagnostics naming <stdin>", () => {
    const run = (input: string) => spawnSync(process.execPath, [path.join(ROOT, "bin/ganc.mjs"), "fmt", "-"], { cwd: ROOT, input, encoding: "utf8", env: { ...process.env, NO_COLOR: "1" } });
    const ok = run(MESSY);
    expect(ok.status, ok.stderr).toBe(0);
    expect(ok.stdout).toBe(setup().formatted);
    const bad = run(BAD);
    expect(bad.status).toBe(1);
    expect(bad.stderr).toContain("--> <stdin>:3:1");
  });

  it("refuses YAML specs and --check with --write as usage errors (exit 2)", () => {
    const y = ganc(["fmt", "specs/gan.gan", "specs/gan.gan.yaml"]);
    expect(y.code).toBe(2);
    expect(y.stdout).toBe("");
    expect(y.stderr).toContain("specs/gan.gan.yaml: ganc fmt formats .gan specs only");
    const both = ganc(["fmt", "--check", "--write", "specs/gan.gan"]);
    expect(both.code).toBe(2);
    expect(both.stderr).toContain("--check and --write exclude each other");
    const stdinWrite = ganc(["fmt", "--write", "-"]);
    expect(stdinWrite.code).toBe(2);
    expect(stdinWrite.stderr).toContain("cannot be written back");
  });
});
