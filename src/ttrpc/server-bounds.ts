import type { Socket } from "node:net";

/**
 * What a ttrpc server keeps for its clients, at most. Every bound is off by
 * default (kuasar-endpoint's containerd-facing servers keep their behaviour);
 * kuasard's internal socket turns them on.
 */
export interface ServerBounds {
  /**
   * Most connections open at once, not counting trusted ones. A connection
   * past it is closed as soon as it is known not to be trusted. Default Infinity.
   */
  maxConnections: number;
  /** A connection with no call in flight and no byte received for this long is ended, in ms. 0: never. */
  idleTimeoutMs: number;
  /**
   * A connection holding part of a frame (a header or its data) that has sent
   * nothing more for this long is closed, in ms. 0: never.
   */
  partialFrameTimeoutMs: number;
  /**
   * Tells connections no bound may close (the daemon's own peers). Asked only
   * when a bound is about to close a connection, and at most once per
   * connection; a rejected promise counts as untrusted.
   */
  isTrusted: ((socket: Socket) => Promise<boolean>) | undefined;
}

export const defaultServerBounds: Readonly<ServerBounds> = {
  maxConnections: Infinity,
  idleTimeoutMs: 0,
  partialFrameTimeoutMs: 0,
  isTrusted: undefined,
};

/** How often the bounds are checked: a quarter of the shortest timeout, between 10 ms and 1 s. */
export function sweepIntervalMs(b: Pick<ServerBounds, "idleTimeoutMs" | "partialFrameTimeoutMs">): number | undefined {
  const ts = [b.idleTimeoutMs, b.partialFrameTimeoutMs].filter((t) => t > 0);
  if (ts.length === 0) return undefined;
  return Math.min(1000, Math.max(10, Math.floor(Math.min(...ts) / 4)));
}
