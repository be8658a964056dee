import { existsSync, watch, type FSWatcher } from "node:fs";
import { basename, dirname } from "node:path";
import { abortedError } from "../errors/aborted.js";
import { Code } from "../errors/code.js";
import { RuntimeError } from "../errors/runtime-error.js";
import { type Clock, realClock } from "../time/clock.js";

/** How long {@link waitForPath} waits, and who may end the wait early. */
export interface WaitForPathOptions {
  timeoutMs: number;
  /** Ends the wait with its reason: the caller's deadline, or what made the path hopeless (its writer exited). */
  signal?: AbortSignal | undefined;
  clock?: Clock;
}

/**
 * Resolves once `path` exists, woken by inotify on its directory (fs.watch), not by
 * polling: a socket a daemon binds, a file a child writes or renames into place.
 * DeadlineExceeded after `timeoutMs`; the directory must exist.
 */
export async function waitForPath(path: string, o: WaitForPathOptions): Promise<void> {
  if (existsSync(path)) return;
  const clock = o.clock ?? realClock;
  const name = basename(path);
  await new Promise<void>((resolve, reject) => {
    let watcher: FSWatcher | undefined;
    const onAbort = () => finish(abortedError(o.signal!));
    const timer = clock.timer(o.timeoutMs, () => finish(new RuntimeError(Code.DeadlineExceeded, `${path} did not appear within ${o.timeoutMs} ms`)));
    let done = false;
    function finish(err?: RuntimeError): void {
      if (done) return;
      done = true;
      timer.cancel();
      watcher?.close();
      o.signal?.removeEventListener("abort", onAbort);
      if (err) reject(err);
      else resolve();
    }
    try {
      watcher = watch(dirname(path), (_event, file) => {
        if ((file === null || file === name) && existsSync(path)) finish();
      });
      watcher.on("error", (e) => finish(RuntimeError.from(e, Code.Internal)));
    } catch (e) {
      return finish(RuntimeError.from(e, Code.Internal));
    }
    o.signal?.addEventListener("abort", onAbort, { once: true });
    if (o.signal?.aborted) onAbort();
    else if (existsSync(path)) finish(); // made between the first look and the watch
  });
}
