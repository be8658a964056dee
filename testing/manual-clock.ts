import { type ClockTimer, ClockBase } from "../src/time/clock.js";

interface Pending {
  at: number;
  fn: () => void;
}

/**
 * A clock that moves only when the test says: `advance(ms)` fires every timer due
 * by then, in time order. Waiting on it costs no real time, so a grace period, a
 * backoff or a poll interval is tested by what happens before and after it.
 */
export class ManualClock extends ClockBase {
  private nowMs: number;
  private readonly pending = new Set<Pending>();
  private readonly armed: Array<() => void> = [];

  constructor(start = Date.UTC(2026, 0, 1)) {
    super();
    this.nowMs = start;
  }

  now(): number {
    return this.nowMs;
  }

  timer(ms: number, fn: () => void): ClockTimer {
    const p: Pending = { at: this.nowMs + Math.max(0, ms), fn };
    this.pending.add(p);
    for (const wake of this.armed.splice(0)) wake();
    return { cancel: () => void this.pending.delete(p) };
  }

  interval(ms: number, fn: () => void): ClockTimer {
    let current: ClockTimer | undefined;
    let cancelled = false;
    const arm = () => {
      current = this.timer(ms, () => {
        if (cancelled) return;
        arm(); // re-armed first: the next tick is due `ms` after this one, whatever `fn` does
        fn();
      });
    };
    arm();
    return {
      cancel: () => {
        cancelled = true;
        current?.cancel();
      },
    };
  }

  /** Timers set and not yet fired or cancelled. */
  get timers(): number {
    return this.pending.size;
  }

  /** Resolves once at least `n` timers are pending (someone is waiting on this clock). */
  async waiting(n = 1): Promise<void> {
    while (this.pending.size < n) await new Promise<void>((r) => this.armed.push(r));
  }

  /** Moves time to the earliest pending timer and fires it (and any due with it); false when none is pending. */
  advanceToNext(): boolean {
    const next = [...this.pending].sort((a, b) => a.at - b.at)[0];
    if (!next) return false;
    this.advance(next.at - this.nowMs);
    return true;
  }

  /**
   * Runs `work` to its end on this clock: whenever it waits on a timer, time moves
   * to that timer. For work that waits on nothing but this clock.
   */
  async drive<T>(work: Promise<T>): Promise<T> {
    let done = false;
    const settled = work.finally(() => (done = true));
    settled.catch(() => {});
    while (!done) {
      this.advanceToNext();
      await new Promise((r) => setImmediate(r)); // let the work run up to its next wait
    }
    return settled;
  }

  /** Moves time forward by `ms`, firing what falls due, each at its own time. */
  advance(ms: number): void {
    const until = this.nowMs + ms;
    for (;;) {
      const next = [...this.pending].filter((p) => p.at <= until).sort((a, b) => a.at - b.at)[0];
      if (!next) break;
      this.pending.delete(next);
      this.nowMs = Math.max(this.nowMs, next.at);
      next.fn();
    }
    this.nowMs = until;
  }
}
