import { Code } from "../errors/code.js";
import { RuntimeError } from "../errors/runtime-error.js";
import { type Clock, realClock } from "./clock.js";

/** How {@link pollUntil} waits between checks. */
export interface PollOptions {
  /** Give up after this long: the result is then false. */
  timeoutMs: number;
  /** First pause; doubles up to `maxMs`. Default 5. */
  minMs?: number;
  /** Longest pause. Default 100. */
  maxMs?: number;
  clock?: Clock;
  /** The caller's deadline or cancel: rejects with its reason. */
  signal?: AbortSignal | undefined;
}

/**
 * Checks `done` until it holds, pausing with a doubling backoff in between; false
 * when `timeoutMs` passes first. Only for what no event announces (another
 * process's pid going, a cgroup emptying, a peer opening a FIFO): every caller
 * says why in a comment.
 */
export async function pollUntil(done: () => boolean, o: PollOptions): Promise<boolean> {
  const clock = o.clock ?? realClock;
  const until = clock.now() + o.timeoutMs;
  for (let pause = o.minMs ?? 5; ; pause = Math.min(pause * 2, o.maxMs ?? 100)) {
    if (done()) return true;
    const left = until - clock.now();
    if (left <= 0) return false;
    await clock.sleep(Math.min(pause, left), o.signal);
  }
}

/** {@link pollUntil}, failing with DeadlineExceeded `what` when the time runs out. */
export async function pollOrFail(done: () => boolean, what: string, o: PollOptions): Promise<void> {
  if (!(await pollUntil(done, o))) throw new RuntimeError(Code.DeadlineExceeded, `${what} within ${o.timeoutMs} ms`);
}
