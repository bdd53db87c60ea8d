import * as fs from "node:fs";
import * as path from "node:path";
import fc from "fast-check";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { main } from "../../src/cli.ts";
import { tmpDir } from "../helpers.ts";

/**
 * The CLI on garbage: `ganc compile <file> -o out.ts` on random bytes and on random mutations of a valid
 * spec, in both forms. Whatever the input: exit 0 with a trainer, or exit 1 with diagnostics that name
 * file:line:column, never a stack trace, and no output file.
 */
const seedGan = fs.readFileSync("specs/gan.gan", "utf8");
const seedYaml = fs.readFileSync("specs/gan.gan.yaml", "utf8");

let stderr = "";
beforeEach(() => {
  stderr = "";
  vi.spyOn(process.stderr, "write").mockImplementation((s: string | Uint8Array) => {
    stderr += String(s);
    return true;
  });
  vi.spyOn(process.stdout, "write").mockImplementation(() => true);
});
afterEach(() => {
  vi.restoreAllMocks();
  process.exitCode = undefined;
});

async function compileFile(parent: string, name: string, bytes: Uint8Array): Promise<void> {
  const dir = fs.mkdtempSync(path.join(parent, "case-"));
  const spec = path.join(dir, name);
  const out = path.join(dir, "out.ts");
  fs.rmSync(out, { force: true });
  fs.writeFileSync(spec, bytes);
  stderr = "";
  process.exitCode = undefined;
  const code = await main(["compile", spec, "-o", out]);
  expect(stderr).not.toMatch(/\n\s+at .*:\d+:\d+\)?\n/);
  expect(stderr).not.toContain("internal error");
  if (code === 0) {
    expect(fs.existsSync(out)).toBe(true);
    return;
  }
  expect(code, stderr).toBe(1);
  expect(fs.existsSync(out)).toBe(false);
  // Every diagnostic header names the file with a line and column that exist.
  const lines = Buffer.from(bytes).toString("utf8").split(/\r\n|\r|\n/);
  const headers = [...stderr.matchAll(/--> (.*):(\d+):(\d+)/g)];
  expect(headers.length, stderr).toBeGreaterThan(0);
  for (const [, file, line, col] of headers) {
    expect(file).toBe(spec);
    expect(Number(line)).toBeGreaterThanOrEqual(1);
    expect(Number(line)).toBeLessThanOrEqual(lines.length);
    expect(Number(col)).toBeGreaterThanOrEqual(1);
  }
  expect(fs.readdirSync(dir).sort()).toEqual([name]);
}

/** Deletes, duplicates or inserts a few characters of `text`. */
const mutation = (text: string) =>
  fc.array(fc.tuple(fc.nat(text.length), fc.integer({ min: 0, max: 2 }), fc.constantFrom("(", ")", "{", "}", ":", "=", ",", "-", "\n", "#", '"', "x", "1", "\t", "\u00e9")), { minLength: 1, maxLength: 4 }).map((edits) => {
    let t = text;
    for (const [at, kind, ch] of edits) {
      const i = at % (t.length + 1);
      t = kind === 0 ? t.slice(0, i) + t.slice(i + 1 + (at % 7)) : kind === 1 ? t.slice(0, i) + t.slice(i, i + 12) + t.slice(i) : t.slice(0, i) + ch + t.slice(i);
    }
    return t;
  });

describe("ganc compile never crashes and never writes output for bad input", () => {
  it("random bytes, as .gan and as .gan.yaml", async () => {
    const dir = tmpDir();
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 300 }), fc.boolean(), async (bytes, yaml) => {
        await compileFile(dir, yaml ? "x.gan.yaml" : "x.gan", bytes);
      }),
      { numRuns: 150 },
    );
  }, 120_000);

  it("random mutations of the seed spec in both forms", async () => {
    const dir = tmpDir();
    await fc.assert(fc.asyncProperty(mutation(seedGan), async (t) => compileFile(dir, "m.gan", Buffer.from(t))), { numRuns: 150 });
    await fc.assert(fc.asyncProperty(mutation(seedYaml), async (t) => compileFile(dir, "m.gan.yaml", Buffer.from(t))), { numRuns: 150 });
  }, 180_000);
});
