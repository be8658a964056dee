/** Metadata key the endpoint adds to every relayed call: which containerd-facing socket it came in on. */
export const ROUTE_KEY = "kuasar-route";

/** Route of a sandboxer's Task API socket. */
export function taskRoute(sandboxer: string): string {
  return `task/${sandboxer}`;
}

/** Route of the shim v2 bridge socket (containerd 1.7). */
export const SHIM_ROUTE = "shim";
