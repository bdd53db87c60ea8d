/**
 * A class embedding shared between nets (`embed(y, 16, share=G)` in D, test/fixtures/shared-embed.gan):
 * one variable, G's; D's forward pass reads it; D's step leaves it as it is, G's step trains it; the
 * checkpoint holds it once; `ganc check --resolved` prints the spec back; G still exports; the PyTorch
 * trainer reads G's variable in D and trains it only in G's steps.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import * as tf from "@tensorflow/tfjs";
import { describe, expect, it } from "vitest";
import { compileText } from "../../src/compile.ts";
import { ident } from "../../src/codegen/writer.ts";
import { listCheckpoints, loadCheckpoint } from "../../src/runtime/checkpoint.ts";
import { layerModule } from "../../src/layers/index.ts";
import * as ops from "../../src/runtime/ops.ts";
import type { NetIR } from "../../src/ir/types.ts";
import { ROOT, ganc, tmpDir } from "../helpers.ts";

const FIXTURE = "test/fixtures/shared-embed.gan";
const TABLE = "G/embed1/kernel";

/**
 * The layer-by-layer code the trainer writes for `net`, run up to and including its embed layer, as a JS
 * function of its inputs and the variables it names (its own and the shared table).
 */
function throughEmbed(net: NetIR, vars: Record<string, tf.Tensor>, inputs: tf.Tensor[]): tf.Tensor {
  const locals = new Map<string, string>(net.params.map((p) => [p.name, ident(p.name)]));
  const lines = [`let h = ${ident(net.params[0]!.name)};`];
  for (const info of net.layers) {
    lines.push(layerModule(info.layer).code(info.layer, { net, info, local: (n) => locals.get(n)! }).replace(/ as tf\.\w+/g, "").replace(/([\w\])])!(?!=)/g, "$1"));
    if (info.layer.op === "embed") break;
    if (info.tap) {
      locals.set(info.tap, `tap_${info.tap}`);
      lines.push(`const tap_${info.tap} = h;`);
    }
  }
  lines.push("return h;");
  const names = Object.keys(vars);
  const fn = new Function("tf", "rt", "mode", ...net.params.map((p) => ident(p.name)), ...names.map(ident), lines.join("\n")) as (...a: unknown[]) => tf.Tensor;
  return fn(tf, ops, "train", ...inputs, ...names.map((n) => vars[n]!));
}

/** The float32 data of a .npy file as the trainer's trace writes it. */
function npy(file: string): Float32Array {
  const b = fs.readFileSync(file);
  const start = 10 + b.readUInt16LE(8);
  return new Float32Array(b.buffer.slice(b.byteOffset + start, b.byteOffset + b.length));
}

describe("embed share=: one table, G's, read by D", () => {
  for (const form of [FIXTURE, `${FIXTURE}.yaml`]) {
    it(`${form}: D declares no table and its embed layer reads G's`, () => {
      const r = compileText(fs.readFileSync(path.join(ROOT, form), "utf8"), form, {});
      expect(r.diagnostics.map((d) => d.message)).toEqual([]);
      const nets = new Map(r.program!.nets.map((n) => [n.name, n]));
      expect(nets.get("G")!.vars.map((v) => v.name)).toContain(TABLE);
      expect(nets.get("D")!.vars.map((v) => v.name).filter((v) => v.includes("embed"))).toEqual([]);
      const emb = nets.get("D")!.layers.find((l) => l.layer.op === "embed")!.layer;
      expect(emb).toMatchObject({ kernel: TABLE, sn: null, shared: { net: "G", layer: "embed1" } });
      // the variable is declared once, by G, and D's function reads it
      const code = r.code!;
      expect(code.split(`run.variable(${JSON.stringify(TABLE)}`).length - 1).toBe(1);
      const at = code.indexOf("function D(");
      expect(at).toBeGreaterThan(0);
      const dFn = code.slice(at, code.indexOf("\n  }\n", at));
      expect(dFn).toContain(`tf.matMul(y as tf.Tensor2D, ${ident(TABLE)} as tf.Tensor2D)`);
    });
  }

  it("D's embed layer gives, for each class, the row of G's table that G's embed layer gives", () => {
    const r = compileText(fs.readFileSync(path.join(ROOT, FIXTURE), "utf8"), FIXTURE, {});
    const nets = new Map(r.program!.nets.map((n) => [n.name, n]));
    const vars: Record<string, tf.Tensor> = {};
    for (const net of nets.values()) for (const v of net.vars) vars[v.name] = tf.randomNormal(v.shape as number[], 0, 1, "float32", 7);
    const y = tf.oneHot(tf.tensor1d([3, 0, 9, 3], "int32"), 10).toFloat();
    const g = throughEmbed(nets.get("G")!, vars, [tf.zeros([4, 16]), y]);
    const d = throughEmbed(nets.get("D")!, vars, [tf.randomNormal([4, 28, 28, 1]), y]);
    expect(d.shape).toEqual([4, 16]);
    expect([...d.dataSync()]).toEqual([...g.dataSync()]);
    expect([...d.dataSync().slice(0, 16)]).toEqual([...vars[TABLE]!.dataSync().slice(3 * 16, 4 * 16)]);
    tf.dispose([...Object.values(vars), y, g, d]);
  });

  // test/codegen/resolved.test.ts checks that the printed forms of both fixtures check clean, compile to the same trainer and print to themselves.
  it("ganc check --resolved prints share= back in both forms", () => {
    for (const form of [FIXTURE, `${FIXTURE}.yaml`]) {
      const r = ganc(["check", "--resolved", form]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toContain("embed(y, dim=16, share=G)");
    }
  });

  it("training: D's step leaves the table unchanged and computes no gradient of it, G's step changes it; the checkpoint holds it once; G exports", () => {
    const dir = tmpDir();
    const run = path.join(dir, "run");
    const trace = path.join(dir, "trace");
    const r = ganc(["train", FIXTURE, "--out", run, "--steps", "2", "--batch", "8", "--quiet"], { env: { ...process.env, GANC_TRACE_FIRST_ITERATION: trace } });
    expect(r.code, r.stderr).toBe(0);
    const init = npy(path.join(trace, "init", `${TABLE}.npy`));
    const afterD = npy(path.join(trace, "after", "d", `${TABLE}.npy`));
    const afterG = npy(path.join(trace, "after", "g", `${TABLE}.npy`));
    expect(init.length).toBe(10 * 16);
    expect([...afterD]).toEqual([...init]);
    expect(fs.existsSync(path.join(trace, "grad", "d", `${TABLE}.npy`))).toBe(false);
    expect(fs.existsSync(path.join(trace, "grad", "g", `${TABLE}.npy`))).toBe(true);
    expect(afterG.some((v, i) => v !== afterD[i])).toBe(true);
    // D's own weights did change in its step
    expect(fs.existsSync(path.join(trace, "after", "d", "D/dense1/kernel.npy"))).toBe(true);

    const ckpt = loadCheckpoint(listCheckpoints(path.join(run, "checkpoints")).pop()!.file);
    const names = ckpt.tensors.map((t) => t.name);
    expect(names.filter((n) => n === `var:${TABLE}`)).toHaveLength(1);
    expect(names.filter((n) => n.startsWith("var:") && n.includes("embed"))).toEqual([`var:${TABLE}`]);

    const e = ganc(["export", run, "-o", path.join(dir, "exported")]);
    expect(e.code, e.stderr).toBe(0);
    expect(fs.existsSync(path.join(dir, "exported", "model.json"))).toBe(true);
  }, 120_000);

  it("the PyTorch target compiles it: D reads G's table, and only G's step lists it", () => {
    const r = compileText(fs.readFileSync(path.join(ROOT, FIXTURE), "utf8"), FIXTURE, { target: "pytorch" });
    expect(r.diagnostics.filter((d) => d.severity === "error")).toEqual([]);
    const code = r.code!;
    expect(code).toContain('h = y @ self.others["G/embed1/kernel"]');
    expect(/^    vars_G = \[.*G\.embed1_kernel/m.test(code)).toBe(true);
    expect(/^    vars_D = \[.*embed1/m.test(code)).toBe(false);
  });
});
