import { timestampFromDate, type Timestamp } from "@bufbuild/protobuf/wkt";
import type { SandboxStatus } from "./sandboxer.js";

/*
 * How a Sandboxer's answers go into the messages of the sandbox APIs containerd speaks
 * (upstream's Controller, the kuasar-io fork's Controller, the shim's Sandbox service).
 */

/** Key of Status `info` that carries the sandbox's labels (a JSON object). */
export const LABELS_INFO_KEY = "labels";

/** What Status reports as `state`: the only two strings CRI understands. */
export const criStateString = (s: SandboxStatus["state"]): string => (s === "ready" ? "SANDBOX_READY" : "SANDBOX_NOTREADY");

/** A protobuf Timestamp of `d`, or none. */
export const timestampOf = (d: Date | undefined): Timestamp | undefined => (d ? timestampFromDate(d) : undefined);

/**
 * Status `info` with the sandbox's labels: the Controllers' Status responses have no
 * labels field (Start's response does), so they travel as JSON under {@link LABELS_INFO_KEY}.
 */
export function statusInfoWithLabels(s: SandboxStatus): Record<string, string> {
  if (Object.keys(s.labels).length === 0) return s.info;
  return { ...s.info, [LABELS_INFO_KEY]: JSON.stringify(s.labels) };
}

/** The call's containerd namespace, or `fallback` when the caller named none. */
export function namespaceOr(ctx: { readonly namespace: string | undefined }, fallback: string): string {
  return ctx.namespace || fallback;
}
