import type { PodResources } from "../../sandbox/sandboxer.js";

/**
 * Host memory a VM pod's processes use beyond the guest's RAM, in MiB: QEMU's
 * own heap, its TCG translation cache (touched as guest code is translated),
 * device and I/O buffers, and virtiofsd (its page cache included). Measured
 * (e2e pod-cgroups): a 256 MiB TCG guest whose container ran into its own
 * limit charged 285 MiB to the pod cgroup; 256 leaves room for a busier guest,
 * so a pod never has its VM OOM-killed for memory the guest was given.
 */
export const VM_HOST_OVERHEAD_MB = 256;

/**
 * The pod cgroup's limits for a VM pod. CPU is the pod's as asked (it bounds
 * every vCPU and I/O thread of QEMU and virtiofsd together). A memory limit
 * covers the guest's RAM (`vmMemoryMb`: the configured base plus the pod's
 * limit) and {@link VM_HOST_OVERHEAD_MB}: the pod's own limit is what the
 * guest can use, enforced inside it by its size and runc's cgroups; on the
 * host, a limit below the guest's RAM would OOM-kill the whole VM. No limit
 * asked, none set.
 */
export function vmHostResources(pod: PodResources, vmMemoryMb: number): PodResources {
  return { ...pod, memoryLimitBytes: pod.memoryLimitBytes > 0 ? (vmMemoryMb + VM_HOST_OVERHEAD_MB) * (1 << 20) : 0 };
}
