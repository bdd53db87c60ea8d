import * as fs from "node:fs";
import * as path from "node:path";

/**
 * One writer per run folder: `<run>/.lock` holds the pid of the trainer writing there. It is created
 * with O_EXCL (open "wx"), so two trainers starting at once cannot both get it. A lock whose process
 * is gone (killed, crashed) is taken over with a message; a live holder makes the second writer stop
 * with a one-line error. The lock goes away when the run finishes, fails or is interrupted (the
 * process's exit handler removes what finish() did not).
 */

export class RunLockError extends Error {
  override name = "RunLockError";
}

const held = new Set<string>();
/** Locks taken for a trainer this process is about to run (`ganc train`), which its Run takes over. */
const handedOver = new Set<string>();
let exitHook = false;

export function lockFile(runDir: string): string {
  return path.join(runDir, ".lock");
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM"; // exists, owned by someone else
  }
}

/**
 * Takes the run folder's lock or throws; `say` reports a stale lock taken over. `handOver`: the lock is
 * taken before writing into the folder for a trainer this process runs next, whose own acquire takes
 * it over instead of refusing it.
 */
export function acquireRunLock(runDir: string, say: (line: string) => void, opts: { handOver?: boolean } = {}): string {
  fs.mkdirSync(runDir, { recursive: true });
  const file = lockFile(runDir);
  if (handedOver.delete(file) && held.has(file)) return file;
  const taken = acquire(runDir, file, say);
  if (opts.handOver) handedOver.add(taken);
  return taken;
}

function acquire(runDir: string, file: string, say: (line: string) => void): string {
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fd = fs.openSync(file, "wx", 0o644);
      fs.writeSync(fd, `${process.pid}\n`);
      fs.closeSync(fd);
      held.add(file);
      if (!exitHook) {
        exitHook = true;
        process.on("exit", releaseAllRunLocks);
      }
      return file;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    }
    let text = "";
    try {
      text = fs.readFileSync(file, "utf8");
    } catch {
      continue; // removed meanwhile: try again
    }
    const pid = Number(text.trim());
    const valid = Number.isInteger(pid) && pid > 0;
    if (valid && pid === process.pid && held.has(file)) throw new RunLockError(`${runDir} is already being written by this process (lock ${file})`);
    if (valid && pid !== process.pid && alive(pid)) {
      throw new RunLockError(`${runDir} is in use by another trainer (pid ${pid}, lock ${file}): wait for it to finish, or choose another --out`);
    }
    // A dead writer's lock (or one this process left after a failure, or an unreadable one).
    if (pid !== process.pid) say(`taking over the lock of ${runDir} from process ${valid ? pid : `'${text.trim()}'`}, which is no longer running`);
    try {
      // Only remove the file we judged stale: another taker may have replaced it meanwhile.
      if (fs.readFileSync(file, "utf8") === text) fs.rmSync(file, { force: true });
    } catch {
      /* gone already */
    }
  }
  throw new RunLockError(`could not take the lock ${file}: other trainers keep taking it`);
}

export function releaseRunLock(file: string): void {
  handedOver.delete(file);
  if (!held.delete(file)) return;
  try {
    if (Number(fs.readFileSync(file, "utf8").trim()) === process.pid) fs.rmSync(file, { force: true });
  } catch {
    /* already gone */
  }
}

function releaseAllRunLocks(): void {
  for (const f of [...held]) releaseRunLock(f);
}
