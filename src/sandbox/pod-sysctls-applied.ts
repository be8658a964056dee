import type { PodConfig } from "./sandboxer.js";

/** The sysctls an engine that sets pod sysctls applies: the runtime's own defaults, overridden by the pod's. */
export function podSysctlsToApply(pod: Pick<PodConfig, "sysctls" | "runtimeSysctls"> | undefined): Record<string, string> {
  return { ...(pod?.runtimeSysctls ?? {}), ...(pod?.sysctls ?? {}) };
}
