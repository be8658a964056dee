import { channel } from "node:diagnostics_channel";
import type { Metadata } from "../ttrpc/metadata.js";

/**
 * Every RPC kuasard serves is announced here (Sandbox API over gRPC, Task API and the
 * shim bridge over ttrpc). Metrics and tracing subscribe only when enabled; with no
 * subscriber, announcing a call costs one boolean test.
 */
export const rpcCallChannel = channel("kuasar:rpc:call");

/** Which API a call came in on. */
export type RpcApi = "sandbox" | "task" | "shim";

/** One call as announced; a subscriber pushes to `onEnd` to learn how it ended. */
export interface RpcCall {
  readonly api: RpcApi;
  /** Fully-qualified service, e.g. `containerd.task.v3.Task`. */
  readonly service: string;
  readonly method: string;
  /** The call's metadata (gRPC headers or ttrpc metadata): `traceparent` is read from here. */
  readonly metadata: Metadata;
  /** Called once with the status code the call is answered with (0 = OK). */
  readonly onEnd: ((code: number) => void)[];
}

/** Announces a call; returns how to report its end, or undefined when nobody listens. */
export function announceCall(api: RpcApi, service: string, method: string, metadata: Metadata): ((code: number) => void) | undefined {
  if (!rpcCallChannel.hasSubscribers) return undefined;
  const call: RpcCall = { api, service, method, metadata, onEnd: [] };
  rpcCallChannel.publish(call);
  if (call.onEnd.length === 0) return undefined;
  return (code) => {
    for (const f of call.onEnd) f(code);
  };
}
