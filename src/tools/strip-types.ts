import { createHash } from "node:crypto";

/**
 * A generated trainer's TypeScript as JavaScript, for a process that runs no TypeScript loader (ganc from
 * its bundle: tools/runfolder.ts). esbuild's transform, which is what tsx applies to the same file when
 * ganc runs from its sources, so both ways run the same program. esbuild is there wherever the bundle is:
 * it built it. The first line names the sha256 of the TypeScript, so that a copy can be checked against
 * the source it was made from (`isStrippedFrom`).
 */
export async function stripTypes(code: string): Promise<string> {
  const esbuild = await import("esbuild");
  const js = esbuild.transformSync(code, { loader: "ts", format: "esm", target: "node20" }).code;
  return stamp(code) + js;
}

/** Whether `js` is stripTypes's output for `code`. */
export function isStrippedFrom(js: string, code: string): boolean {
  return js.startsWith(stamp(code));
}

function stamp(code: string): string {
  return `// ganc: trainer.exec.mts without its types, sha256 ${createHash("sha256").update(code).digest("hex")}\n`;
}
