import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll } from "vitest";
import { removeTmpDirs } from "./helpers.ts";

// tfjs-backend-wasm's threaded build splits products over the cores: on the small nets of the tests it
// spends CPU waiting and handing work over (the pure-wasm ring8 run took 101 s of CPU with threads, 62 s
// without), and with two test files at a time on two cores that CPU is the suite's time. Results do not
// depend on the thread count; test/runtime/wasm-threads.test.ts proves that with threads asked for there.
// The trainers a test starts inherit the setting. GANC_WASM_THREADS=<n> npm test still runs them all with n.
process.env.GANC_WASM_THREADS ??= "off";

// OpenMP's helper threads (OpenBLAS's and oneDNN's) sleep as soon as a parallel region ends, instead of
// spinning for libgomp's default while (what a trainer does by default, for its wall time): with two test
// files at a time on two cores, a spinning helper takes its core from the other file. Read by libgomp
// when the BLAS loads; the trainers and Python a test starts inherit it.
process.env.OMP_WAIT_POLICY ??= "PASSIVE";

// Every temporary folder of a test file (its own, those of the trainers, Chromium and Python it starts:
// each reads TMPDIR) goes into one folder of the file, removed when its tests are done, whether or not
// they called tmpDir() (a suite run once left 70 GB of /tmp/ganc-*). GANC_KEEP_TMP=1 keeps them.
// (Where a worker runs several files, the next file's folder goes beside the last one's, not in it.)
const tmpBase = path.basename(os.tmpdir()).startsWith("ganc-vitest-") ? path.dirname(os.tmpdir()) : os.tmpdir();
const fileTmp = fs.mkdtempSync(path.join(tmpBase, "ganc-vitest-"));
process.env.TMPDIR = fileTmp;
// ...but tsx's cache of compiled TypeScript (tsx-<uid> in the temporary folder), which the trainers a test starts
// use for the runtime's sources, stays the one shared folder: in a new folder of its own, each test file's first
// trainer compiled them all again (0.6 s of a 3-second `ganc sample`). A link; removing the file's folder
// removes only the link.
const tsxCache = `tsx-${os.userInfo().uid}`;
fs.mkdirSync(path.join(tmpBase, tsxCache), { recursive: true });
fs.symlinkSync(path.join(tmpBase, tsxCache), path.join(fileTmp, tsxCache), "dir");

// The temporary folders of a test file's runs go when its tests are done.
afterAll(() => {
  removeTmpDirs();
  if (process.env.GANC_KEEP_TMP !== "1") fs.rmSync(fileTmp, { recursive: true, force: true, maxRetries: 5 });
});
