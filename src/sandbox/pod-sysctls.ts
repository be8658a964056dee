import { Code } from "../errors/code.js";
import { RuntimeError } from "../errors/runtime-error.js";

/** The namespace a namespaced sysctl belongs to: set per pod, never on the host. */
export type SysctlNamespace = "ipc" | "net";

/**
 * The namespace of `key` (dot form: `kernel.shm_rmid_forced`), or undefined for a
 * host-level sysctl. The set is what Kubernetes calls namespaced; the UTS ones
 * (kernel.hostname, kernel.domainname) are the pod's hostname, not sysctls.
 */
export function sysctlNamespace(key: string): SysctlNamespace | undefined {
  if (key === "kernel.sem" || key.startsWith("kernel.shm") || key.startsWith("kernel.msg") || key.startsWith("fs.mqueue.")) return "ipc";
  if (key.startsWith("net.")) return "net";
  return undefined;
}

/**
 * Dot form of a sysctl name: Kubernetes also accepts `/` as the separator, and
 * then a `.` is part of a component (`net/ipv4/conf/eth0.100/rp_filter`).
 */
export function sysctlDotName(key: string): string {
  if (!key.includes("/")) return key;
  return key.replace(/[./]/g, (c) => (c === "/" ? "." : "/"));
}

/** The path below /proc/sys that `key` names (either separator). */
export function sysctlPath(key: string): string {
  return key.includes("/") ? key : key.replaceAll(".", "/");
}

/** What the pod's sysctls are set against. */
export interface PodSysctlContext {
  /** The pod uses the host's network namespace: net.* would change the host. */
  hostNetwork: boolean;
  /** The pod uses the host's IPC namespace: kernel.shm* and friends would change the host. */
  hostIpc: boolean;
}

/**
 * Refuses, before anything of the pod is made, a sysctl the pod may not set: a
 * host-level one, one of a namespace the pod shares with the host, or a name or
 * value that is not a plain /proc/sys entry. Every bad key is named.
 */
export function validatePodSysctls(sysctls: Readonly<Record<string, string>>, ctx: PodSysctlContext): void {
  const bad: string[] = [];
  for (const [key, value] of Object.entries(sysctls)) {
    const why = sysctlProblem(key, value, ctx);
    if (why !== undefined) bad.push(`${JSON.stringify(key)} ${why}`);
  }
  if (bad.length > 0) throw new RuntimeError(Code.InvalidArgument, `sysctls: ${bad.join("; ")}`);
}

function sysctlProblem(key: string, value: string, ctx: PodSysctlContext): string | undefined {
  const path = sysctlPath(key);
  if (path.split("/").some((c) => c === "" || c === "." || c === "..") || path.length > 255 || /[=\s\x00-\x1f\x7f]/.test(key)) return "is not a sysctl name";
  // Control characters would be cut or misread by the kernel's parsers; tabs and spaces separate fields (kernel.sem).
  if (/[\x00-\x08\x0a-\x1f\x7f]/.test(value)) return "has a control character in its value";
  if (value.length > 4096) return "has a value longer than 4096 bytes";
  const ns = sysctlNamespace(sysctlDotName(key));
  if (ns === undefined) return "is not namespaced: a pod cannot set a host-level sysctl";
  if (ns === "net" && ctx.hostNetwork) return "is a network sysctl and the pod uses the host network";
  if (ns === "ipc" && ctx.hostIpc) return "is an IPC sysctl and the pod uses the host IPC namespace";
  return undefined;
}
