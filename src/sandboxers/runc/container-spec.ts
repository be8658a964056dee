import type { OciSpec } from "../../pod/oci-spec.js";
import { addPodMounts, clampOomScoreAdj, type PodContext } from "../../pod/pod-context.js";

export type { PodContext };

/**
 * Prepares containerd's spec for a container of a runc pod with no pause container:
 * joins the pod's namespaces by path (unless the spec already names a path), bind-mounts
 * the pod's hostname/hosts/resolv.conf and /dev/shm where CRI did not, and clamps a
 * negative oom_score_adj to `minOomScoreAdj` (no CAP_SYS_RESOURCE means the kernel
 * refuses to lower it, as containerd's `restrict_oom_score_adj`).
 */
export function prepareContainerSpec(spec: OciSpec, pod: PodContext | undefined, minOomScoreAdj: number): OciSpec {
  const out: OciSpec = structuredClone(spec);
  clampOomScoreAdj(out, minOomScoreAdj);
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

  addPodMounts(out, pod);
  return out;
}
