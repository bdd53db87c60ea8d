import { describe, expect, it } from "vitest";
import { displayFile, error, formatDiagnostic, SourceText, toJson } from "../../src/parser/diagnostics.ts";
import { C } from "../../src/parser/codes.ts";

describe("the file name in a diagnostic", () => {
  const text = "data real: ring8(batch=64)\n";
  const at = (file: string) => error(C.E0132, "unknown data source 'ring'", file, { start: 11, end: 16 });

  it("is shown normalized: no '..', '.' or doubled slashes", () => {
    const file = "/x/y/../z/./spec.gan";
    const src = new SourceText(file, text);
    const out = formatDiagnostic(at(file), (f) => (f === file ? src : undefined));
    expect(out.split("\n")[1]).toBe(" --> /x/z/spec.gan:1:12");
    expect(toJson(at(file), src).file).toBe("/x/z/spec.gan");
    // Without the source text (a note in another file), too.
    expect(formatDiagnostic(at("a//b/../spec.gan"), () => undefined).split("\n")[1]).toBe("  --> a/spec.gan");
  });

  it("keeps names that are already normal, relative ones included", () => {
    for (const f of ["spec.gan", "specs/gan.gan", "/abs/spec.gan", "../up/spec.gan", "..spec.gan", "a.b/c..gan"]) expect(displayFile(f)).toBe(f);
    expect(displayFile("./spec.gan")).toBe("spec.gan");
    expect(displayFile("../a/../b.gan")).toBe("../b.gan");
  });
});
