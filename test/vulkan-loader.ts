/**
 * The Vulkan loader for Dawn in the webgpu tests. Dawn opens libvulkan.so.1 from the library path; Debian's
 * chromium ships one (with SwiftShader, the Vulkan device on the CPU the tests use) in /usr/lib/chromium without
 * depending on the system's libvulkan1. Where the system has none, a folder holding only a link to chromium's
 * goes on LD_LIBRARY_PATH: vitest.config.ts sets it before the test processes start (the dynamic loader reads it
 * only then), and every process they start inherits it. Nothing else of chromium's folder is put on the path.
 */
import * as fs from "node:fs";
import * as path from "node:path";

const SYSTEM = ["/usr/lib/x86_64-linux-gnu/libvulkan.so.1", "/lib/x86_64-linux-gnu/libvulkan.so.1", "/usr/lib64/libvulkan.so.1", "/usr/lib/libvulkan.so.1"];
const CHROMIUM = "/usr/lib/chromium/libvulkan.so.1";

/** Puts chromium's Vulkan loader on LD_LIBRARY_PATH where the system has none; returns the folder added, or null. */
export function useChromiumVulkanLoader(root: string): string | null {
  if (process.platform !== "linux" || SYSTEM.some((p) => fs.existsSync(p)) || !fs.existsSync(CHROMIUM)) return null;
  const dir = path.join(root, ".cache", "vulkan-loader");
  fs.mkdirSync(dir, { recursive: true });
  const link = path.join(dir, "libvulkan.so.1");
  if (!fs.existsSync(link)) {
    fs.rmSync(link, { force: true });
    fs.symlinkSync(CHROMIUM, link);
  }
  const paths = (process.env.LD_LIBRARY_PATH ?? "").split(":").filter((p) => p && p !== dir);
  process.env.LD_LIBRARY_PATH = [...paths, dir].join(":");
  return dir;
}
