import { join } from "node:path";
import { shortSocketPath } from "../../fs/long-socket-path.js";
import { shortHash } from "../../pod/pod-runtime.js";

/** Where the pod's shared directory (virtio-fs tag "kuasar") is mounted in the guest. */
export const GUEST_SHARED = "/run/kuasar/shared";
/** runc's state root inside the guest (guest tmpfs). */
export const GUEST_RUNC_ROOT = "/run/runc";
/** The guest's runc. */
export const GUEST_RUNC = "/sbin/runc";
/** The guest's crun, when its initrd has one (packaging/build-guest.sh). */
export const GUEST_CRUN = "/sbin/crun";
/** The guest's OOM watcher (native/oom-watch), in every initrd that has crun. */
export const GUEST_OOM_WATCH = "/sbin/kuasar-oom-watch";
/** Console sockets of terminals inside the guest. */
export const GUEST_CONSOLE_DIR = "/run/kuasar/con";
/** The pod-wide /dev/shm inside the guest (a tmpfs guest/init mounts). */
export const GUEST_POD_SHM = "/run/kuasar/shm";

/** Host-side layout of one VM pod. QEMU and virtiofsd bind and dial the sockets by name: each fits sun_path whatever `stateDir` is. */
export interface VmPaths {
  /** Host directory shared with the guest at {@link GUEST_SHARED}. */
  shared: string;
  /** The agent's exit journal (written by the guest through the share). */
  journal: string;
  agentSocket: string;
  qmpSocket: string;
  fsSocket: string;
  consoleLog: string;
  qemuLog: string;
  virtiofsdLog: string;
  /** The VM's own copy of its template's RAM (VMs restored from a template only). */
  memory: string;
}

export function vmPaths(stateDir: string, podDir: string, id: string): VmPaths {
  const s = join(stateDir, "s", shortHash(id));
  return {
    shared: join(podDir, "shared"),
    journal: join(podDir, "shared", "agent", "exits"),
    agentSocket: shortSocketPath(`${s}.agent`),
    qmpSocket: shortSocketPath(`${s}.qmp`),
    fsSocket: shortSocketPath(`${s}.fs`),
    consoleLog: join(podDir, "console.log"),
    qemuLog: join(podDir, "qemu.log"),
    virtiofsdLog: join(podDir, "virtiofsd.log"),
    memory: join(podDir, "memory"),
  };
}

/** Maps a host path below the pod's shared directory to the guest's view of it. */
export function toGuest(paths: VmPaths, hostPath: string): string {
  if (hostPath !== paths.shared && !hostPath.startsWith(`${paths.shared}/`)) throw new Error(`${hostPath} is not under ${paths.shared}`);
  return GUEST_SHARED + hostPath.slice(paths.shared.length);
}
