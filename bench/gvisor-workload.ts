/**
 * What a gvisor pod's processes are in the memory snapshots. The container's
 * busybox `sleep` runs inside the pod's runsc sandbox process (gVisor's sentry,
 * with its ptrace stub processes), so that process is the workload; the gofers
 * (file proxies) and each container's `runsc wait` (its exit reporter) are the
 * runtime's overhead and count as management.
 *
 * @internal benchmark, not part of the runtime
 */
import { cpus } from "node:os";
import { basename } from "node:path";
import type { ProcessInfo } from "../testing/process-table.js";

/** Role of a gvisor pod's sandbox process (and its ptrace stubs). */
export const GVISOR_SANDBOX_ROLE = "gVisor sandbox (sentry running the container)";

/** {@link GVISOR_SANDBOX_ROLE} for a runsc sandbox process, else undefined. */
export function gvisorSandboxRole(p: ProcessInfo): string | undefined {
  return p.cmdline[0] === "runsc-sandbox" ? GVISOR_SANDBOX_ROLE : undefined;
}

/** The runsc processes that are the gvisor sandboxer's overhead (gofers, exit reporters), else undefined. */
export function runscManagementRole(p: ProcessInfo): string | undefined {
  if (p.cmdline[0] === "runsc-gofer") return "runsc gofer";
  if (basename(p.cmdline[0] ?? "") === "runsc" && p.cmdline.includes("wait")) return "runsc wait (exit reporter)";
  return undefined;
}

/**
 * The most gvisor pods the memory curve goes to here: about ten per CPU. An idle gVisor sandbox
 * on systrap keeps some 3% of a CPU busy (its fast-path latency monitor wakes every 400 us,
 * idle or not), so 50 of them saturate a 2-core host and the fill and the teardown time out;
 * the per-pod slope is as good from the smaller counts.
 */
export function gvisorMaxMemoryPods(): number {
  return Math.max(10, 10 * cpus().length);
}
