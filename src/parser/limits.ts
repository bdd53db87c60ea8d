/** The largest spec the front ends read, in characters (one limit for the parser and the CLI). */
export const MAX_SPEC_CHARS = 4 * 1048576;
