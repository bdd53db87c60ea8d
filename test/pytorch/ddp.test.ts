import * as fs from "node:fs";
import * as path from "node:path";
import { spawnSync } from "node:child_process";
import { beforeAll, describe, expect, it } from "vitest";
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
 * launch takes 10-30 s on a loaded 2-core machine), so the cases' one-process runs go in one Python process,
 * and their two-process runs in one torchrun launch (ddp_entry.py --jobs), run once before the tests.
 *
 * One exception, by arithmetic: a bias right before a batch norm has a gradient of zero (batch norm subtracts
 * the batch mean), computed as float rounding noise, which Adam turns into steps of about its learning rate in
 * a random direction; two summation orders give two such noises. Those biases, and the moving means of the
 * batch norms after them (which carry the bias), are left out of the comparison, and named in the test. Some
 * cases train with SGD instead; acgan, ebgan and dragan then leave nothing out.
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

  /** A free TCP port of this machine, for torchrun's agent (each job's own store port is picked as it starts: ddp_entry.py). */
  const freePort = (): number =>
    Number(spawnSync(py.python!, ["-c", `import socket\ns = socket.socket()\ns.bind(("127.0.0.1", 0))\nprint(s.getsockname()[1])`], { encoding: "utf8" }).stdout.trim());

  /** Compiles a spec's text (written to the work folder) to a Python trainer; also returns its program. */
  const compile = (name: string, text: string) => {
    const spec = path.join(work, `${name}.gan`);
    fs.writeFileSync(spec, text);
    const trainer = path.join(work, `${name}.py`);
    const c = compileText(text, spec, { target: "pytorch" });
    expect(c.diagnostics.filter((d) => d.severity === "error"), name).toEqual([]);
    fs.writeFileSync(trainer, c.code!);
    return { trainer, program: c.program!, spec };
  };

  const torchrunArgs = (entryArgs: string[], writes: string, more: NodeJS.ProcessEnv = {}) => {
    fs.mkdirSync(writes, { recursive: true });
    const launcher = ["-m", "torch.distributed.run", "--redirects", "1", "--tee", "1", "--monitor_interval", "1", "--nproc_per_node", "2", "--master_addr", "127.0.0.1", "--master_port", String(freePort())];
    return { argv: [...launcher, path.join(ROOT, "test/pytorch/ddp_entry.py"), ...entryArgs], env: { ...process.env, GANC_RANK_WRITES: writes, OMP_NUM_THREADS: "1", ...more } };
  };
  const torchrun = (trainer: string, args: string[], writes: string, more: NodeJS.ProcessEnv = {}): Run => {
    const { argv, env } = torchrunArgs([trainer, ...args], writes, more);
    const r = spawnSync(py.python!, argv, { encoding: "utf8", env, timeout: 300_000 });
    return { code: r.status, stderr: r.stderr };
  };
  const single = (trainer: string, args: string[]): Run => {
    const r = spawnSync(py.python!, [trainer, ...args], { encoding: "utf8", env: { ...process.env, OMP_NUM_THREADS: "1" }, timeout: 300_000 });
    return { code: r.status, stderr: r.stderr };
  };
  /**
   * Several trainers run one after the other in one Python process (or, with torchrun, in each of its two):
   * most of a run's time on this machine is starting Python and torch, not the 3 narrowed iterations.
   */
  const jobs = (list: { argv: string[]; writes: string }[], distributed: boolean): Run => {
    const file = path.join(work, `jobs-${distributed ? "2" : "1"}.json`);
    fs.writeFileSync(file, JSON.stringify(list));
    for (const j of list) fs.mkdirSync(j.writes, { recursive: true });
    if (distributed) {
      const { argv, env } = torchrunArgs(["--jobs", file], work);
      const r = spawnSync(py.python!, argv, { encoding: "utf8", env, timeout: 900_000 });
      return { code: r.status, stderr: r.stderr };
    }
    const r = spawnSync(py.python!, [path.join(ROOT, "test/pytorch/ddp_entry.py"), "--jobs", file], { encoding: "utf8", env: { ...process.env, OMP_NUM_THREADS: "1" }, timeout: 900_000 });
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

  /**
   * The cases of "2 processes of batch 4 == 1 process of batch 8": each trains 3 iterations both ways. All the
   * one-process runs go in one Python process, all the two-process runs in one torchrun launch (beforeAll).
   */
  interface Case {
    name: string;
    text: () => string;
    data?: boolean;
  }
  const cases: Case[] = [
    { name: "ring8", text: () => fs.readFileSync(path.join(ROOT, "specs/ring8.gan"), "utf8") },
    { name: "gan", text: () => shrink(fs.readFileSync(path.join(ROOT, "specs/gan.gan"), "utf8")), data: true },
    { name: "wgan_gp", text: () => shrink(fs.readFileSync(path.join(ROOT, "specs/wgan_gp.gan"), "utf8")), data: true },
    // With SGD instead of Adam, so that float rounding stays rounding (no bias is left out of the comparison).
    { name: "acgan_sgd", text: () => shrink(fs.readFileSync(path.join(ROOT, "specs/acgan.gan"), "utf8")).replace(/adam\(lr=([\d.e-]+), beta1=0\.5\)/g, "sgd(lr=$1)"), data: true },
    { name: "stylegan", text: () => fs.readFileSync(path.join(ROOT, "test/fixtures/pytorch-stylegan.gan"), "utf8"), data: true },
    // test/fixtures/lazy-r1.gan with the regularization every 2 iterations, so that 3 iterations include one
    // (iteration 2), and its weight raised so that it moves D visibly.
    { name: "lazy_r1", text: () => fs.readFileSync(path.join(ROOT, "test/fixtures/lazy-r1.gan"), "utf8").replace("every(4, d_reg, adjust=true)", "every(2, d_reg, adjust=true)").replace("loss r1 = 5 * sum(", "loss r1 = 500 * sum(") },
    // ring8 with dropout after each hidden layer of both nets (D's in both steps, G's in both).
    { name: "ring8_dropout", text: () => fs.readFileSync(path.join(ROOT, "specs/ring8.gan"), "utf8").replace(/dense 128, relu\n/g, "dense 128, relu, dropout 0.3\n").replace(/dense 128, lrelu 0.2\n/g, "dense 128, lrelu 0.2, dropout 0.3\n") },
    // SGD, as for acgan: Adam turns the rounding noise of a gradient that is zero in exact arithmetic, as
    // behind ebgan's batch norms, into steps of its learning rate.
    { name: "ebgan", text: () => shrink(fs.readFileSync(path.join(ROOT, "specs/ebgan.gan"), "utf8")).replace(/adam\(lr=([\d.e-]+), beta1=0\.5\)/g, "sgd(lr=0.05)"), data: true },
    { name: "rsgan", text: () => shrink(fs.readFileSync(path.join(ROOT, "specs/rsgan.gan"), "utf8")).replace(/adam\(lr=([\d.e-]+), beta1=0\.5\)/g, "sgd(lr=0.05)"), data: true },
    // began and dragan with SGD too: with Adam, a kernel element whose gradient is about as small as its
    // rounding turns two summation orders into steps that differ by more than 1e-5 (seen: 2e-5 and 4e-5).
    // began's rate is 0.005: its batch norms over 4 and 8 samples of 8-wide layers amplify the rounding of its
    // gradients (with 0.05, G/dense1/kernel differed by 2.3e-5). It starts k at 0.5 rather than 0, so that its
    // after action moves it whichever way (clipped at 0, an unmoved k would compare equal whatever happened).
    { name: "began", text: () => shrink(fs.readFileSync(path.join(ROOT, "specs/began.gan"), "utf8")).replace("state k = 0\n", "state k = 0.5\n").replace(/adam\(lr=([\d.e-]+), beta1=0\.5\)/g, "sgd(lr=0.005)"), data: true },
    { name: "dragan", text: () => shrink(fs.readFileSync(path.join(ROOT, "specs/dragan.gan"), "utf8")).replace(/adam\(lr=([\d.e-]+), beta1=0\.5\)/g, "sgd(lr=0.05)"), data: true },
  ];
  const built = new Map<string, { trainer: string; program: ReturnType<typeof compile>["program"]; extra: string[]; one: string; two: string; writes: string }>();
  let ones: Run = { code: null, stderr: "not run" };
  let twos: Run = { code: null, stderr: "not run" };
  const common = ["--steps", "3", "--quiet"];

  beforeAll(() => {
    if (!py.python) return;
    for (const c of cases) {
      const { trainer, program } = compile(c.name, c.text());
      const extra = c.data ? ["--data", dataFolder()] : [];
      built.set(c.name, { trainer, program, extra, one: path.join(work, `${c.name}-1x8`), two: path.join(work, `${c.name}-2x4`), writes: path.join(work, `${c.name}-writes`) });
    }
    const extra = (name: string) => built.get(name)!.extra;
    ones = jobs(cases.map((c) => ({ argv: [built.get(c.name)!.trainer, ...common, ...extra(c.name), "--batch", "8", "--out", built.get(c.name)!.one], writes: path.join(work, `${c.name}-writes-1`) })), false);
    const gan = built.get("gan")!;
    twos = jobs(
      [
        ...cases.map((c) => ({ argv: [built.get(c.name)!.trainer, ...common, ...extra(c.name), "--batch", "4", "--out", built.get(c.name)!.two], writes: built.get(c.name)!.writes })),
        // Each process's own batch-norm statistics: another computation, which the comparison can tell apart.
        { argv: [gan.trainer, ...common, ...extra("gan"), "--batch", "4", "--no-sync-bn", "--out", path.join(work, "gan-2x4-no-sync-bn")], writes: path.join(work, "gan-writes-nosync") },
      ],
      true,
    );
  }, 1_800_000);

  /** The case's runs agree: variables, optimizer slots, states, logged values; rank 1 wrote nothing. */
  const sameAsOneProcess = (name: string, skip?: Set<string>) => {
    expect(ones.code, ones.stderr).toBe(0);
    expect(twos.code, twos.stderr).toBe(0);
    const b = built.get(name)!;
    const { trainer, program, one, two, writes } = b;
    skip ??= noiseMoved(program);
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
    return { trainer, program, one, two, skip, compared, code: fs.readFileSync(trainer, "utf8") };
  };

  it("ring8: the same variables, optimizer moments and losses; rank 1 writes nothing", () => {
    const { skip } = sameAsOneProcess("ring8");
    expect([...skip]).toEqual([]);
  });

  it("the seed GAN: batch norm synced over the processes (SyncBatchNorm's meaning); --no-sync-bn differs", () => {
    const { one, skip } = sameAsOneProcess("gan");
    expect([...skip].sort()).toEqual(["D/bn1/moving_mean", "D/bn2/moving_mean", "D/conv2/bias", "D/dense1/bias", "G/bn1/moving_mean", "G/bn2/moving_mean", "G/bn3/moving_mean", "G/deconv1/bias", "G/dense1/bias", "G/dense2/bias"]);
    expect(compare(one, path.join(work, "gan-2x4-no-sync-bn"), skip).bad.length).toBeGreaterThan(0);
  });

  it("WGAN-GP: the penalty's second derivatives through DDP and synced batch norm give the one-process result", () => {
    const { two } = sameAsOneProcess("wgan_gp");
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
  });

  it("acgan: D, whose Q step reads only its features, is not wrapped; its gradients averaged by hand give the one-process result", () => {
    const { code, compared } = sameAsOneProcess("acgan_sgd", new Set());
    expect(code).toContain("ddp_D = run.parallel(D, False)");
    expect(code).toContain("ddp_G = run.parallel(G, True)");
    expect(fs.readFileSync(path.join(work, "acgan_sgd.gan"), "utf8")).toContain("step q: sgd(lr=1e-3) minimize q over D, G, Q");
    expect(compared).toBeGreaterThan(40);
  });

  it("StyleGAN2's constructs (test/fixtures/pytorch-stylegan.gan): noise maps and mix's crossover drawn for the whole batch, w_avg over the whole batch, the lazy R1 through modconv and noise", () => {
    const { one } = sameAsOneProcess("stylegan");
    const avg = loadLatestCheckpoint(path.join(one, "checkpoints"))!.payload.tensors.find((t) => t.name === "var:M/track_avg1/avg")!;
    expect(avg.data.some((v) => v !== 0), "w_avg was compared after it moved").toBe(true);
  });

  it("a lazy step (every(2, d_reg), R1 on D's optimizer): D, not wrapped, averaged by hand, gives the one-process result", () => {
    const fixture = fs.readFileSync(path.join(ROOT, "test/fixtures/lazy-r1.gan"), "utf8");
    expect(fixture).toContain("every(4, d_reg, adjust=true)");
    expect(fixture).toContain("loss r1 = 5 * sum(");
    const { code, one, two } = sameAsOneProcess("lazy_r1");
    expect(code).toContain("ddp_D = run.parallel(D, False)");
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
  });

  it("dropout: each process applies its slice of the one-process mask", () => {
    expect(fs.readFileSync(path.join(work, "ring8_dropout.gan"), "utf8").match(/dropout 0\.3/g)?.length).toBe(4);
    const { code } = sameAsOneProcess("ring8_dropout");
    expect(code).toContain("dropout(h, 0.3, mode, dropout_seed())");
  });

  it("ebgan: pullaway and the norms over the batch read the whole batch (whole_batch), and give the one-process result", () => {
    // ebgan couples the samples beyond batch norm: err = norm(D(x) - x) / batch (a norm over the whole batch,
    // then a hinge on it in D's loss) and G's pullaway term over pairs of samples; computed on each process's
    // share, the gradients' average is not the one-process gradient.
    const text = fs.readFileSync(path.join(work, "ebgan.gan"), "utf8");
    expect(text).toContain("loss pt = pullaway(D(fake).code)");
    expect(text.match(/sgd\(lr=0\.05\)/g)?.length).toBe(2);
    const { code } = sameAsOneProcess("ebgan", new Set());
    expect(code).toContain("pt = pullaway(whole_batch(D_fake[\"code\"]))");
    expect(code).toContain("torch.norm(whole_batch((D_fake[\"out\"] - fake))) / run.global_batch");
  });

  it("rsgan: the batch means inside bce_logits read the whole batch, and give the one-process result", () => {
    // D(real).logit - mean(D(fake).logit) inside bce_logits: a batch mean used nonlinearly. SGD, as for ebgan.
    expect(fs.readFileSync(path.join(work, "rsgan.gan"), "utf8").match(/sgd\(lr=0\.05\)/g)?.length).toBe(2);
    const { code } = sameAsOneProcess("rsgan");
    expect(code).toMatch(/real_vs_fake = \(\w+ - torch\.mean\(whole_batch\(\w+\)\)\)/);
  });

  it("began: the norms over the batch read the whole batch, and the state k, which its after action moves from batch values, is the one-process k", () => {
    expect(fs.readFileSync(path.join(work, "began.gan"), "utf8").match(/sgd\(lr=0\.005\)/g)?.length).toBe(2);
    const { code, one, two } = sameAsOneProcess("began");
    expect(code).toContain("err_real = (torch.norm(whole_batch((D_real[\"out\"] - b.real))) / run.global_batch)");
    expect(code).toContain("run.assign(\"k\", torch.clamp(");
    // k is compared with the rest (state:k, above); here: it moved, in both runs alike, and was logged alike.
    const k = (run: string) => loadLatestCheckpoint(path.join(run, "checkpoints"))!.payload.tensors.find((t) => t.name === "state:k")!.data[0]!;
    expect(k(one)).not.toBe(0.5);
    expect(Math.abs(k(two) - k(one))).toBeLessThanOrEqual(TOL);
    expect(Math.abs(lastMetrics(two).last.k! - lastMetrics(one).last.k!)).toBeLessThanOrEqual(TOL);
  });

  it("dragan: std(real) over the whole batch in the perturbation, and the penalty's mean through second derivatives, give the one-process result", () => {
    expect(fs.readFileSync(path.join(work, "dragan.gan"), "utf8").match(/sgd\(lr=0\.05\)/g)?.length).toBe(2);
    const { code, two } = sameAsOneProcess("dragan", new Set());
    expect(code).toContain("x_p = (b.real + ((0.5 * std(whole_batch(b.real))) * b.u))");
    expect(code).toContain("gp = torch.mean(whole_batch(torch.square((sample_norm(grad) - 1.0))))");
    expect(lastMetrics(two).last.gp).toBeGreaterThan(0);
  });

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
