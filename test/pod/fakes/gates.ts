import { abortedError } from "../../../src/errors/aborted.js";

/**
 * Steps of a fake a test holds open: a held step, once reached, waits until the
 * test releases it or its caller's signal fires (as a real step listening to the
 * signal would), and then fails with the signal's reason.
 */
export class Gates {
  private readonly held = new Map<string, { release: () => void; released: Promise<void> }>();
  /** Held steps reached and waiting. */
  private readonly waiting = new Map<string, () => void>();
  private readonly arrivals = new Map<string, { arrive: () => void; arrived: Promise<void> }>();

  /** Holds `step` the next time it is reached. */
  hold(step: string): void {
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    this.held.set(step, { release, released });
  }

  /** Lets a held `step` go on (or not wait, if not reached yet). */
  release(step: string): void {
    this.held.get(step)?.release();
    this.held.delete(step);
    this.waiting.get(step)?.();
    this.waiting.delete(step);
  }

  /** Resolves once `step` was reached. */
  reached(step: string): Promise<void> {
    return this.arrival(step).arrived;
  }

  /** Called by the fake at `step`. */
  async pass(step: string, signal: AbortSignal | undefined): Promise<void> {
    this.arrival(step).arrive();
    const gate = this.held.get(step);
    this.held.delete(step); // a hold is for one pass
    if (gate) {
      this.waiting.set(step, gate.release);
      await new Promise<void>((resolve, reject) => {
        const onAbort = () => reject(abortedError(signal!));
        if (signal?.aborted) return onAbort();
        signal?.addEventListener("abort", onAbort, { once: true });
        void gate.released.then(() => {
          signal?.removeEventListener("abort", onAbort);
          resolve();
        });
      });
    }
    if (signal?.aborted) throw abortedError(signal);
  }

  private arrival(step: string): { arrive: () => void; arrived: Promise<void> } {
    let a = this.arrivals.get(step);
    if (!a) {
      let arrive!: () => void;
      const arrived = new Promise<void>((r) => (arrive = r));
      a = { arrive, arrived };
      this.arrivals.set(step, a);
    }
    return a;
  }
}
