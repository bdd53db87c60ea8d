/**
 * Taking turns with the other engines of a bench run (bench/bench.ts runs them in lockstep by default).
 *
 * This machine's speed drifts by a third or more over tens of seconds, so engines timed one after the other
 * can meet different machines. In lockstep the bench starts every engine of a model at once and lets one run
 * at a time, for about GANC_BENCH_TURN_MS (200) milliseconds of iterations, then the next, round the ring: each
 * sees the same stretches of the machine, and none runs while another is timed.
 *
 * The child's side (Turns), over two pipes the bench opens as file descriptors 3 (it writes "g": go) and 4 (the child
 * writes "y": my turn is over, or "e": I have run my last iteration). `point()` goes before each iteration,
 * outside the timed span: at the first call, and where this turn has lasted GANC_BENCH_TURN_MS or more, it
 * writes "y" and blocks until "g". `end()` goes after the last iteration. Without GANC_BENCH_TURNS=1 both do
 * nothing (the worker run on its own, or the bench's --sequential). bench/pytorch/common.py has the same for Python.
 */
import type { ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import type { Readable, Writable } from "node:stream";

const GO = 3;
const DONE = 4;

export class Turns {
  readonly on = process.env.GANC_BENCH_TURNS === "1";
  private readonly turnMs = Number(process.env.GANC_BENCH_TURN_MS ?? 200);
  private started: number | null = null;

  point(): void {
    if (!this.on) return;
    if (this.started !== null && performance.now() - this.started < this.turnMs) return;
    fs.writeSync(DONE, "y");
    if (readByte() !== "g") throw new Error("bench: the turn pipe closed");
    this.started = performance.now();
  }

  end(): void {
    if (this.on) fs.writeSync(DONE, "e");
  }
}

/** One byte from the go pipe, blocking (retrying where the descriptor is non-blocking); "" at its end. */
function readByte(): string {
  const buf = Buffer.alloc(1);
  const nap = new Int32Array(new SharedArrayBuffer(4));
  for (;;) {
    try {
      return fs.readSync(GO, buf, 0, 1, null) === 1 ? buf.toString("latin1") : "";
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EAGAIN") throw err;
      Atomics.wait(nap, 0, 0, 1);
    }
  }
}

/**
 * The turns of children run in lockstep (bench/turns.ts has the child's side). A child writes "y" on its
 * descriptor 4 when it is ready to run (after its set-up) and at the end of each turn, then waits for a "g" on
 * its descriptor 3; it writes "e" after its last iteration. Turns start once all `expected` children are
 * ready (their set-ups, untimed, may overlap); then one child at a time gets "g", round the ring in the order
 * they joined, and a child that wrote "e" keeps the machine until it has exited. A short pause between turns
 * lets the OpenMP helpers of the child that stopped go idle before the next one starts.
 */
export class Ring {
  private readonly members: { child: ChildProcess; state: "setup" | "waiting" | "running" | "ending" | "gone" }[] = [];
  private started = false;
  private sealed = false;
  private next = 0;

  constructor(private readonly pauseMs = 5) {}

  /** No more children will join: the turns start once those that did are ready. */
  seal(): void {
    this.sealed = true;
    this.start();
  }

  join(child: ChildProcess): void {
    const m = { child, state: "setup" as "setup" | "waiting" | "running" | "ending" | "gone" };
    this.members.push(m);
    const fromChild = child.stdio[4] as Readable | null;
    const toChild = child.stdio[3] as Writable | null;
    toChild?.on("error", () => {}); // the child may be gone when its "g" is written
    fromChild?.on("data", (buf: Buffer) => {
      for (const ch of buf.toString("latin1")) {
        const was = m.state;
        if (ch === "y") m.state = "waiting";
        else if (ch === "e") m.state = "ending";
        if (ch === "y" && was === "running") this.pass();
        else if (ch === "y") this.start();
      }
    });
    child.on("close", () => {
      const was = m.state;
      m.state = "gone";
      if (was === "running" || was === "ending") this.pass();
      else this.start();
    });
  }

  private start(): void {
    if (this.started || !this.sealed || this.members.some((m) => m.state === "setup")) return;
    this.started = true;
    this.pass();
  }

  private pass(): void {
    setTimeout(() => {
      const n = this.members.length;
      for (let k = 0; k < n; k++) {
        const m = this.members[(this.next + k) % n]!;
        if (m.state !== "waiting") continue;
        this.next = (this.next + k + 1) % n;
        m.state = "running";
        (m.child.stdio[3] as Writable).write("g");
        return;
      }
    }, this.pauseMs);
  }
}
