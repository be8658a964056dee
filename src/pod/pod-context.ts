import { join } from "node:path";
import type { PodFiles } from "./pod-files.js";
import type { OciMount, OciSpec } from "./oci-spec.js";
import type { Pod } from "./pod.js";

/** Where a pod's sandbox lives, as a container spec needs it. */
export interface PodContext {
  /** Pid whose namespaces are the pod's (the holder's pod process). */
  pid: number;
  files: PodFiles;
  /** The pod's /dev/shm mount source; "" when the pod uses the host IPC namespace. */
  shmPath: string;
  hostNetwork: boolean;
  hostIpc: boolean;
  sharedPid: boolean;
}

/** What a container of `pod` joins and mounts. */
export function podContext(pod: Pod): PodContext {
  const p = pod.record.pod;
  return {
    pid: pod.record.podPid,
    files: { hostname: join(pod.dir, "hostname"), hosts: join(pod.dir, "hosts"), resolvConf: join(pod.dir, "resolv.conf") },
    shmPath: pod.record.shmMounted ? join(pod.dir, "shm") : "",
    hostNetwork: p?.hostNetwork ?? pod.record.netnsPath === "",
    hostIpc: p?.hostIpc ?? false,
    sharedPid: p?.sharedPid ?? false,
  };
}

/**
 * Bind-mounts the pod's hostname/hosts/resolv.conf and /dev/shm into `spec`
 * where CRI did not (there is no pause container whose files CRI would use).
 */
export function addPodMounts(spec: OciSpec, pod: PodContext): void {
  const mounts = (spec.mounts ??= []);
  const has = (dest: string) => mounts.some((m) => m.destination === dest);
  const bind = (destination: string, source: string, ro: boolean): OciMount => ({
    destination,
    type: "bind",
    source,
    options: ["rbind", "rprivate", ro ? "ro" : "rw"],
  });
  const readonlyRoot = spec.root?.readonly === true;
  if (!has("/etc/hostname")) mounts.push(bind("/etc/hostname", pod.files.hostname, readonlyRoot));
  if (!has("/etc/hosts")) mounts.push(bind("/etc/hosts", pod.files.hosts, readonlyRoot));
  if (!has("/etc/resolv.conf")) mounts.push(bind("/etc/resolv.conf", pod.files.resolvConf, readonlyRoot));
  if (pod.shmPath) {
    const shm = mounts.findIndex((m) => m.destination === "/dev/shm");
    // The default spec has a private tmpfs here; the pod's shm is shared by all its containers.
    const podShm = bind("/dev/shm", pod.shmPath, false);
    if (shm === -1) mounts.push(podShm);
    else if (mounts[shm]!.type === "tmpfs") mounts[shm] = podShm;
  }
}

/** Raises a negative oom_score_adj to `min` (without CAP_SYS_RESOURCE the kernel refuses to lower it). */
export function clampOomScoreAdj(spec: OciSpec, min: number): void {
  if (spec.process) clampProcessOomScoreAdj(spec.process, min);
}

/** The same for one process (an exec's process spec). */
export function clampProcessOomScoreAdj(process: { oomScoreAdj?: number }, min: number): void {
  if (typeof process.oomScoreAdj === "number" && process.oomScoreAdj < min) process.oomScoreAdj = min;
}
