/** Types of scripts/build-playground.mjs, for the playground's server (src/ui/playground-server.ts) and tests. */
export function playgroundSpecs(root?: string): { name: string; text: string }[];
export function playgroundStale(root?: string, out?: string): boolean;
export function buildPlayground(opts?: { root?: string; out?: string; quiet?: boolean }): Promise<string>;
export function embeddedDigits(root?: string): Buffer;
