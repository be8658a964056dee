import { abortedError } from "../errors/aborted.js";
import { Code } from "../errors/code.js";
import { RuntimeError } from "../errors/runtime-error.js";
import type { HolderExit } from "../holder/holder-protocol.js";
import type { Pod } from "./pod.js";

/**
 * Waits for the holder to report the exit of `pid` (started at `since`), bounded by
 * `timeoutMs`; `signal` (the caller's deadline or cancel) ends the wait with its reason.
 */
export function waitExit(pod: Pod, pid: number, since: Date, timeoutMs: number, signal?: AbortSignal): Promise<HolderExit> {
  const known = pod.exitOf(pid, since);
  if (known) return Promise.resolve(known);
  if (signal?.aborted) return Promise.reject(abortedError(signal));
  return new Promise((resolve, reject) => {
    const done = () => {
      clearTimeout(timer);
      off();
      signal?.removeEventListener("abort", onAbort);
    };
    const timer = setTimeout(() => {
      done();
      reject(new RuntimeError(Code.DeadlineExceeded, `process ${pid} did not exit within ${timeoutMs} ms`));
    }, timeoutMs);
    const onAbort = () => {
      done();
      reject(abortedError(signal!));
    };
    signal?.addEventListener("abort", onAbort, { once: true });
    const off = pod.onExit((e) => {
      if (e.pid !== pid || e.exitedAt.getTime() < since.getTime() - pod.clockSkewMs) return;
      done();
      resolve(e);
    });
  });
}

/** How long a launcher killed on the way out gets to be reaped, so an undo finds what it left. */
const KILLED_LAUNCHER_REAP_MS = 5000;

/**
 * {@link waitExit} for a launcher the pod's supervisor runs (`runc create`, `runc exec`):
 * when the wait ends without its exit (its deadline, the caller's `signal`), the launcher
 * is SIGKILLed and reaped before the error goes on, so the caller's undo does not race it.
 */
export async function waitLauncherExit(pod: Pod, pid: number, since: Date, timeoutMs: number, signal: AbortSignal | undefined): Promise<HolderExit> {
  try {
    return await waitExit(pod, pid, since, timeoutMs, signal);
  } catch (err) {
    await pod.client?.kill(pid, 9).catch(() => {});
    await waitExit(pod, pid, since, KILLED_LAUNCHER_REAP_MS).catch(() => {});
    throw err;
  }
}
