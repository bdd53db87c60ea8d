/**
 * The bench's lockstep (bench/turns.ts): children started together run one at a time, in turns of about
 * GANC_BENCH_TURN_MS, round the ring, and none of them runs an iteration while another does. Two TypeScript
 * children and one in Python (bench/pytorch/common.py's side of the same protocol), each timing its own
 * iterations in absolute milliseconds.
 */
import { spawn, spawnSync } from "node:child_process";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { Ring } from "../../bench/turns.ts";

const ROOT = path.resolve(__dirname, "../..");
const python = ["python3", "/usr/bin/python3"].find((p) => spawnSync(p, ["-c", "pass"]).status === 0) ?? null;

function run(ring: Ring, cmd: string, args: string[]): Promise<[number, number][]> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: ROOT, env: { ...process.env, GANC_BENCH_TURNS: "1", GANC_BENCH_TURN_MS: "40" }, stdio: ["ignore", "pipe", "inherit", "pipe", "pipe"] });
    ring.join(child);
    let out = "";
    child.stdout!.on("data", (d: Buffer) => (out += d.toString()));
    child.on("close", (code) => (code === 0 ? resolve(JSON.parse(out) as [number, number][]) : reject(new Error(`child exited with ${code}`))));
  });
}

describe("bench lockstep", () => {
  it("children take turns: one at a time, round the ring, until each has run all its iterations", async () => {
    const ring = new Ring(2);
    const node = (iterations: number) => run(ring, process.execPath, [path.join(ROOT, "bin/run-ts.mjs"), "test/tools/turns/child.ts", String(iterations), "15"]);
    const children = [node(12), node(6)];
    if (python) children.push(run(ring, python, ["test/tools/turns/child.py", "12", "15"]));
    ring.seal();
    const spans = await Promise.all(children);
    expect(spans.map((s) => s.length)).toEqual(python ? [12, 6, 12] : [12, 6]);
    const all = spans.flatMap((list, who) => list.map(([start, end]) => ({ who, start, end }))).sort((a, b) => a.start - b.start);
    // never two at once
    for (let i = 1; i < all.length; i++) expect(all[i]!.start, `iteration ${i} starts before the one before it ends`).toBeGreaterThanOrEqual(all[i - 1]!.end);
    // turns of about 40 ms (three iterations of 15 ms: the turn ends at the first point past 40 ms), passed round the ring
    const turns: { who: number; count: number }[] = [];
    for (const s of all) {
      if (turns.length && turns[turns.length - 1]!.who === s.who) turns[turns.length - 1]!.count++;
      else turns.push({ who: s.who, count: 1 });
    }
    expect(turns.every((t) => t.count <= 3)).toBe(true);
    expect(turns.length).toBeGreaterThanOrEqual(Math.ceil(all.length / 3));
    const firstRound = turns.slice(0, spans.length).map((t) => t.who);
    expect(new Set(firstRound).size).toBe(spans.length);
  }, 60_000);
});
