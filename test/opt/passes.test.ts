import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { checkText, compileText } from "../../src/compile.ts";
import { ALL_PASSES, NO_PASSES, OPT_PASSES, planFusedNet, planOptimizations, resolvePasses, type OptPass } from "../../src/codegen/opt.ts";
import type { ProgramIR } from "../../src/ir/types.ts";
import { listCheckpoints, loadCheckpoint } from "../../src/runtime/checkpoint.ts";
import { ganc, gancInProcess, ROOT, tmpDir } from "../helpers.ts";

/** The optimization passes as analyses (src/codegen/opt.ts) and as switches of the compiler. */

const seed = fs.readFileSync(path.join(ROOT, "specs/gan.gan"), "utf8");

function program(text: string): ProgramIR {
  const r = checkText(text, "t.gan");
  expect(r.diagnostics.filter((d) => d.severity === "error").map((d) => d.message)).toEqual([]);
  return r.program!;
}

/** Applications whose taps nobody reads are read as `.out` (the generator's `direct` set). */
function direct(p: ProgramIR): Set<number> {
  const tapped = new Set(p.nodes.flatMap((n) => (n.op === "tap" ? [n.of] : [])));
  return new Set(p.nodes.filter((n) => n.op === "apply" && n.name !== null && !tapped.has(n.id)).map((n) => n.id));
}

const plan = (text: string, passes = ALL_PASSES) => {
  const p = program(text);
  return { p, plan: planOptimizations(p, passes, direct(p)) };
};
const nodeNamed = (p: ProgramIR, name: string) => p.nodes.find((n) => n.name === name)!.id;
const without = (...off: OptPass[]) => resolvePasses(off.join(","));

describe("switching passes", () => {
  it("all are on by default; --no-opt turns all off, --no-opt=a,b those", () => {
    expect([...resolvePasses(undefined)].sort()).toEqual(Object.keys(OPT_PASSES).sort());
    expect(resolvePasses(true).size).toBe(0);
    expect(resolvePasses("all").size).toBe(0);
    const s = resolvePasses("fused-adam, hoist");
    expect(s.has("fused-adam") || s.has("hoist")).toBe(false);
    expect(s.has("fused-nets")).toBe(true);
  });

  it("a pass is off when the pass it builds on is", () => {
    const s = resolvePasses("fused-nets");
    for (const p of ["fused-batchnorm", "fused-activation", "reuse-forward"] as OptPass[]) expect(s.has(p)).toBe(false);
    expect(s.has("hoist") && s.has("loss-forms") && s.has("fused-adam")).toBe(true);
  });

  it("an unknown pass is an error naming the known ones", () => {
    expect(() => resolvePasses("fused-adma")).toThrow(/unknown optimization pass 'fused-adma' \(known: fused-adam, /);
  });
});

describe("the seed GAN's plan", () => {
  const { p, plan: pl } = plan(seed);
  const fake = nodeNamed(p, "fake");
  const d = pl.steps.get("d")!;
  const g = pl.steps.get("g")!;

  it("fused-adam: both steps' Adam", () => {
    expect([...pl.fusedAdam].sort()).toEqual(["d", "g"]);
  });

  it("fused-nets + fused-activation: G and D as one op each; D's first conv and each batch norm run the activation after them", () => {
    expect([...pl.nets.keys()].sort()).toEqual(["D", "G"]);
    const D = pl.nets.get("D")!;
    const net = p.nets.find((n) => n.name === "D")!;
    expect(D.layers[0]).toEqual({ layer: 0, fusedAct: 1 });
    // conv1 + leakyrelu1, bn1 + leakyrelu2, bn2 + leakyrelu3
    expect(D.layers.length).toBe(net.layers.length - 3);
    expect(D.layers.filter((l) => l.fusedAct !== null).map((l) => net.layers[l.layer]!.name)).toEqual(["conv1", "bn1", "bn2"]);
    // taps point at the fused layer list: features after leakyrelu3 (bn2's op), logit after dense2
    expect(D.taps).toEqual({ features: D.layers.length - 2, logit: D.layers.length - 1 });
    // in G each batch norm hosts the relu after it, and nothing else hosts one (batch norm follows G's dense and deconv layers)
    const G = pl.nets.get("G")!;
    const gNet = p.nets.find((n) => n.name === "G")!;
    const hosts = G.layers.filter((l) => l.fusedAct !== null);
    expect(hosts.length).toBe(3);
    expect(hosts.every((l) => gNet.layers[l.layer]!.layer.op === "batchnorm" && gNet.layers[l.fusedAct!]!.layer.op === "relu")).toBe(true);
  });

  it("hoist: step d computes fake = G(z) before its tape; nothing of step g is hoisted but inputs", () => {
    expect(d.hoisted.has(fake)).toBe(true);
    expect([...g.hoisted].every((id) => ["noise", "data", "const", "label"].includes(p.nodes[id]!.op))).toBe(true);
  });

  it("reuse-forward: step d records fake = G(z) for step g", () => {
    expect([...d.record]).toEqual([[fake, "g"]]);
    expect([...g.replay]).toEqual([[fake, "d"]]);
    expect(d.fused.get(fake)).toEqual({ taps: ["out"], gradInputs: [false], gradParams: true });
  });

  it("each application computes only the gradients its step needs", () => {
    const dApplies = [...d.fused].filter(([id]) => id !== fake).map(([, a]) => a);
    expect(dApplies).toEqual([
      { taps: ["logit"], gradInputs: [false], gradParams: true },
      { taps: ["logit"], gradInputs: [false], gradParams: true },
    ]);
    const gApply = [...g.fused].find(([id]) => id !== fake)![1];
    expect(gApply).toEqual({ taps: ["logit"], gradInputs: [true], gradParams: false });
  });

  it("loss-forms: the three bce_logits against ones and zeros", () => {
    const calls = [...d.lossForms, ...g.lossForms].map((id) => p.nodes[id]!);
    expect(calls.map((n) => (n.op === "call" ? n.fn : n.op))).toEqual(["bce_logits", "bce_logits", "bce_logits"]);
  });

  it("no passes: an empty plan", () => {
    const q = planOptimizations(p, NO_PASSES, direct(p));
    expect(q.nets.size + q.fusedAdam.size).toBe(0);
    for (const s of q.steps.values()) expect(s.hoisted.size + s.fused.size + s.record.size + s.lossForms.size).toBe(0);
  });
});

describe("when a pass does not apply", () => {
  it("no reuse across a repeated step, whose later repetitions draw a new batch", () => {
    const { plan: pl } = plan(seed.replace("schedule=[d, g]", "schedule=[2*d, g]"));
    expect(pl.steps.get("d")!.record.size + pl.steps.get("g")!.replay.size).toBe(0);
  });

  it("no reuse past a step that trains the net: fake is recorded for the step right after d only", () => {
    const text = seed
      .replace("step g: adam(lr=1e-3, beta1=0.5) minimize g over G", "step e: adam(lr=1e-3, beta1=0.5) minimize g over G shared\nstep g: adam(lr=1e-3, beta1=0.5) minimize g over G shared")
      .replace("schedule=[d, g]", "schedule=[d, e, g]");
    const { p, plan: pl } = plan(text);
    const fake = nodeNamed(p, "fake");
    expect([...pl.steps.get("d")!.record]).toEqual([[fake, "e"]]);
    expect(pl.steps.get("g")!.replay.size).toBe(0);
  });

  it("a net with dropout: no reuse, and nothing is hoisted past its applications (its seeds are drawn in order)", () => {
    const { p, plan: pl } = plan(seed.replace("dense 1024, batchnorm, relu\n  dense 7*7*128", "dense 1024, batchnorm, relu, dropout 0.3\n  dense 7*7*128"));
    expect(pl.steps.get("d")!.record.size).toBe(0);
    expect(pl.steps.get("d")!.hoisted.has(nodeNamed(p, "fake"))).toBe(false);
  });

  it("batch norm in a net keeps it layer by layer without fused-batchnorm; layer norm always does", () => {
    expect(plan(seed, without("fused-batchnorm")).plan.nets.size).toBe(0);
    const p = program(seed.replace("conv 128 kernel=4 stride=2, batchnorm, lrelu 0.2", "conv 128 kernel=4 stride=2, layernorm, lrelu 0.2"));
    expect(planFusedNet(p.nets.find((n) => n.name === "D")!, ALL_PASSES)).toBeNull();
    expect(planFusedNet(p.nets.find((n) => n.name === "G")!, ALL_PASSES)).not.toBeNull();
  });

  it("nets with several paths are fused: from and add read earlier layers' outputs or an input (sngan_resnet's G and D)", () => {
    const p = program(fs.readFileSync(path.join(ROOT, "specs/sngan_resnet.gan"), "utf8"));
    const G = planFusedNet(p.nets.find((n) => n.name === "G")!, ALL_PASSES)!;
    const D = planFusedNet(p.nets.find((n) => n.name === "D")!, ALL_PASSES)!;
    const netG = p.nets.find((n) => n.name === "G")!;
    const netD = p.nets.find((n) => n.name === "D")!;
    // G's first block reads its input, the reshape's output (fused layer 1), and its main path's end
    expect(G.values["gblock1/input"]).toEqual({ layer: 1 });
    expect(netG.layers[G.layers[1]!.layer]!.name).toBe("reshape1");
    expect(netG.layers[G.layers[(G.values["gblock1/main"] as { layer: number }).layer]!.layer]!.name).toBe("gblock1/conv2");
    // D's first block's shortcut starts at D's input
    expect(D.values["x"]).toEqual({ input: 0 });
    // every conv of D has spectral norm and is fused, most with the relu after them
    expect(netD.layers.filter((l) => l.layer.op === "conv2d").every((l) => l.layer.op === "conv2d" && l.layer.sn !== null)).toBe(true);
    expect(D.layers.filter((l) => l.fusedAct !== null).length).toBe(4);
    // no reuse of a pass of a net with spectral norm (each pass moves u); G is recorded as for the seed GAN
    const q = plan(fs.readFileSync(path.join(ROOT, "specs/sngan_resnet.gan"), "utf8").replace("schedule=[5*d, g]", "schedule=[g, d]")).plan;
    expect(q.nets.has("D") && q.nets.has("G")).toBe(true);
    expect([...q.steps.values()].every((s) => [...s.record.keys()].every((id) => (p.nodes[id] as { net?: string }).net !== "D"))).toBe(true);
  });

  it("an activation is not fused into a layer whose output a shortcut reads (it reads the value before the activation)", () => {
    // the block's input is the output of the conv before it, which the block's first layer (lrelu) follows
    const text = seed
      .replace("net D(x) {", "block Res(ch) {\n  lrelu 0.2, conv(ch, kernel=3), lrelu 0.2, conv(ch, kernel=3), add(input)\n}\n\nnet D(x) {")
      .replace("conv 64 kernel=4 stride=2, lrelu 0.2", "conv 64 kernel=4 stride=2, Res(64)");
    const p = program(text);
    const net = p.nets.find((n) => n.name === "D")!;
    const D = planFusedNet(net, ALL_PASSES)!;
    const read = (D.values["res1/input"] as { layer: number }).layer;
    expect(net.layers[D.layers[read]!.layer]!.name).toBe("conv1");
    expect(D.layers[read]!.fusedAct).toBeNull();
    // the block's first conv hosts its lrelu; its second, followed by add, none; the batch norms host theirs
    expect(D.layers.filter((l) => l.fusedAct !== null).map((l) => net.layers[l.layer]!.name)).toEqual(["res1/conv1", "bn1", "bn2"]);
  });

  it("without fused-activation every activation is its own layer", () => {
    const p = program(seed);
    const D = planFusedNet(p.nets.find((n) => n.name === "D")!, without("fused-activation"))!;
    expect(D.layers.every((l) => l.fusedAct === null)).toBe(true);
    expect(D.layers.length).toBe(p.nets.find((n) => n.name === "D")!.layers.length);
  });

  it("applications inside grad() stay layer by layer (second derivatives), the others are fused", () => {
    const text = fs.readFileSync(path.join(ROOT, "specs/wgan_gp.gan"), "utf8");
    const r = compileText(text, "specs/wgan_gp.gan");
    expect(r.code).toContain("rt.gradOf((xhat_) => {");
    expect(r.code).toMatch(/rt\.gradOf\(\(xhat_\) => \{\n\s+const D_xhat = D\(xhat_, "train"\)/);
    expect(r.code).toMatch(/netD\.apply\(\[\w+\], \{ taps: \["logit"\], gradInputs: \[false\], gradParams: true/);
  });
});

describe("the generated trainer", () => {
  const code = (passes = ALL_PASSES) => compileText(seed, "specs/gan.gan", { passes }).code!;
  const MARKERS: Record<OptPass, string> = {
    "fused-adam": "fused: true",
    "fused-nets": "new rt.fused.FusedNet(",
    "fused-batchnorm": `{ op: "batchnorm"`,
    "fused-activation": "in the same op (fused-activation)",
    hoist: "computed before the gradient tape (pass hoist)",
    "reuse-forward": "rt.fused.FusedNet.replay(rec_fake!)",
    "loss-forms": "rt.fused.bceLogits(",
  };

  it("with every pass, shows each; with none, none and no rt.fused at all", () => {
    const all = code();
    for (const m of Object.values(MARKERS)) expect(all).toContain(m);
    const none = code(NO_PASSES);
    expect(none).not.toContain("rt.fused");
    expect(none).toContain(`function D(x: tf.Tensor, mode: rt.Mode)`);
  });

  for (const pass of Object.keys(MARKERS) as OptPass[]) {
    it(`--no-opt=${pass} removes what it does`, () => {
      expect(code(without(pass))).not.toContain(MARKERS[pass]);
    });
  }

  it("says why a reused forward pass is exact", () => {
    expect(code()).toMatch(/fake = G\(z\) \(specs\/gan\.gan:23\): the forward pass step d recorded \(pass reuse-forward\)\. Exact: since then\n\s+\/\/ only D changed \(step d\), so G's weights and everything it reads are the same; the batch is the same; G has\n\s+\/\/ no dropout\. Its batch-norm moving averages got this pass's update when it was recorded\./);
    expect(code()).toContain(`rec_fake = netG.record([b.z], { taps: ["out"], gradInputs: [false], gradParams: true, arena: reuse }, "now and for the replay");`);
  });
});

describe("ganc compile --no-opt", () => {
  it("before or after the spec, bare or with passes", () => {
    const a = ganc(["compile", "--no-opt", "specs/gan.gan"]);
    expect(a.code, a.stderr).toBe(0);
    expect(a.stdout).not.toContain("rt.fused");
    const b = ganc(["compile", "specs/gan.gan", "--no-opt=fused-adam,loss-forms"]);
    expect(b.code, b.stderr).toBe(0);
    expect(b.stdout).toContain("new rt.fused.FusedNet(");
    expect(b.stdout).not.toContain("fused: true");
    expect(b.stdout).not.toContain("rt.fused.bceLogits(");
  });

  it("an unknown pass is a usage error", () => {
    const r = ganc(["compile", "specs/gan.gan", "--no-opt=hoisting"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/error: unknown optimization pass 'hoisting' \(known: .*hoist/);
    expect(r.stdout).toBe("");
  });
});

describe("checkpoints", () => {
  it("a run started with --no-opt and resumed optimized ends bit for bit where the --no-opt run does", async () => {
    // inside the test process (gancInProcess): the test is about the checkpoints
    const a = tmpDir();
    const b = tmpDir();
    const spec = "test/fixtures/mlp-mnist.gan";
    expect((await gancInProcess(["train", spec, "--no-opt", "--out", a, "--steps", "40", "--seed", "7", "--quiet"])).code).toBe(0);
    expect((await gancInProcess(["train", spec, "--no-opt", "--out", b, "--steps", "20", "--seed", "7", "--quiet"])).code).toBe(0);
    const r = await gancInProcess(["train", spec, "--out", b, "--steps", "40", "--seed", "7", "--resume", "--quiet"]);
    expect(r.code, r.stderr).toBe(0);
    const last = (dir: string) => loadCheckpoint(listCheckpoints(path.join(dir, "checkpoints")).pop()!.file);
    const ca = last(a);
    const cb = last(b);
    expect(cb.meta.step).toBe(40);
    expect(cb.tensors.map((t) => t.name)).toEqual(ca.tensors.map((t) => t.name));
    ca.tensors.forEach((t, i) => expect(Buffer.from(cb.tensors[i]!.data.buffer).equals(Buffer.from(t.data.buffer)), t.name).toBe(true));
  }, 180_000);
});
