import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { RunWatcher, writerPid, type WatchEvent } from "../../src/ui/watch.ts";
import { tmpDir } from "../helpers.ts";

/** A run folder as the trainer leaves it, without training: a trainer.ts with a SPEC, and the files it writes. */
function fakeRun(): string {
  const dir = tmpDir("ganc-ui-watch-");
  fs.writeFileSync(path.join(dir, "trainer.ts"), ['export const SPEC = {', '  name: "toy",', '  source: "toy.gan",', '  hash: "abc",', '  resolved: "gan \\"toy\\"\\n",', "};", ""].join("\n"));
  fs.mkdirSync(path.join(dir, "samples"));
  return dir;
}

const png = (dir: string, step: number) => fs.writeFileSync(path.join(dir, "samples", `step-${String(step).padStart(7, "0")}.png`), "png");

function collect(w: RunWatcher): WatchEvent[] {
  const events: WatchEvent[] = [];
  w.subscribe((e) => events.push(e));
  return events;
}

describe("RunWatcher", () => {
  it("reads the spec, rows and sample grids already in the folder", () => {
    const dir = fakeRun();
    fs.writeFileSync(path.join(dir, "metrics.jsonl"), '{"step":10,"d":1}\n{"step":20,"d":0.5}\n');
    png(dir, 20);
    png(dir, 10);
    fs.writeFileSync(path.join(dir, "run.json"), JSON.stringify({ status: "finished", totalSteps: 20 }));
    const s = new RunWatcher(dir).snapshot();
    expect(s.rows).toEqual([{ step: 10, d: 1 }, { step: 20, d: 0.5 }]);
    expect(s.samples.map((x) => x.step)).toEqual([10, 20]);
    expect(s.info.spec).toEqual({ name: "toy", source: "toy.gan", hash: "abc", resolved: 'gan "toy"\n' });
    expect(s.info.run).toEqual({ status: "finished", totalSteps: 20 });
    expect(s.info.writer).toBeNull();
  });

  it("a line is read once it is complete: a partial last line waits for its end", () => {
    const dir = fakeRun();
    const file = path.join(dir, "metrics.jsonl");
    fs.writeFileSync(file, '{"step":10,"d":1}\n{"step":2');
    const w = new RunWatcher(dir);
    const events = collect(w);
    expect(w.snapshot().rows).toEqual([{ step: 10, d: 1 }]);
    fs.appendFileSync(file, '0,"d":0.5}');
    w.poll();
    expect(events.filter((e) => e.type === "rows")).toEqual([]);
    fs.appendFileSync(file, '\n{"step":30,"d":0.25}\n');
    w.poll();
    expect(events).toEqual([{ type: "rows", rows: [{ step: 20, d: 0.5 }, { step: 30, d: 0.25 }] }]);
    expect(w.snapshot().rows).toHaveLength(3);
  });

  it("new sample grids and run.json changes are events; a file started over is a reset with the new history", () => {
    const dir = fakeRun();
    const file = path.join(dir, "metrics.jsonl");
    fs.writeFileSync(file, '{"step":10,"d":1}\n{"step":20,"d":0.5}\n');
    png(dir, 10);
    const w = new RunWatcher(dir);
    const events = collect(w);
    png(dir, 20);
    fs.writeFileSync(path.join(dir, "run.json"), JSON.stringify({ status: "running", totalSteps: 100 }));
    w.poll();
    expect(events.map((e) => e.type)).toEqual(["samples", "info"]);
    expect(events[0]).toEqual({ type: "samples", samples: [{ step: 20, name: "step-0000020.png" }] });
    // ganc eval's results, saved while the page is open.
    fs.writeFileSync(path.join(dir, "eval.json"), JSON.stringify({ metrics: { kind: "toy", modesCovered: 8 } }));
    w.poll();
    expect(events.map((e) => e.type)).toEqual(["samples", "info", "info"]);
    expect((events[2] as { info: { eval: unknown } }).info.eval).toEqual({ metrics: { kind: "toy", modesCovered: 8 } });
    w.poll();
    expect(events).toHaveLength(3); // nothing changed, nothing sent
    events.length = 0;
    // --fresh in the same folder: metrics.jsonl and samples/ start over.
    fs.writeFileSync(file, '{"step":5,"d":2}\n');
    fs.rmSync(path.join(dir, "samples"), { recursive: true });
    w.poll();
    expect(events.map((e) => e.type)).toEqual(["reset", "rows"]);
    expect(w.snapshot().rows).toEqual([{ step: 5, d: 2 }]);
    expect(w.snapshot().samples).toEqual([]);
  });

  it("the writer is the live pid in .lock; a dead one's lock is no writer", () => {
    const dir = fakeRun();
    expect(writerPid(dir)).toBeNull();
    fs.writeFileSync(path.join(dir, ".lock"), `${process.pid}\n`);
    expect(writerPid(dir)).toBe(process.pid);
    fs.writeFileSync(path.join(dir, ".lock"), "999999999\n");
    expect(writerPid(dir)).toBeNull();
  });

  it("serves only sample grid names from samples/", () => {
    const w = new RunWatcher(fakeRun());
    expect(w.sampleFile("step-0000010.png")).toMatch(/samples[/\\]step-0000010\.png$/);
    expect(w.sampleFile("latest.png")).toMatch(/latest\.png$/);
    for (const bad of ["../run.json", "..", "trainer.ts", "step-1.png/../../x"]) expect(w.sampleFile(bad)).toBeNull();
  });
});
