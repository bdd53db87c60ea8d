import * as fs from "node:fs";
import * as path from "node:path";
import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { compileText } from "../../src/compile.ts";
import { loadLatestCheckpoint } from "../../src/runtime/checkpoint.ts";
import { ganc, ROOT, tmpDir } from "../helpers.ts";
import { shrink } from "../variants/spec-mutations.ts";
import { pythonWithTorch, skipNote } from "../python.ts";

/**
 * The PyTorch trainer under torchrun: 2 processes on this machine (gloo, localhost), each with batch B, must
 * train as one process with batch 2B does: after 3 iterations the same variables, optimizer moments and logged
 * losses, to 1e-5 (float rounding of the all-reduce). Specs are narrowed (test/variants/spec-mutations.ts
 * shrink) so that an iteration is quick; most of the time is the start of torch in each process (a torchrun
 * launch takes 10-30 s on a loaded 2-core machine).
 *
 * One exception, by arithmetic: a bias right before a batch norm has a gradient of zero (batch norm subtracts
 * the batch mean), computed as float rounding noise, which Adam turns into steps of about its learning rate in
 * a random direction; two summation orders give two such noises. Those biases, and the moving means of the
 * batch norms after them (which carry the bias), are left out of the comparison, and named in the test.
 *
 * torchrun is run as `python3 -m torch.distributed.run --redirects 1 --tee 1`: PyTorch 1.13's torchrun fails
 * on Python 3.11 without them. Each process runs through ddp_entry.py, which records the files any rank but 0
 * writes (and kills rank 1 at a given iteration, for the test of a lost process).
 */
const py = pythonWithTorch();
const TOL = 1e-5;

interface Run {
  code: number | null;
  stderr: string;
}

describe.skipIf(!py.python)("PyTorch trainer under torchrun: 2 processes of batch B == 1 process of batch 2B", () => {
  const work = py.python ? tmpDir("ganc-ddp-") : "";
  let mnist: string | null = null;

  const freePort = () =>
    Number(spawnSync(py.python!, ["-c", "import socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])"], { encoding: "utf8" }).stdout.trim());

  /** Compiles a spec's text (written to the work folder) to a Python trainer; also returns its program. */
  const compile = (name: string, text: string) => {
    const spec = path.join(work, `${name}.gan`);
    fs.writeFileSync(spec, text);
    const trainer = path.join(work, `${name}.py`);
    const r = ganc(["compile", spec, "--target", "pytorch", "-o", trainer]);
    expect(r.code, r.stderr).toBe(0);
    const program = compileText(text, spec, { target: "pytorch" }).program!;
    return { trainer, program, spec };
  };

  const torchrunArgs = (trainer: string, args: string[], writes: string, more: NodeJS.ProcessEnv = {}) => {
    fs.mkdirSync(writes, { recursive: true });
    const launcher = ["-m", "torch.distributed.run", "--redirects", "1", "--tee", "1", "--monitor_interval", "1", "--nproc_per_node", "2", "--master_addr", "127.0.0.1", "--master_port", String(freePort())];
    return { argv: [...launcher, path.join(ROOT, "test/pytorch/ddp_entry.py"), trainer, ...args], env: { ...process.env, GANC_RANK_WRITES: writes, OMP_NUM_THREADS: "1", ...more } };
  };
  const torchrun = (trainer: string, args: string[], writes: string, more: NodeJS.ProcessEnv = {}): Run => {
    const { argv, env } = torchrunArgs(trainer, args, writes, more);
    const r = spawnSync(py.python!, argv, { encoding: "utf8", env, timeout: 300_000 });
    return { code: r.status, stderr: r.stderr };
  };
  const single = (trainer: string, args: string[]): Run => {
    const r = spawnSync(py.python!, [trainer, ...args], { encoding: "utf8", env: { ...process.env, OMP_NUM_THREADS: "1" }, timeout: 300_000 });
    return { code: r.status, stderr: r.stderr };
  };
  const dataFolder = () => {
    if (mnist) return mnist;
    mnist = path.join(work, "data-mnist");
    const r = ganc(["data", "specs/gan.gan", "-o", mnist]);
    expect(r.code, r.stderr).toBe(0);
    return mnist;
  };

  /** Variables a float-noise gradient moves (see the note above): biases right before a batch norm, and its moving mean. */
  const noiseMoved = (program: NonNullable<ReturnType<typeof compile>["program"]>) => {
    const out = new Set<string>();
    for (const net of program.nets)
      net.layers.forEach((l, i) => {
        const prev = net.layers[i - 1];
        if (l.layer.op !== "batchnorm" || !prev) return;
        const bias = net.vars.find((v) => v.name.startsWith(`${net.name}/${prev.name}/`) && v.name.endsWith("/bias"));
        if (!bias) return;
        out.add(bias.name);
        out.add(`${net.name}/${l.name}/moving_mean`);
      });
    return out;
  };

  /** Differences above TOL between two run folders' newest checkpoints (variables, EMA, states, optimizer slots). */
  const compare = (a: string, b: string, skip: Set<string>) => {
    const x = loadLatestCheckpoint(path.join(a, "checkpoints"))!;
    const y = loadLatestCheckpoint(path.join(b, "checkpoints"))!;
    expect(y.step).toBe(x.step);
    expect(y.payload.meta.iterator).toEqual(x.payload.meta.iterator);
    expect(y.payload.meta.rng).toEqual(x.payload.meta.rng);
    const meta = x.payload.meta as { optimizers: Record<string, string[]> };
    // An optimizer slot is named by its variable: "<spec>/<variable>/<slot>".
    const slotVar = (name: string) => {
      const m = /^opt:(\w+):(\d+)$/.exec(name);
      if (!m) return name.replace(/^var:/, "").replace(/\/ema$/, "");
      return meta.optimizers[m[1]!]![Number(m[2])]!.split("/").slice(1, -1).join("/");
    };
    const other = new Map(y.payload.tensors.map((t) => [t.name, t]));
    const bad: string[] = [];
    let compared = 0;
    for (const t of x.payload.tensors) {
      if (skip.has(slotVar(t.name))) continue;
      const u = other.get(t.name);
      if (!u) {
        bad.push(`${t.name}: missing`);
        continue;
      }
      let err = 0;
      for (let i = 0; i < t.data.length; i++) err = Math.max(err, Math.abs(t.data[i]! - u.data[i]!));
      if (!(err <= TOL)) bad.push(`${t.name}: max |difference| ${err}`);
      compared++;
    }
    expect(y.payload.tensors.length).toBe(x.payload.tensors.length);
    return { bad, compared };
  };
  const lastMetrics = (run: string) => {
    const lines = fs.readFileSync(path.join(run, "metrics.jsonl"), "utf8").trim().split("\n");
    return { count: lines.length, last: JSON.parse(lines[lines.length - 1]!) as Record<string, number> };
  };
  const listing = (dir: string): string[] =>
    fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? listing(path.join(dir, e.name)).map((f) => `${e.name}/${f}`) : [e.name])).sort();

  /** Trains 3 iterations both ways and checks they agree; returns the two run folders. */
  const sameAsOneProcess = (name: string, text: string, extra: string[]) => {
    const { trainer, program } = compile(name, text);
    const one = path.join(work, `${name}-1x8`);
    const two = path.join(work, `${name}-2x4`);
    const common = ["--steps", "3", "--quiet", ...extra];
    let r = single(trainer, [...common, "--batch", "8", "--out", one]);
    expect(r.code, r.stderr).toBe(0);
    const writes = path.join(work, `${name}-writes`);
    r = torchrun(trainer, [...common, "--batch", "4", "--out", two], writes);
    expect(r.code, r.stderr).toBe(0);
    const skip = noiseMoved(program);
    const { bad, compared } = compare(one, two, skip);
    expect(bad, `${name}: 2 processes of batch 4 against 1 process of batch 8 (left out: ${[...skip].join(", ") || "none"})`).toEqual([]);
    expect(compared).toBeGreaterThan(10);
    // The logged losses are the whole batch's, logged once.
    const m1 = lastMetrics(one);
    const m2 = lastMetrics(two);
    expect(m2.count).toBe(m1.count);
    expect(Object.keys(m2.last).sort()).toEqual(Object.keys(m1.last).sort());
    for (const k of Object.keys(m1.last)) {
      expect(Number.isFinite(m2.last[k]), k).toBe(true);
      expect(Math.abs(m2.last[k]! - m1.last[k]!), `${name}: logged ${k}`).toBeLessThanOrEqual(TOL);
    }
    // Only rank 0 wrote: rank 1 opened nothing for writing, and the run folder holds what one process writes.
    expect(JSON.parse(fs.readFileSync(path.join(writes, "rank-1.json"), "utf8"))).toEqual([]);
    expect(listing(two)).toEqual(listing(one));
    return { trainer, program, one, two, skip };
  };

  it("ring8: the same variables, optimizer moments and losses; rank 1 writes nothing", () => {
    const text = fs.readFileSync(path.join(ROOT, "specs/ring8.gan"), "utf8");
    const { skip } = sameAsOneProcess("ring8", text, []);
    expect([...skip]).toEqual([]);
  }, 600_000);

  it("the seed GAN: batch norm synced over the processes (SyncBatchNorm's meaning); --no-sync-bn differs", () => {
    const text = shrink(fs.readFileSync(path.join(ROOT, "specs/gan.gan"), "utf8"));
    const data = ["--data", dataFolder()];
    const { trainer, one, skip } = sameAsOneProcess("gan", text, data);
    expect([...skip].sort()).toEqual(["D/bn1/moving_mean", "D/bn2/moving_mean", "D/conv2/bias", "D/dense1/bias", "G/bn1/moving_mean", "G/bn2/moving_mean", "G/bn3/moving_mean", "G/deconv1/bias", "G/dense1/bias", "G/dense2/bias"]);
    // Each process's own statistics are another computation: the comparison above can tell them apart.
    const unsynced = path.join(work, "gan-2x4-no-sync-bn");
    const r = torchrun(trainer, ["--steps", "3", "--quiet", ...data, "--batch", "4", "--no-sync-bn", "--out", unsynced], path.join(work, "gan-writes-nosync"));
    expect(r.code, r.stderr).toBe(0);
    expect(compare(one, unsynced, skip).bad.length).toBeGreaterThan(0);
  }, 600_000);

  it("WGAN-GP: the penalty's second derivatives through DDP and synced batch norm give the one-process result", () => {
    const text = shrink(fs.readFileSync(path.join(ROOT, "specs/wgan_gp.gan"), "utf8"));
    const { two } = sameAsOneProcess("wgan_gp", text, ["--data", dataFolder()]);
    const ck = loadLatestCheckpoint(path.join(two, "checkpoints"))!;
    const m = lastMetrics(two).last;
    expect(m.gp).toBeGreaterThan(0);
    // Every kernel of D moved: Adam's first moment of each is not all zeros. (Not its last bias: the critic's
    // loss and the penalty do not depend on it.)
    const opt = (ck.payload.meta as { optimizers: Record<string, string[]> }).optimizers.d!;
    const firstMoments = opt.map((n, i) => [n, i] as const).filter(([n]) => n.endsWith("/kernel/m"));
    expect(firstMoments.length).toBe(4);
    for (const [n, i] of firstMoments) {
      const t = ck.payload.tensors.find((x) => x.name === `opt:d:${i}`)!;
      expect(t.data.some((v) => v !== 0), n).toBe(true);
    }
  }, 600_000);

  it("acgan: D, whose Q step reads only its features, is not wrapped; its gradients averaged by hand give the one-process result", () => {
    // With SGD instead of Adam, so that float rounding stays rounding (no bias is left out of the comparison).
    const text = shrink(fs.readFileSync(path.join(ROOT, "specs/acgan.gan"), "utf8")).replace(/adam\(lr=([\d.e-]+), beta1=0\.5\)/g, "sgd(lr=$1)");
    expect(text).toContain("step q: sgd(lr=1e-3) minimize q over D, G, Q");
    const { trainer } = compile("acgan_sgd", text);
    const code = fs.readFileSync(trainer, "utf8");
    expect(code).toContain("ddp_D = run.parallel(D, False)");
    expect(code).toContain("ddp_G = run.parallel(G, True)");
    const one = path.join(work, "acgan-1x8");
    const two = path.join(work, "acgan-2x4");
    const common = ["--steps", "3", "--quiet", "--data", dataFolder()];
    let r = single(trainer, [...common, "--batch", "8", "--out", one]);
    expect(r.code, r.stderr).toBe(0);
    r = torchrun(trainer, [...common, "--batch", "4", "--out", two], path.join(work, "acgan-writes"));
    expect(r.code, r.stderr).toBe(0);
    const { bad, compared } = compare(one, two, new Set());
    expect(bad).toEqual([]);
    expect(compared).toBeGreaterThan(40);
  }, 600_000);

  it("StyleGAN2's constructs (test/fixtures/pytorch-stylegan.gan): noise maps and mix's crossover drawn for the whole batch, w_avg over the whole batch, the lazy R1 through modconv and noise", () => {
    const text = fs.readFileSync(path.join(ROOT, "test/fixtures/pytorch-stylegan.gan"), "utf8");
    const { one } = sameAsOneProcess("stylegan", text, ["--data", dataFolder()]);
    const avg = loadLatestCheckpoint(path.join(one, "checkpoints"))!.payload.tensors.find((t) => t.name === "var:M/track_avg1/avg")!;
    expect(avg.data.some((v) => v !== 0), "w_avg was compared after it moved").toBe(true);
  });

  it("a lazy step (every(2, d_reg), R1 on D's optimizer): D, not wrapped, averaged by hand, gives the one-process result", () => {
    // test/fixtures/lazy-r1.gan with the regularization every 2 iterations, so that 3 iterations include one
    // (iteration 2), and its weight raised so that it moves D visibly.
    const fixture = fs.readFileSync(path.join(ROOT, "test/fixtures/lazy-r1.gan"), "utf8");
    expect(fixture).toContain("every(4, d_reg, adjust=true)");
    expect(fixture).toContain("loss r1 = 5 * sum(");
    const text = fixture.replace("every(4, d_reg, adjust=true)", "every(2, d_reg, adjust=true)").replace("loss r1 = 5 * sum(", "loss r1 = 500 * sum(");
    const { trainer, one, two } = sameAsOneProcess("lazy_r1", text, []);
    expect(fs.readFileSync(trainer, "utf8")).toContain("ddp_D = run.parallel(D, False)");
    // Both runs ran the lazy step on iteration 2 only (r1 is logged when it runs).
    const ran = (run: string) =>
      fs
        .readFileSync(path.join(run, "metrics.jsonl"), "utf8")
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l) as Record<string, number>)
        .filter((m) => "r1" in m)
        .map((m) => m.step);
    expect(ran(one)).toEqual([2]);
    expect(ran(two)).toEqual([2]);
  }, 600_000);

  it("dropout: each process applies its slice of the one-process mask", () => {
    // ring8 with dropout after each hidden layer of both nets (D's in both steps, G's in both).
    const text = fs
      .readFileSync(path.join(ROOT, "specs/ring8.gan"), "utf8")
      .replace(/dense 128, relu\n/g, "dense 128, relu, dropout 0.3\n")
      .replace(/dense 128, lrelu 0.2\n/g, "dense 128, lrelu 0.2, dropout 0.3\n");
    expect(text.match(/dropout 0\.3/g)?.length).toBe(4);
    const { trainer } = sameAsOneProcess("ring8_dropout", text, []);
    expect(fs.readFileSync(trainer, "utf8")).toContain("dropout(h, 0.3, mode, dropout_seed())");
  }, 600_000);

  it("ebgan: pullaway and the norms over the batch read the whole batch (whole_batch), and give the one-process result", () => {
    // ebgan couples the samples beyond batch norm: err = norm(D(x) - x) / batch (a norm over the whole batch,
    // then a hinge on it in D's loss) and G's pullaway term over pairs of samples; computed on each process's
    // share, the gradients' average is not the one-process gradient. With SGD instead of Adam, so that float
    // rounding stays rounding (Adam turns the rounding noise of a gradient that is zero in exact arithmetic,
    // as behind ebgan's batch norms, into steps of its learning rate).
    const text = shrink(fs.readFileSync(path.join(ROOT, "specs/ebgan.gan"), "utf8")).replace(/adam\(lr=([\d.e-]+), beta1=0\.5\)/g, "sgd(lr=0.05)");
    expect(text).toContain("loss pt = pullaway(D(fake).code)");
    expect(text.match(/sgd\(lr=0\.05\)/g)?.length).toBe(2);
    const { trainer } = sameAsOneProcess("ebgan", text, ["--data", dataFolder()]);
    const code = fs.readFileSync(trainer, "utf8");
    expect(code).toContain("pt = pullaway(whole_batch(D_fake[\"code\"]))");
    expect(code).toContain("torch.norm(whole_batch((D_fake[\"out\"] - fake))) / run.global_batch");
  }, 600_000);

  it("rsgan: the batch means inside bce_logits read the whole batch, and give the one-process result", () => {
    // D(real).logit - mean(D(fake).logit) inside bce_logits: a batch mean used nonlinearly. SGD, as for ebgan.
    const text = shrink(fs.readFileSync(path.join(ROOT, "specs/rsgan.gan"), "utf8")).replace(/adam\(lr=([\d.e-]+), beta1=0\.5\)/g, "sgd(lr=0.05)");
    expect(text.match(/sgd\(lr=0\.05\)/g)?.length).toBe(2);
    const { trainer } = sameAsOneProcess("rsgan", text, ["--data", dataFolder()]);
    expect(fs.readFileSync(trainer, "utf8")).toMatch(/real_vs_fake = \(\w+ - torch\.mean\(whole_batch\(\w+\)\)\)/);
  }, 600_000);

  it("a killed process stops the run with a clear error; --resume continues it on 1 process, as an unbroken run", () => {
    // Logs every iteration, a checkpoint every 2: rank 1 is killed at its 4th all-reduce of logged values, in
    // iteration 4, before rank 0 writes that iteration's checkpoint; the newest is iteration 2's.
    const text = fs.readFileSync(path.join(ROOT, "specs/ring8.gan"), "utf8").replace("checkpoint_every=1000, log_every=100", "checkpoint_every=2, log_every=1");
    const { trainer } = compile("ring8k", text);
    const out = path.join(work, "killed");
    const ckpts = path.join(out, "checkpoints");
    let r = torchrun(trainer, ["--steps", "1000", "--batch", "4", "--out", out], path.join(work, "killed-writes"), { GANC_KILL_RANK1_AT: "4" });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/error: process 0 of 2 lost the others at iteration 4 \(one of them stopped or was killed\): /);
    expect(r.stderr).toContain(`training stopped; its newest checkpoint, ${ckpts}/ckpt-00000002.ganckpt, continues with --resume (on any number of processes, keeping the whole batch: --batch times processes = 8)`);
    expect(r.stderr).toMatch(/exitcode\s*: -9/); // torchrun's summary names the killed process
    const at = loadLatestCheckpoint(ckpts)!.step;
    expect(at).toBe(2);

    // Resumed on 1 process (batch 8, the whole batch), 2 iterations on: the run one process makes unbroken.
    // (Further on, ring8's G starts to turn float rounding into Adam steps; see the note at the top.)
    // Resuming needs the whole batch the run was trained with.
    r = single(trainer, ["--resume", "--steps", String(at + 2), "--batch", "4", "--quiet", "--out", out]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("error: --resume: the checkpoint was trained with a batch of 8 in all, not 4 (1 process of 4); pass --batch 8");
    r = single(trainer, ["--resume", "--steps", String(at + 2), "--batch", "8", "--out", out]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(`resumed from ${path.join(ckpts, `ckpt-${String(at).padStart(8, "0")}.ganckpt`)}`);
    const straight = path.join(work, "straight");
    r = single(trainer, ["--steps", String(at + 2), "--batch", "8", "--quiet", "--out", straight]);
    expect(r.code, r.stderr).toBe(0);
    expect(compare(straight, out, new Set()).bad).toEqual([]);
  }, 600_000);
});
skipNote("the torchrun (DDP) tests", py);
