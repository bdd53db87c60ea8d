/** `process` for the shared code in the playground's bundle (esbuild injects it where code reads the global). */
export const process = {
  env: {} as Record<string, string | undefined>,
  argv: [] as string[],
  platform: "browser",
  cwd: (): string => "/",
  memoryUsage: () => ({ rss: 0, heapUsed: 0, heapTotal: 0, external: 0, arrayBuffers: 0 }),
  stderr: { isTTY: false, write: (s: string) => (console.log(s), true) },
  stdout: { isTTY: false, write: (s: string) => (console.log(s), true) },
  on: () => undefined,
  off: () => undefined,
  exit: (code?: number): never => {
    throw new Error(`exit ${code ?? 0}`);
  },
};
