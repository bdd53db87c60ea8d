/**
 * What the playground's bundle gets for the Node modules the shared runtime imports (node:fs, node:zlib,
 * ...): the code paths that use them (files, checkpoints on disk, data sets read from files) are not taken
 * in the page, which has its own for what it needs; one that is reached anyway says so instead of failing
 * somewhere obscure.
 */
function unavailable(name: string): never {
  throw new Error(`${name} is not available in the browser`);
}
const handler: ProxyHandler<object> = {
  get: (_t, key) => (key === "__esModule" ? false : () => unavailable(`node's ${String(key)}()`)),
};
const stub = new Proxy({}, handler) as Record<string, (...a: unknown[]) => never>;
export default stub;
// The names the shared runtime imports by name.
export const createRequire = (): ((id: string) => never) => () => unavailable("require()");
export const fileURLToPath = (u: string): string => String(u).replace(/^file:\/\//, "");
export const pathToFileURL = (p: string): URL => new URL(`file://${p}`);
export const endianness = (): "LE" => "LE";
export const tmpdir = (): string => "/tmp";
export const cpus = (): never[] => [];
export const existsSync = (): boolean => false;
export const readFileSync = (): never => unavailable("reading files");
export const writeFileSync = (): never => unavailable("writing files");
export const mkdirSync = (): never => unavailable("writing files");
export const readdirSync = (): never => unavailable("reading folders");
export const statSync = (): never => unavailable("reading files");
export const rmSync = (): never => unavailable("writing files");
export const renameSync = (): never => unavailable("writing files");
export const openSync = (): never => unavailable("reading files");
export const closeSync = (): never => unavailable("reading files");
export const appendFileSync = (): never => unavailable("writing files");
export const gunzipSync = (): never => unavailable("node:zlib");
export const inflateSync = (): never => unavailable("node:zlib");
export const deflateSync = (): never => unavailable("node:zlib");
export const promises = stub;
export const constants = {};
