/** Types of scripts/build-ui.mjs, for the dashboard's server (src/ui/server.ts). */
export function uiInputs(root: string): string[];
export function uiStale(root: string): boolean;
export function buildUi(opts?: { root?: string; quiet?: boolean }): Promise<string>;
