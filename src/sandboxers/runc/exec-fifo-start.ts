import { closeSync, constants, fstatSync, openSync, readSync, rmSync, writeSync } from "node:fs";
import { Socket } from "node:net";
import { abortedError } from "../../errors/aborted.js";
import { Code } from "../../errors/code.js";
import { isErrorCode, RuntimeError } from "../../errors/runtime-error.js";
import type { Pod } from "../../pod/pod.js";
import { waitExit } from "../../pod/wait-exit.js";
import { execFifoPath, initAlreadyDead } from "../../oci-runtime/exec-fifo.js";

/**
 * Which way a runtime's exec fifo runs: runc's init writes a byte that `runc start` reads
 * ("read"); crun's init reads a byte that `crun start` writes ("write").
 */
export type ExecFifoProtocol = "read" | "write";

/** What {@link startThroughExecFifo} needs to know of the container. */
export interface ExecFifoTarget {
  /** runc's state root (`--root`). */
  root: string;
  id: string;
  pod: Pod;
  /** The init's host pid (blocked in runc's init until started). */
  initPid: number;
  /** When the init was created: exits from before are another process's. */
  createdAt: Date;
  timeoutMs: number;
  signal?: AbortSignal | undefined;
}

/**
 * Lets a created runc 1.x container run without spawning `runc start`: runc's init waits in an
 * open of `<root>/<id>/exec.fifo` for writing, and `runc start` is no more than opening that fifo
 * for reading, reading the byte the init then writes, and removing the fifo (which is also how
 * runc tells created from running). A Go process per container start (~7 ms, most of it CPU on a
 * busy node) saved. Opened read-write, so the open never blocks and no early EOF is mistaken for
 * the init's byte; the wait ends with the init's exit (as `runc start` ends with "container
 * process is already dead"), the deadline or the caller's signal.
 *
 * Resolves false when there is no fifo (the container is not in the created state, or the
 * runtime lays its state out otherwise): the caller runs `runc start`, whose error says why.
 */
export async function startThroughExecFifo(t: ExecFifoTarget): Promise<boolean> {
  if (t.signal?.aborted) throw abortedError(t.signal);
  const path = execFifoPath(t.root, t.id);
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDWR | constants.O_NONBLOCK);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return false;
    throw RuntimeError.from(err, Code.Internal);
  }
  if (!fstatSync(fd).isFIFO()) {
    closeSync(fd);
    return false;
  }
  const fifo = new Socket({ fd, readable: true, writable: false });
  const gone = new AbortController();
  try {
    await new Promise<void>((resolve, reject) => {
      fifo.once("data", () => resolve());
      fifo.once("error", (err) => reject(RuntimeError.from(err, Code.Internal)));
      waitExit(t.pod, t.initPid, t.createdAt, t.timeoutMs, t.signal ? AbortSignal.any([t.signal, gone.signal]) : gone.signal).then(
        () => {
          // A process that ran and exited at once wrote its byte before its exec: still started.
          if (wroteByte(fd)) resolve();
          else reject(initAlreadyDead("runc", t.id));
        },
        (err: unknown) => {
          if (gone.signal.aborted) return; // settled already
          reject(isErrorCode(err, Code.DeadlineExceeded) ? new RuntimeError(Code.DeadlineExceeded, `runc start ${t.id}: the init did not take the start within ${t.timeoutMs} ms`) : err);
        },
      );
    });
  } finally {
    gone.abort();
    fifo.destroy();
  }
  // The init runs now; the fifo gone is how runc tells it from created (already gone: a concurrent `runc start`).
  rmSync(path, { force: true });
  return true;
}

/** A non-blocking read of the fifo: true when the init's byte is there. */
function wroteByte(fd: number): boolean {
  try {
    return readSync(fd, Buffer.alloc(1)) > 0;
  } catch {
    return false; // EAGAIN: empty; EBADF: already read through the socket
  }
}

/**
 * Lets a created crun container run without spawning `crun start`: crun's init blocks reading
 * `<root>/<id>/exec.fifo` (its read end opened by `crun create`), and `crun start` is opening the
 * fifo for writing, removing it (how crun tells created from running) and writing one byte. The
 * open is non-blocking, so a dead init (no reader left) fails at once instead of hanging as a
 * blocking open would: FailedPrecondition, as crun says the container is not running.
 *
 * Returns false when there is no fifo (not in the created state): the caller runs `crun start`.
 */
export function startByWritingExecFifo(root: string, id: string): boolean {
  const path = execFifoPath(root, id);
  let fd: number;
  try {
    fd = openSync(path, constants.O_WRONLY | constants.O_NONBLOCK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT") return false;
    if (code === "ENXIO") throw initAlreadyDead("crun", id);
    throw RuntimeError.from(err, Code.Internal);
  }
  try {
    if (!fstatSync(fd).isFIFO()) return false;
    rmSync(path, { force: true });
    writeSync(fd, Buffer.of(0));
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "EPIPE") throw initAlreadyDead("crun", id);
    throw RuntimeError.from(err, Code.Internal);
  } finally {
    closeSync(fd);
  }
}
