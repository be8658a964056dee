import type { Pod } from "./pod.js";

/**
 * The info line of a pod that ended without Stop (its holder, VM or engine sandbox
 * died): sandbox_id is in the pod's logger; duration_ms is how long it had lived.
 */
export function logPodLost(pod: Pod, kind: string, reason: string): void {
  const lived = Date.now() - Date.parse(pod.record.createdAt);
  pod.log.info({ kind, duration_ms: Number.isFinite(lived) ? lived : 0, reason }, "pod lost");
}
