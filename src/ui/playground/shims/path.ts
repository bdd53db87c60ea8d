/** node:path for the playground's bundle: POSIX paths, enough for the front end's file names. */
export const sep = "/";
export const delimiter = ":";

export function normalize(p: string): string {
  const abs = p.startsWith("/");
  const out: string[] = [];
  for (const part of p.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") {
      if (out.length > 0 && out[out.length - 1] !== "..") out.pop();
      else if (!abs) out.push("..");
    } else out.push(part);
  }
  const s = (abs ? "/" : "") + out.join("/");
  return s === "" ? "." : s;
}
export const join = (...parts: string[]): string => normalize(parts.filter((p) => p !== "").join("/"));
export const isAbsolute = (p: string): boolean => p.startsWith("/");
export function resolve(...parts: string[]): string {
  let r = "";
  for (const p of parts) r = isAbsolute(p) ? p : `${r}/${p}`;
  return normalize(isAbsolute(r) ? r : `/${r}`);
}
export function dirname(p: string): string {
  const i = p.replace(/\/+$/, "").lastIndexOf("/");
  return i < 0 ? "." : i === 0 ? "/" : p.slice(0, i);
}
export function basename(p: string, ext?: string): string {
  const b = p.replace(/\/+$/, "").split("/").pop() ?? "";
  return ext && b.endsWith(ext) ? b.slice(0, -ext.length) : b;
}
export function extname(p: string): string {
  const b = basename(p);
  const i = b.lastIndexOf(".");
  return i <= 0 ? "" : b.slice(i);
}
export function relative(from: string, to: string): string {
  const a = resolve(from).split("/").filter(Boolean);
  const b = resolve(to).split("/").filter(Boolean);
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return [...a.slice(i).map(() => ".."), ...b.slice(i)].join("/");
}
export const posix = { sep, delimiter, normalize, join, isAbsolute, resolve, dirname, basename, extname, relative };
export default posix;
