import { join } from "node:path";
import type { OciMount, OciSpec } from "../../pod/oci-spec.js";
import { RECURSIVE_ATTR_OPTIONS } from "../../shim/runtime-info.js";
import { GUEST_POD_SHM, toGuest, type VmPaths } from "./guest-paths.js";

/** A host path the guest needs, bind-mounted below the shared directory. */
export interface ShareBind {
  source: string;
  /** Host target below `VmPaths.shared`. */
  target: string;
  recursive: boolean;
}

/** A container's spec as the guest's runc sees it, and the binds that make its paths exist there. */
export interface GuestContainerSpec {
  spec: OciSpec;
  binds: ShareBind[];
}

/** Namespaces a VM pod's containers share by living in the same guest. */
const GUEST_WIDE = new Set(["network", "ipc", "uts"]);
/** sysctls only valid in a private net/ipc namespace: a VM pod applies them guest-wide at start. */
const NAMESPACED_SYSCTL = /^(net\.|kernel\.(shm|msg|sem)|fs\.mqueue\.)/;

/**
 * Rewrites containerd's spec for runc inside the guest. The rootfs and every
 * host bind source are reached through the shared directory; network, IPC and
 * UTS are the guest's own (the VM is the pod), the pid namespace is the guest's
 * when the pod shares one; host-only settings (hooks, AppArmor/SELinux labels,
 * systemd cgroup paths) are dropped.
 */
export function guestContainerSpec(oci: OciSpec, id: string, paths: VmPaths, opts: { containerDir: string; hostIpc: boolean }): GuestContainerSpec {
  const spec = structuredClone(oci);
  const binds: ShareBind[] = [];
  spec.root = { ...(spec.root ?? { path: "rootfs" }), path: toGuest(paths, join(opts.containerDir, "rootfs")) };
  const mounts: OciMount[] = [];
  for (const [i, m] of (spec.mounts ?? []).entries()) {
    if (m.destination === "/dev/shm" && !opts.hostIpc) {
      mounts.push({ destination: "/dev/shm", type: "bind", source: GUEST_POD_SHM, options: ["rbind", "rw", "nosuid", "nodev"] });
      continue;
    }
    const opt = m.options ?? [];
    const isBind = m.type === "bind" || opt.includes("bind") || opt.includes("rbind");
    if (isBind && m.source?.startsWith("/")) {
      const target = join(opts.containerDir, "m", String(i));
      // A recursive attribute (rro) is applied by the guest's runc to the submounts it sees: the host bind must carry them.
      binds.push({ source: m.source, target, recursive: opt.includes("rbind") || opt.some((o) => RECURSIVE_ATTR_OPTIONS.has(o)) });
      mounts.push({ ...m, source: toGuest(paths, target) });
      continue;
    }
    mounts.push(m);
  }
  spec.mounts = mounts;
  delete spec["hooks"];
  if (spec.process) {
    delete spec.process["apparmorProfile"];
    delete spec.process["selinuxLabel"];
  }
  const linux = spec.linux;
  if (linux) {
    linux.namespaces = (linux.namespaces ?? [])
      .filter((n) => !GUEST_WIDE.has(n.type) && !(n.type === "pid" && n.path))
      .map((n) => ({ type: n.type }));
    delete spec.hostname; // the guest's hostname is the pod's (no private UTS namespace to set it in)
    if (linux.cgroupsPath?.includes(":")) linux.cgroupsPath = `/kuasar/${id}`;
    delete linux["mountLabel"];
    const sysctl = linux["sysctl"] as Record<string, string> | undefined;
    if (sysctl) linux["sysctl"] = Object.fromEntries(Object.entries(sysctl).filter(([k]) => !NAMESPACED_SYSCTL.test(k)));
  }
  return { spec, binds };
}
