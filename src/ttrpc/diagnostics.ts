import { channel } from "node:diagnostics_channel";

/**
 * ttrpc does not log: it publishes here, and entry points subscribe with their logger.
 * Message shape: {@link ConnectionClosedEvent}.
 */
export const connectionClosedChannel = channel("kuasar:ttrpc:connection-closed");

/** Published when a connection ends; `reason` is set when it ended because of an error. */
export interface ConnectionClosedEvent {
  readonly side: "server" | "client";
  readonly reason?: Error;
  /** Calls still running when the connection ended. */
  readonly inFlight: number;
}

/** Publishes a closed-connection event if anyone listens. */
export function publishConnectionClosed(ev: ConnectionClosedEvent): void {
  if (connectionClosedChannel.hasSubscribers) connectionClosedChannel.publish(ev);
}
