import { sha256 } from "../sha256.ts";

/** node:crypto's createHash("sha256") for the page (the spec hash, src/spec-hash.ts): the same digests. */
export function createHash(algorithm: string) {
  if (algorithm !== "sha256") throw new Error(`createHash(${algorithm}) is not available in the browser`);
  const parts: Uint8Array[] = [];
  const h = {
    update(data: string | Uint8Array) {
      parts.push(typeof data === "string" ? new TextEncoder().encode(data) : data);
      return h;
    },
    digest(encoding?: "hex") {
      const all = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
      let at = 0;
      for (const p of parts) {
        all.set(p, at);
        at += p.length;
      }
      const d = sha256(all);
      return encoding === "hex" ? Array.from(d, (x) => x.toString(16).padStart(2, "0")).join("") : d;
    },
  };
  return h;
}
export default { createHash };
