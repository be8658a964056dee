import type { PodFiles } from "../../pod/pod-files.js";
import type { OciMount, OciSpec } from "../../pod/oci-spec.js";

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

/**
 * Prepares containerd's spec for a container of a runc pod with no pause container:
 * joins the pod's namespaces by path (unless the spec already names a path), bind-mounts
 * the pod's hostname/hosts/resolv.conf and /dev/shm where CRI did not, and clamps a
 * negative oom_score_adj to `minOomScoreAdj` (no CAP_SYS_RESOURCE means the kernel
 * refuses to lower it, as containerd's `restrict_oom_score_adj`).
 */
export function prepareContainerSpec(spec: OciSpec, pod: PodContext | undefined, minOomScoreAdj: number): OciSpec {
  const out: OciSpec = structuredClone(spec);
  if (out.process && typeof out.process.oomScoreAdj === "number" && out.process.oomScoreAdj < minOomScoreAdj) {
    out.process.oomScoreAdj = minOomScoreAdj;
  }
  if (!pod) return out;
  const linux = (out.linux ??= {});
  const namespaces = (linux.namespaces ??= []);
  const join = (type: string, wanted: boolean) => {
    const ns = namespaces.find((n) => n.type === type);
    if (!wanted) return;
    if (!ns) namespaces.push({ type, path: `/proc/${pod.pid}/ns/${type}` });
    else if (!ns.path) ns.path = `/proc/${pod.pid}/ns/${type}`;
  };
  // A host-network pod keeps the host's namespace: no entry at all.
  if (pod.hostNetwork) linux.namespaces = namespaces.filter((n) => n.type !== "network");
  else join("network", true);
  if (pod.hostIpc) linux.namespaces = linux.namespaces.filter((n) => n.type !== "ipc");
  else join("ipc", true);
  join("uts", !pod.hostNetwork);
  if (pod.sharedPid) join("pid", true);

  const mounts = (out.mounts ??= []);
  const has = (dest: string) => mounts.some((m) => m.destination === dest);
  const bind = (destination: string, source: string, ro: boolean): OciMount => ({
    destination,
    type: "bind",
    source,
    options: ["rbind", "rprivate", ro ? "ro" : "rw"],
  });
  const readonlyRoot = out.root?.readonly === true;
  if (!has("/etc/hostname")) mounts.push(bind("/etc/hostname", pod.files.hostname, readonlyRoot));
  if (!has("/etc/hosts")) mounts.push(bind("/etc/hosts", pod.files.hosts, readonlyRoot));
  if (!has("/etc/resolv.conf")) mounts.push(bind("/etc/resolv.conf", pod.files.resolvConf, readonlyRoot));
  if (pod.shmPath) {
    const shm = mounts.findIndex((m) => m.destination === "/dev/shm");
    // runc's default spec has a private tmpfs here; the pod's shm is shared by all its containers.
    const podShm = bind("/dev/shm", pod.shmPath, false);
    if (shm === -1) mounts.push(podShm);
    else if (mounts[shm]!.type === "tmpfs") mounts[shm] = podShm;
  }
  return out;
}
