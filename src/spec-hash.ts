import { createHash } from "node:crypto";

/**
 * The spec hash, computed here only: a trainer carries it (`SPEC.hash`) and a run folder is matched to its
 * spec by it. sha-256 of the spec text with normalised line ends, 16 hex digits. Its own module so that
 * commands which only read run folders need not load the parser.
 */
export function specHash(text: string): string {
  return createHash("sha256").update(text.replace(/\r\n?/g, "\n")).digest("hex").slice(0, 16);
}
