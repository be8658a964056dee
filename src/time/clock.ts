import { Code } from "../errors/code.js";
import { RuntimeError } from "../errors/runtime-error.js";
import { abortedError } from "../errors/aborted.js";

/** A pending timer of a {@link Clock}. */
export interface ClockTimer {
  /** Stops it from firing; harmless once it fired. */
  cancel(): void;
}

/**
 * Time as the daemon's waits see it: grace periods, reconcile and poll intervals,
 * retry backoffs. The real clock by default; tests pass a manual one and move it
 * forward themselves, so a path that waits is tested without waiting.
 */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Calls `fn` once after `ms`. */
  timer(ms: number, fn: () => void): ClockTimer;
  /** Calls `fn` every `ms` until cancelled; background work (a poll, a reconcile) that never keeps the process alive. */
  interval(ms: number, fn: () => void): ClockTimer;
  /** Resolves after `ms`; rejects at once with the signal's reason (a RuntimeError) when it fires first. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
  /** A signal that aborts with DeadlineExceeded after `ms` (AbortSignal.timeout on this clock). */
  timeout(ms: number): AbortSignal;
}

/** The parts every clock derives the same way from `now` and `timer`. */
export abstract class ClockBase implements Clock {
  abstract now(): number;
  abstract timer(ms: number, fn: () => void): ClockTimer;
  abstract interval(ms: number, fn: () => void): ClockTimer;

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(abortedError(signal));
      const onAbort = () => {
        t.cancel();
        reject(abortedError(signal!));
      };
      const t = this.timer(ms, () => {
        signal?.removeEventListener("abort", onAbort);
        resolve();
      });
      signal?.addEventListener("abort", onAbort, { once: true });
    });
  }

  timeout(ms: number): AbortSignal {
    const ac = new AbortController();
    this.timer(ms, () => ac.abort(new RuntimeError(Code.DeadlineExceeded, `deadline of ${ms} ms exceeded`)));
    return ac.signal;
  }
}

/** Wall-clock time and Node timers; `timeout` is AbortSignal.timeout's (which keeps no process alive). */
class RealClock extends ClockBase {
  now(): number {
    return Date.now();
  }

  timer(ms: number, fn: () => void): ClockTimer {
    const t = setTimeout(fn, ms);
    return { cancel: () => clearTimeout(t) };
  }

  interval(ms: number, fn: () => void): ClockTimer {
    const t = setInterval(fn, ms);
    t.unref();
    return { cancel: () => clearInterval(t) };
  }

  override timeout(ms: number): AbortSignal {
    return AbortSignal.timeout(ms);
  }
}

/** The real clock. */
export const realClock: Clock = new RealClock();
