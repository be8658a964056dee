import type { PodResources } from "../../sandbox/sandboxer.js";

/**
 * The host limits of a gVisor pod's sandbox for its containers' own limits.
 * Every container runs inside the one sandbox process, so the host can only
 * bound them together: memory and CPU quota are the sums of the containers'
 * (0, left as it is, as soon as one container has none: the sum would be
 * unbounded), shares the sum of what each asks for. Quotas are summed over a
 * common period (the first one named, else CFS's 100 ms).
 */
export function sandboxResourcesFor(containers: readonly PodResources[]): PodResources {
  if (containers.length === 0) return { memoryLimitBytes: 0, cpuQuota: 0, cpuPeriod: 0, cpuShares: 0 };
  const period = containers.find((c) => c.cpuPeriod > 0)?.cpuPeriod ?? 100_000;
  const allHave = (f: (c: PodResources) => number) => containers.every((c) => f(c) > 0);
  const memoryLimitBytes = allHave((c) => c.memoryLimitBytes) ? containers.reduce((s, c) => s + c.memoryLimitBytes, 0) : 0;
  const cpuQuota = allHave((c) => c.cpuQuota)
    ? containers.reduce((s, c) => s + Math.ceil((c.cpuQuota * period) / (c.cpuPeriod > 0 ? c.cpuPeriod : 100_000)), 0)
    : 0;
  const cpuShares = containers.reduce((s, c) => s + c.cpuShares, 0);
  return { memoryLimitBytes, cpuQuota, cpuPeriod: cpuQuota > 0 ? period : 0, cpuShares };
}
