/**
 * Keeps containerd's output FIFOs open for writing while kuasard restarts: a
 * process that relays a container's output from kuasard (a VM's guest output)
 * would otherwise close the FIFO when kuasard dies, and containerd takes that
 * for the end of the container's output. Served by kuasar-endpoint (Hold/Release),
 * which outlives kuasard.
 */
export interface OutputKeeper {
  /** Keeps a write end of the FIFO at `path` open until {@link OutputKeeper.release}. Idempotent. */
  hold(path: string): Promise<void>;
  /** Lets the FIFO at `path` go (its output ended); a path not held is fine. */
  release(path: string): Promise<void>;
  /** Paths held now (to let go of what no live process owns after a restart). */
  held(): Promise<string[]>;
}

/** A keeper that keeps nothing (no endpoint: tests, standalone use). */
export const noOutputKeeper: OutputKeeper = {
  hold: async () => {},
  release: async () => {},
  held: async () => [],
};
