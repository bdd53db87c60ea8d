// Whether dist/cli.js (scripts/build.mjs) may run: it exists and is newer than each source file it was
// built from. A few dozen stat calls, well under a millisecond.
import * as fs from "node:fs";
import * as path from "node:path";

export function freshBuild(root) {
  try {
    const built = fs.statSync(path.join(root, "dist/cli.js")).mtimeMs;
    const { inputs } = JSON.parse(fs.readFileSync(path.join(root, "dist/build.json"), "utf8"));
    if (!Array.isArray(inputs) || inputs.length === 0) return false;
    for (const f of inputs) if (fs.statSync(path.join(root, f)).mtimeMs > built) return false;
    return true;
  } catch {
    return false; // no build, or a source file it lists is gone
  }
}
