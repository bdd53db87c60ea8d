import type { ExprNode, ProgramIR } from "../parser/check/ir.ts";

/** The resolved spec as text: every default the compiler filled in, for reports and `ganc check --resolved`. */
export function printResolved(p: ProgramIR): string {
  const out: string[] = [];
  const d = p.data;
  out.push(`gan "${p.name}"`);
  out.push(`data ${d.name}: ${d.source}(batch=${d.batch}${d.path ? `, path="${d.path}"` : ""}${d.limit ? `, limit=${d.limit}` : ""}${d.count ? `, count=${d.count}` : ""})  # [${d.shape}], ${d.numClasses} classes`);
  for (const n of p.noise) {
    out.push(n.dist === "categorical" ? `noise ${n.name}: categorical(classes=${n.classes})` : `noise ${n.name}: ${n.dist}(${n.dist === "uniform" ? "low" : "mean"}=${n.a}, ${n.dist === "uniform" ? "high" : "std"}=${n.b}, shape=[${n.shape}])`);
  }
  for (const s of p.states) out.push(`state ${s.name} = ${s.init}`);
  for (const net of p.nets) {
    // Variables by layer, once per net (a filter per layer would be quadratic in the number of layers).
    const byLayer = new Map<string, typeof net.vars[number][]>();
    for (const v of net.vars) {
      const layer = v.name.split("/")[1]!;
      byLayer.set(layer, [...(byLayer.get(layer) ?? []), v]);
    }
    out.push(`net ${net.name}(${net.params.map((q) => `${q.name}: [${q.shape}]`).join(", ")}) {`);
    for (const l of net.layers) {
      const { op, ...rest } = l.layer as unknown as Record<string, unknown>;
      const args = Object.entries(rest)
        .filter(([, v]) => v !== null && typeof v !== "string")
        .map(([k, v]) => `${k}=${Array.isArray(v) ? `[${v}]` : v}`);
      const inits = (byLayer.get(l.name) ?? []).filter((v) => v.trainable && v.init.kind !== "zeros" && v.init.kind !== "ones");
      const init = inits.map((v) => `init=${v.init.kind}${"std" in v.init ? `(${v.init.mean}, ${v.init.std})` : ""}`);
      out.push(`  ${op} ${[...args, ...init].join(" ")}${l.tap ? ` -> ${l.tap}` : ""}   # ${l.name}: [${l.outShape}]`);
    }
    out.push("}");
  }
  for (const l of p.losses) out.push(`loss ${l.name} = ${expr(p, l.node)}`);
  for (const s of p.steps) {
    const o = s.optimizer;
    const args = o.kind === "adam" ? `lr=${o.lr}, beta1=${o.beta1}, beta2=${o.beta2}, epsilon=${o.epsilon}` : o.kind === "rmsprop" ? `lr=${o.lr}, rho=${o.rho}, momentum=${o.momentum}, epsilon=${o.epsilon}` : o.kind === "momentum" ? `lr=${o.lr}, momentum=${o.momentum}, nesterov=${o.nesterov}` : `lr=${o.lr}`;
    const extra = `${o.clipnorm !== null ? `, clipnorm=${o.clipnorm}` : ""}${o.clipvalue !== null ? `, clipvalue=${o.clipvalue}` : ""}${o.decay !== "none" ? `, decay=${o.decay}` : ""}`;
    out.push(`step ${s.name}: ${o.kind}(${args}${extra}) minimize ${s.loss} over ${s.nets.join(", ")}${s.shared ? " shared" : ""}`);
    for (const a of s.actions) out.push(a.kind === "assign" ? `after ${s.name}: ${a.state} = ${expr(p, a.node)}` : `after ${s.name}: clip_weights(${a.net}, ${a.low}, ${a.high})`);
  }
  const t = p.train;
  out.push(
    `train { ${t.steps ? `steps=${t.steps}` : `epochs=${t.epochs}`}, schedule=[${t.schedule.map((x) => (x.repeat > 1 ? `${x.repeat}*${x.step}` : x.step)).join(", ")}], seed=${t.seed}, sample_every=${t.sampleEvery}, sample_count=${t.sampleCount}, samples=${expr(p, t.samples)}, checkpoint_every=${t.checkpointEvery}, keep_checkpoints=${t.keepCheckpoints}, log_every=${t.logEvery}${t.log.length ? `, log=[${t.log}]` : ""}${t.ema ? `, ema=${t.ema}` : ""} }`,
  );
  return out.join("\n");
}

function expr(p: ProgramIR, id: number, top = true): string {
  const n: ExprNode = p.nodes[id]!;
  if (n.name && !top) return n.name;
  switch (n.op) {
    case "data":
      return p.data.name;
    case "label":
      return `${p.data.name}.label`;
    case "noise":
      return n.noise;
    case "batch":
      return "batch";
    case "state":
      return n.state;
    case "const":
      return String(n.value);
    case "apply":
      return `${n.net}(${n.args.map((a) => expr(p, a, false)).join(", ")})`;
    case "tap":
      return `${expr(p, n.of, false)}.${n.tap}`;
    case "neg":
      return `-${expr(p, n.a, false)}`;
    case "binary":
      return `(${expr(p, n.a, false)} ${n.o} ${expr(p, n.b, false)})`;
    case "call":
      return `${n.fn}(${n.args.map((a) => expr(p, a, false)).join(", ")})`;
    case "grad":
      return `grad(${expr(p, n.of, false)}, ${expr(p, n.wrt, false)})`;
  }
}
