import { closeSync, constants, open, openSync, writeSync } from "node:fs";
import { promisify } from "node:util";
import { abortedError } from "../../errors/aborted.js";
import { Code } from "../../errors/code.js";
import { RuntimeError } from "../../errors/runtime-error.js";

/** open(2)'s O_PATH on Linux (Node does not export it): a handle on the FIFO's inode that opens neither end. */
const O_PATH = 0o10_000_000;
/** open(2) on libuv's pool, resolving to a plain fd (a FileHandle would close itself on collection). */
const openFd = promisify(open);

/** What {@link releaseStartFifo} waits with. */
export interface StartFifoWait {
  /** Aborted when the runner has exited: nobody will ever open the read end. */
  exited: AbortSignal;
  /** The caller's deadline or cancel. */
  signal: AbortSignal;
}

/**
 * Writes the start byte into a runner's start FIFO once the runner has opened its read end
 * (after loading its module), and resolves `"started"`; `"exited"` when the runner exited
 * first. The wait is the kernel's, not a poll: a blocking open(2) for writing, which returns
 * when the reader arrives, run off the event loop (libuv's pool). A runner that exits, a
 * deadline or a cancel wakes that open by opening the read end ourselves (through an O_PATH
 * handle, so a FIFO unlinked meanwhile still wakes it), and nothing is written: the pool's
 * thread never stays blocked. The caller's abort rejects with its reason.
 */
export async function releaseStartFifo(fifo: string, wait: StartFifoWait): Promise<"started" | "exited"> {
  if (wait.signal.aborted) throw abortedError(wait.signal);
  let handle: number;
  try {
    handle = openSync(fifo, O_PATH);
  } catch (err) {
    throw RuntimeError.from(err, Code.Internal);
  }
  const self = `/proc/self/fd/${handle}`;
  try {
    // The runner is already waiting (the usual case once the pod's host is up): no pool thread.
    try {
      writeStart(openSync(self, constants.O_WRONLY | constants.O_NONBLOCK));
      return "started";
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENXIO") throw RuntimeError.from(err, Code.Internal);
    }
    if (wait.exited.aborted) return "exited";
    let woken = false;
    let reader = -1;
    const wake = () => {
      if (woken) return;
      woken = true;
      try {
        reader = openSync(self, constants.O_RDONLY | constants.O_NONBLOCK);
      } catch {
        /* the handle keeps the inode: this does not fail short of running out of fds */
      }
    };
    wait.exited.addEventListener("abort", wake, { once: true });
    wait.signal.addEventListener("abort", wake, { once: true });
    try {
      const writer = await openFd(self, constants.O_WRONLY);
      if (woken) {
        closeSync(writer); // opened because of our own reader: the runner gets nothing
      } else {
        writeStart(writer);
        return "started";
      }
    } finally {
      wait.exited.removeEventListener("abort", wake);
      wait.signal.removeEventListener("abort", wake);
      if (reader >= 0) closeSync(reader);
    }
    if (wait.signal.aborted && !wait.exited.aborted) throw abortedError(wait.signal);
    return "exited";
  } finally {
    closeSync(handle);
  }
}

/** One byte, then close: the runner reads it and runs. */
function writeStart(fd: number): void {
  try {
    writeSync(fd, "s");
  } finally {
    closeSync(fd);
  }
}
