import * as tf from "@tensorflow/tfjs";
import { constant, view } from "./engine.ts";
import { GANC_ADAM, type AdamKernelAttrs } from "../kernels/index.ts";

type NamedTensor = { name: string; tensor: tf.Tensor };

/**
 * Adam over all variables of a group at once: the gradients and the values are laid end to end in one
 * flat buffer, the moments live in two flat buffers, and the update is one chain of elementwise kernels
 * over the whole group instead of one chain per variable (about 22 kernels per step instead of 14 per
 * variable).
 *
 * Bit for bit what tf.train.adam computes: every element goes through the same float32 operations in the
 * same order (tfjs's AdamOptimizer.applyGradients, per variable: m' = m*b1 + g*(1-b1),
 * v' = v*b2 + g^2*(1-b2), w' = (m'/(1-b1^t)) / (sqrt(v'/(1-b2^t)) + eps) * -lr + w), and elementwise kernels
 * do not depend on where an element sits in a buffer. Checkpoints are interchangeable with tf.train.adam's:
 * getWeights() returns the iteration count and one moment tensor per variable under tfjs's names
 * ("<variable>/m", "<variable>/v"), and accBeta1/accBeta2 are the same running products.
 */
export class FusedAdam extends tf.Optimizer {
  static get className(): string {
    return "Adam";
  }

  readonly accBeta1: tf.Variable;
  readonly accBeta2: tf.Variable;
  /** Variable names in buffer order, with their shapes and offsets; fixed by the first update (or restore). */
  private layout: { name: string; shape: number[]; size: number }[] | null = null;
  private m: tf.Variable | null = null;
  private v: tf.Variable | null = null;

  constructor(
    public learningRate: number,
    readonly beta1: number,
    readonly beta2: number,
    readonly epsilon: number,
  ) {
    super();
    this.accBeta1 = tf.tidy(() => tf.scalar(beta1).variable(false));
    this.accBeta2 = tf.tidy(() => tf.scalar(beta2).variable(false));
  }

  override applyGradients(variableGradients: tf.NamedTensorMap | NamedTensor[]): void {
    const grads: tf.NamedTensorMap = Array.isArray(variableGradients) ? Object.fromEntries(variableGradients.map((g) => [g.name, g.tensor])) : variableGradients;
    const names = Object.keys(grads).filter((n) => grads[n] != null);
    if (names.length === 0) return;
    if (this.layout === null) this.setLayout(names.map((n) => ({ name: n, shape: [...tf.engine().registeredVariables[n]!.shape] })));
    const layout = this.layout!;
    if (names.length !== layout.length || layout.some((l) => grads[l.name] == null)) {
      throw new Error(`FusedAdam: the step's gradients (${names.join(", ")}) are not the group it was built for (${layout.map((l) => l.name).join(", ")})`);
    }
    const vars = layout.map((l) => tf.engine().registeredVariables[l.name]!);
    if (tf.getKernel(GANC_ADAM, tf.getBackend()) !== undefined) {
      this.applyAsOneKernel(layout.map((l) => grads[l.name]!), vars);
      this.incrementIterations();
      return;
    }
    // Intermediates are freed as soon as the next kernel has read them: the buffers are the size of the
    // whole group (26 MB each for the seed GAN's D), and the wasm heap never shrinks from its peak.
    tf.tidy(() => {
      const flat = (ts: tf.Tensor[]) => (ts.length === 1 ? view(ts[0]!, [ts[0]!.size]) : tf.concat(ts.map((t) => view(t, [t.size])), 0));
      const oneMinusAccBeta1 = tf.sub(constant(1), this.accBeta1);
      const oneMinusAccBeta2 = tf.sub(constant(1), this.accBeta2);
      const g = flat(layout.map((l) => grads[l.name]!));
      this.m!.assign(tf.tidy(() => tf.add(tf.mul(this.m!, constant(this.beta1)), tf.mul(g, constant(1 - this.beta1)))));
      this.v!.assign(tf.tidy(() => tf.add(tf.mul(this.v!, constant(this.beta2)), tf.mul(tf.square(g), constant(1 - this.beta2)))));
      g.dispose();
      const update = tf.tidy(() => {
        const mHat = tf.div(this.m!, oneMinusAccBeta1);
        const vHat = tf.div(this.v!, oneMinusAccBeta2);
        return tf.mul(tf.div(mHat, tf.add(tf.sqrt(vHat), constant(this.epsilon))), constant(-this.learningRate));
      });
      const w = flat(vars);
      const next = tf.add(update, w);
      update.dispose();
      w.dispose();
      const parts = layout.length === 1 ? [next] : tf.split(next, layout.map((l) => l.size), 0);
      if (parts[0] !== next) next.dispose();
      parts.forEach((p, i) => {
        vars[i]!.assign(view(p, layout[i]!.shape));
        p.dispose();
      });
      this.accBeta1.assign(tf.mul(this.accBeta1, constant(this.beta1)));
      this.accBeta2.assign(tf.mul(this.accBeta2, constant(this.beta2)));
    });
    this.incrementIterations();
  }

  /**
   * The same step as one kernel where the backend has ganc's (wasm): it reads the gradients and values
   * where they lie instead of concatenating them, and writes the new values, moments and running
   * products in one pass over the group.
   */
  private applyAsOneKernel(grads: tf.Tensor[], vars: tf.Variable[]): void {
    const inputs: tf.NamedTensorMap = { m: this.m!, v: this.v!, acc1: this.accBeta1, acc2: this.accBeta2 };
    grads.forEach((g, i) => (inputs[`g${i}`] = g));
    vars.forEach((w, i) => (inputs[`w${i}`] = w));
    const attrs: AdamKernelAttrs = {
      count: vars.length,
      beta1: this.beta1,
      beta2: this.beta2,
      epsilon: this.epsilon,
      learningRate: this.learningRate,
    };
    tf.tidy(() => {
      const outs = tf.engine().runKernel(GANC_ADAM, inputs, attrs as unknown as tf.NamedAttrMap) as tf.Tensor[];
      vars.forEach((w, i) => w.assign(outs[i]!));
      const k = vars.length;
      this.m!.assign(outs[k]!);
      this.v!.assign(outs[k + 1]!);
      this.accBeta1.assign(outs[k + 2]!);
      this.accBeta2.assign(outs[k + 3]!);
    });
  }

  private setLayout(entries: { name: string; shape: number[] }[]): void {
    this.layout = entries.map((e) => ({ ...e, size: e.shape.reduce((a, b) => a * b, 1) }));
    const total = this.layout.reduce((a, l) => a + l.size, 0);
    this.m?.dispose();
    this.v?.dispose();
    this.m = tf.tidy(() => tf.zeros([total]).variable(false));
    this.v = tf.tidy(() => tf.zeros([total]).variable(false));
  }

  override dispose(): void {
    this.accBeta1.dispose();
    this.accBeta2.dispose();
    this.m?.dispose();
    this.v?.dispose();
  }

  /** The iteration count, then every variable's first moment, then every second moment (tf.train.adam's order). */
  override async getWeights(): Promise<NamedTensor[]> {
    const out: NamedTensor[] = [await this.saveIterations()];
    if (!this.layout) return out;
    const layout = this.layout;
    const pieces = (buf: tf.Variable, suffix: string) =>
      tf.tidy(() => {
        const parts = layout.length === 1 ? [buf.clone()] : tf.split(buf, layout.map((l) => l.size), 0);
        return parts.map((p, i) => ({ name: `${layout[i]!.name}/${suffix}`, tensor: tf.keep(tf.reshape(p, layout[i]!.shape)) }));
      });
    return [...out, ...pieces(this.m!, "m"), ...pieces(this.v!, "v")];
  }

  override async setWeights(weightValues: NamedTensor[]): Promise<void> {
    const rest = await this.extractIterations(weightValues);
    // As tf.train.adam: the running products are recomputed here; the session then restores the exact
    // products it saved (see hiddenState in run-checkpoints.ts).
    tf.tidy(() => {
      this.accBeta1.assign(tf.pow(this.beta1, this.iterations + 1));
      this.accBeta2.assign(tf.pow(this.beta2, this.iterations + 1));
    });
    const half = rest.length / 2;
    const first = rest.slice(0, half);
    const second = rest.slice(half);
    this.setLayout(first.map((w) => ({ name: w.name.replace(/\/m$/, ""), shape: [...w.tensor.shape] })));
    if (first.length === 0) return;
    tf.tidy(() => {
      this.m!.assign(tf.concat(first.map((w) => tf.reshape(w.tensor, [w.tensor.size])), 0));
      this.v!.assign(tf.concat(second.map((w) => tf.reshape(w.tensor, [w.tensor.size])), 0));
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { learningRate: this.learningRate, beta1: this.beta1, beta2: this.beta2, epsilon: this.epsilon };
  }
}
