import type { PodResources } from "../../sandbox/sandboxer.js";

/** vCPUs and memory of a pod's VM: the configured base plus the pod's limits (as Kuasar sizes its VMs). */
export function vmSize(base: { vcpus: number; memoryInMb: number }, r: PodResources | undefined): { vcpus: number; memoryMb: number } {
  const extraCpus = r && r.cpuQuota > 0 && r.cpuPeriod > 0 ? Math.ceil(r.cpuQuota / r.cpuPeriod) : 0;
  const extraMb = r && r.memoryLimitBytes > 0 ? Math.ceil(r.memoryLimitBytes / (1 << 20)) : 0;
  return { vcpus: base.vcpus + extraCpus, memoryMb: base.memoryInMb + extraMb };
}
