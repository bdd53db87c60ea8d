/**
 * A WebGPU device for the webgpu backend's tests: Dawn (the `webgpu` package, a dev dependency) over a Vulkan
 * driver. Where $VK_DRIVER_FILES (or $VK_ICD_FILENAMES) names none, Chromium's SwiftShader (a Vulkan device on
 * the CPU, shipped with Debian's chromium) is used: slow, but the same WebGPU API, shader compiler front end and
 * float32 arithmetic rules as a GPU, so kernels are tested on every machine with chromium installed. Tests that
 * need it are skipped when there is none, with the reason printed.
 */
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import { ROOT } from "./helpers.ts";

const SWIFTSHADER = "/usr/lib/chromium/vk_swiftshader_icd.json";

export interface WebgpuInfo {
  /** The environment a process needs for the adapter (Vulkan driver files), or null when there is none. */
  readonly env: NodeJS.ProcessEnv | null;
  /** The adapter's description, or why there is none. */
  readonly adapter: string;
  readonly reason: string;
}

let found: WebgpuInfo | null = null;

export function webgpuDevice(): WebgpuInfo {
  if (found) return found;
  const own = process.env.VK_DRIVER_FILES ?? process.env.VK_ICD_FILENAMES;
  const drivers = own ?? (fs.existsSync(SWIFTSHADER) ? SWIFTSHADER : null);
  if (drivers === null) {
    return (found = { env: null, adapter: "", reason: `no Vulkan driver: set VK_DRIVER_FILES, or install chromium (its SwiftShader, ${SWIFTSHADER})` });
  }
  const env = { ...process.env, VK_DRIVER_FILES: drivers, VK_ICD_FILENAMES: drivers, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? "/tmp" };
  // In a child process: Dawn's instance lives as long as the process that made it.
  const probe = `import { create } from "webgpu"; const a = await create([]).requestAdapter(); console.log(a ? [a.info.vendor, a.info.description].join(" ") : "");`;
  try {
    const adapter = execFileSync(process.execPath, ["--input-type=module", "-e", probe], { cwd: ROOT, env, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], timeout: 60_000 }).trim();
    if (adapter === "") return (found = { env: null, adapter, reason: `Dawn found no WebGPU adapter with VK_DRIVER_FILES=${drivers}` });
    return (found = { env, adapter, reason: "" });
  } catch (e) {
    const why = ((e as { stderr?: string }).stderr ?? String(e)).trim().split("\n").pop();
    return (found = { env: null, adapter: "", reason: `Dawn (the webgpu package) did not load: ${why}` });
  }
}

/** Prints why a test is skipped (vitest's skip alone says nothing about the reason). */
export function skipNote(what: string, info: WebgpuInfo): void {
  if (info.env === null) console.warn(`skipped ${what}: ${info.reason}`);
}
