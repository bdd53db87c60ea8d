import * as tf from "@tensorflow/tfjs";
import { writeFileAtomic } from "./fsutil.ts";
import { round } from "./run-spec.ts";

/**
 * --stats: the kernels of one iteration. tf.profile records every kernel the engine runs while its
 * query is pending: the query here is a promise that finish() resolves, so the profile covers exactly
 * that iteration's steps (not the read-back, samples or checkpoints that follow).
 */
export class IterationProfile {
  private readonly done: () => void;
  private readonly profile: ReturnType<typeof tf.profile>;
  private readonly started = performance.now();
  /** On webgpu, the compute dispatches the iteration recorded (a tfjs kernel can be several, ganc's Adam one per variable). */
  private readonly dispatches: DispatchCounter | null = DispatchCounter.start();

  constructor() {
    let done = () => {};
    const pending = new Promise<void>((resolve) => (done = resolve));
    this.done = done;
    this.profile = tf.profile(() => pending);
  }

  /** Ends the profile and writes its report to `file`: kernel counts and times, and each kernel in order. */
  async finish(file: string, about: { spec: string; backend: string; batch: number; iteration: number }): Promise<void> {
    const ms = performance.now() - this.started;
    const dispatches = this.dispatches?.stop();
    this.done();
    const info = await this.profile;
    const byKernel: Record<string, { count: number; ms: number }> = {};
    for (const k of info.kernels) {
      const e = (byKernel[k.name] ??= { count: 0, ms: 0 });
      e.count++;
      if (typeof k.kernelTimeMs === "number") e.ms += k.kernelTimeMs;
    }
    const sorted = Object.fromEntries(Object.entries(byKernel).sort((a, b) => b[1].count - a[1].count || a[0].localeCompare(b[0])).map(([k, v]) => [k, { count: v.count, ms: round(v.ms) }]));
    // In order, each as "name [input shapes] -> [output shapes] ms": where the kernels of an iteration go.
    const sequence = info.kernels.map((k) => `${k.name} ${JSON.stringify(k.inputShapes)} -> ${JSON.stringify(k.outputShapes)}${typeof k.kernelTimeMs === "number" ? ` ${k.kernelTimeMs.toFixed(2)}` : ""}`);
    const report = { ...about, kernels: info.kernels.length, ...(dispatches === undefined ? {} : { dispatches }), wallMs: round(ms), byKernel: sorted, sequence };
    writeFileAtomic(file, JSON.stringify(report, null, 2) + "\n");
  }
}

/** Counts GPUComputePassEncoder.dispatchWorkgroups calls while the webgpu backend is active. */
class DispatchCounter {
  private count = 0;

  private constructor(
    private readonly proto: { dispatchWorkgroups: (...args: unknown[]) => void },
    private readonly original: (...args: unknown[]) => void,
  ) {
    const self = this;
    proto.dispatchWorkgroups = function (this: unknown, ...args: unknown[]) {
      self.count++;
      return original.apply(this, args);
    };
  }

  static start(): DispatchCounter | null {
    const encoder = (globalThis as { GPUComputePassEncoder?: { prototype: { dispatchWorkgroups?: (...args: unknown[]) => void } } }).GPUComputePassEncoder;
    const original = encoder?.prototype.dispatchWorkgroups;
    if (tf.getBackend() !== "webgpu" || encoder === undefined || typeof original !== "function") return null;
    return new DispatchCounter(encoder.prototype as { dispatchWorkgroups: (...args: unknown[]) => void }, original);
  }

  stop(): number {
    this.proto.dispatchWorkgroups = this.original;
    return this.count;
  }
}
