/**
 * Allow directives (src/parser/check/allow.ts): which warnings each one allows (the next declaration or
 * layer, its own line, the whole spec), in both forms, and what is reported about the directives.
 */
import { describe, expect, it } from "vitest";
import "../../src/parser/yaml/load.ts";
import { checkText } from "../../src/check.ts";
import { BASE_GAN, BASE_YAML } from "../../src/parser/codes.ts";

/** The base spec with a net Q that nothing applies (W0405 at its name) and whatever `edit` does. */
const withQ = (edit: (s: string) => string = (s) => s) => edit(BASE_GAN.replace("fake = G(z)", "net Q(x) {\n  dense 2\n}\nfake = G(z)"));
const codes = (text: string, file = "s.gan") => checkText(text, file).diagnostics.map((d) => `${d.code} ${text.slice(d.span.start, d.span.end)}`);

describe("#[allow(...)]", () => {
  it("the spec without a directive has the warning the tests below allow", () => {
    expect(codes(withQ())).toEqual(["W0405 Q"]);
  });

  it("on a line of its own: allows the warning in the declaration that follows, and only there", () => {
    expect(codes(withQ((s) => s.replace("net Q(x)", "#[allow(W0405)] kept for a later experiment\nnet Q(x)")))).toEqual([]);
    // Above another declaration it allows nothing there: the warning stays, and the directive is reported.
    expect(codes(withQ((s) => s.replace("fake = G(z)", "#[allow(W0405)]\nfake = G(z)")))).toEqual(["W0405 Q", "W0408 W0405"]);
  });

  it("after code: allows what is reported on that line; with '!': in the whole spec; several codes in one", () => {
    expect(codes(withQ((s) => s.replace("net Q(x) {", "net Q(x) {   #[allow(W0405)]")))).toEqual([]);
    expect(codes(withQ((s) => s.replace("net Q(x) {", "net Q(x) {\n  #[allow(W0405)]")))).toEqual(["W0405 Q", "W0408 W0405"]);
    expect(codes(withQ((s) => `#![allow(W0405)] experiments in progress\n${s}`))).toEqual([]);
    expect(codes(withQ((s) => `#![allow(W0401, W0405)]\n${s}`))).toEqual(["W0408 W0401"]);
  });

  it("above a layer: that layer only", () => {
    // W0403: batch norm in D under a gradient penalty, reported at the penalty's grad(...) in loss d.
    const gp = BASE_GAN.replace("dense 16, lrelu 0.2\n  dense 1 -> logit", "dense 16, batchnorm, lrelu 0.2\n  dense 1 -> logit").replace(
      "loss d = bce_logits(D(real).logit, ones) + bce_logits(D(fake).logit, zeros)",
      "gp = mean(square(norm(grad(D(fake).logit, fake)) - 1))\nloss d = bce_logits(D(real).logit, ones) + bce_logits(D(fake).logit, zeros) + gp",
    );
    expect(codes(gp)).toEqual(["W0403 grad(D(fake).logit, fake)"]);
    expect(codes(gp.replace("gp = mean", "#[allow(W0403)] as in the reference\ngp = mean"))).toEqual([]);
    expect(codes(gp.replace("  dense 16, batchnorm", "  #[allow(W0403)]\n  dense 16, batchnorm"))).toEqual(["W0403 grad(D(fake).logit, fake)", "W0408 W0403"]);
  });

  it("in YAML: the same directives, as YAML comments", () => {
    const yaml = BASE_YAML.replace("values:", "  Q:\n    inputs: [x]\n    layers: [dense 2]\nvalues:");
    expect(codes(yaml, "s.gan.yaml")).toEqual(["W0405 Q"]);
    expect(codes(yaml.replace("  Q:", "  #[allow(W0405)] kept for a later experiment\n  Q:"), "s.gan.yaml")).toEqual([]);
    expect(codes(`#![allow(W0405)]\n${yaml}`, "s.gan.yaml")).toEqual([]);
    expect(codes(yaml.replace("  Q:", "  #[allow(W0401)]\n  Q:"), "s.gan.yaml")).toEqual(["W0405 Q", "W0408 W0401"]);
  });

  it("is a directive only where it starts a comment: not inside a string or after other comment text", () => {
    expect(codes(withQ((s) => s.replace("net Q(x)", "# see #[allow(W0405)]\nnet Q(x)")))).toEqual(["W0405 Q"]);
    expect(codes(withQ((s) => `gan "x #[allow(W0405)]"\n${s}`))).toEqual(["W0405 Q"]);
    expect(codes(withQ((s) => s.replace("net Q(x)", "// see #[allow(W0405)]\nnet Q(x)")))).toEqual(["W0405 Q"]);
  });

  it("reports bad codes and forms; an unused allow only in a spec without errors", () => {
    expect(codes(withQ((s) => s.replace("net Q(x)", "#[allow(w0405)]\nnet Q(x)")))).toEqual(["W0405 Q", "E0630 w0405"]);
    expect(codes(withQ((s) => s.replace("net Q(x)", "#[allow(W0405, E0120)]\nnet Q(x)")))).toEqual(["E0631 E0120"]);
    expect(codes(withQ((s) => s.replace("net Q(x)", "#[allow(W0601)]\nnet Q(x)")))).toEqual(["W0405 Q", "E0631 W0601"]);
    expect(codes(withQ((s) => s.replace("net Q(x)", "#[allow()]\nnet Q(x)")))).toEqual(["W0405 Q", "E0632 #[allow()]"]);
    expect(codes(withQ((s) => s.replace("net Q(x)", "#[allow(W0405\nnet Q(x)")))).toEqual(["W0405 Q", "E0632 #[allow(W0405"]);
    // With an error elsewhere, warnings are not all looked for: an allow that allows nothing is not reported.
    // (G, applied to an argument with an error, counts as applied: no W0405 for it.)
    expect(codes(withQ((s) => s.replace("fake = G(z)", "#[allow(W0401)]\nfake = G(zz)")))).toEqual(["E0123 zz", "W0405 Q"]);
  });
});
