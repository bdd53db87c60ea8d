import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { MAX_SPEC_CHARS } from "../../src/parser/index.ts";
import { ganc, tmpDir } from "../helpers.ts";

describe("one spec size limit", () => {
  it("the CLI's guard and the parser name the same limit: MAX_SPEC_CHARS", () => {
    const dir = tmpDir();
    const mb = `${MAX_SPEC_CHARS / 1048576} MB`;
    const line = "# padding padding padding padding padding padding padding padding padding padding\n";
    const seed = fs.readFileSync("specs/gan.gan", "utf8");
    // Just over the limit: read, and refused by the parser (E0007).
    const over = path.join(dir, "over.gan");
    fs.writeFileSync(over, seed + line.repeat(Math.ceil(MAX_SPEC_CHARS / line.length)));
    let r = ganc(["check", over]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("E0007");
    expect(r.stderr).toContain(`at most ${mb}`);
    // Far over (more bytes than any spec within the limit can take): refused unread, same limit named.
    const huge = path.join(dir, "huge.gan");
    fs.writeFileSync(huge, seed + line.repeat(Math.ceil((4 * MAX_SPEC_CHARS) / line.length)));
    r = ganc(["check", huge]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(new RegExp(`huge\\.gan is [\\d.]+ MB; specs are limited to ${mb}`));
    expect(r.stderr).not.toContain("16 MB");
  }, 60_000);
});

describe("ganc sample", () => {
  it("on a run folder without checkpoints says to train first (not --resume)", () => {
    const dir = tmpDir();
    expect(ganc(["compile", "test/fixtures/mlp-mnist.gan", "-o", path.join(dir, "trainer.ts")]).code).toBe(0);
    const r = ganc(["sample", dir]);
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toBe(`error: no checkpoint in ${path.join(dir, "checkpoints")}: train first`);
  }, 60_000);
});

describe("ganc convert's schema modeline", () => {
  it("points at this package's grammar/gan.schema.json from the output file's folder", () => {
    const dir = tmpDir();
    const nested = path.join(dir, "a", "b");
    fs.mkdirSync(nested, { recursive: true });
    const out = path.join(nested, "gan.gan.yaml");
    const r = ganc(["convert", path.resolve("specs/gan.gan"), "-o", out], { cwd: dir });
    expect(r.code, r.stderr).toBe(0);
    const m = /^# yaml-language-server: \$schema=(.+)$/m.exec(fs.readFileSync(out, "utf8"));
    expect(m).not.toBeNull();
    expect(path.isAbsolute(m![1]!)).toBe(false);
    expect(path.resolve(nested, m![1]!)).toBe(path.resolve("grammar/gan.schema.json"));
    // Printed to stdout: relative to the working folder.
    const printed = ganc(["convert", path.resolve("specs/gan.gan")], { cwd: dir });
    const p = /^# yaml-language-server: \$schema=(.+)$/m.exec(printed.stdout);
    expect(path.resolve(dir, p![1]!)).toBe(path.resolve("grammar/gan.schema.json"));
    // Written into specs/: what the committed YAML specs there say.
    const inSpecs = path.join("specs", `.convert-${process.pid}.gan.yaml`);
    try {
      expect(ganc(["convert", "specs/gan.gan", "-o", inSpecs]).code).toBe(0);
      expect(fs.readFileSync(inSpecs, "utf8")).toMatch(/^# yaml-language-server: \$schema=\.\.\/grammar\/gan\.schema\.json\n/);
    } finally {
      fs.rmSync(inSpecs, { force: true });
    }
  }, 60_000);
});
