import type { OciSpec } from "../../pod/oci-spec.js";
import { addPodMounts, clampOomScoreAdj, type PodContext } from "../../pod/pod-context.js";

/** OCI annotations runsc reads to put several containers in one sandbox. */
export const CONTAINER_TYPE_ANNOTATION = "io.kubernetes.cri.container-type";
export const SANDBOX_ID_ANNOTATION = "io.kubernetes.cri.sandbox-id";
/** runsc's hint that a container's root filesystem is an image it opens itself (no gofer serves it). */
export const ROOTFS_SOURCE_ANNOTATION = "dev.gvisor.spec.rootfs.source";
export const ROOTFS_TYPE_ANNOTATION = "dev.gvisor.spec.rootfs.type";

/** Where the pause program appears inside the root container. */
export const PAUSE_PATH = "/pause";

/** What the root container of a pod's sandbox is made of. */
export interface RootContainer {
  /** runsc id of the root container: it names the sandbox the pod's containers join. */
  sandboxId: string;
  /** An empty directory: the root container's read-only rootfs (with a `/pause` mount point) when it has no image. */
  rootfs: string;
  /** The static pause program, bind-mounted read-only on `/pause` when the container has no image. */
  pauseBinary: string;
  /**
   * The EROFS image holding `/pause` (root-image.ts): runsc boots the root container from
   * it without a gofer. Absent or "": a gofer serves `rootfs` and the bind mount.
   */
  rootImage?: string;
  hostname: string;
  /** containerd's network namespace for the pod; "" keeps the daemon's (host network). */
  netnsPath: string;
  /**
   * The pod cgroup, which the sandbox process (gVisor's kernel, running every
   * container) joins, so the pod's and its containers' limits bound it; without
   * one runsc makes a cgroup of its own for the sandbox.
   */
  cgroupsPath?: string;
}

/**
 * The spec of a pod's root container: it starts the gVisor sandbox (its kernel,
 * in the pod's network namespace) and runs only the pause program, from the
 * node's root image or an empty rootfs, so nothing comes from containerd's image store.
 */
export function rootContainerSpec(r: RootContainer): OciSpec {
  const namespaces = [{ type: "pid" }, { type: "ipc" }, { type: "uts" }, { type: "mount" }, ...(r.netnsPath ? [{ type: "network", path: r.netnsPath }] : [])];
  return {
    ociVersion: "1.0.2",
    process: {
      terminal: false,
      user: { uid: 65535, gid: 65535 },
      args: [PAUSE_PATH],
      env: ["PATH=/"],
      cwd: "/",
      capabilities: { bounding: [], effective: [], permitted: [], inheritable: [] },
      noNewPrivileges: true,
    },
    root: { path: r.rootfs, readonly: true },
    hostname: r.hostname,
    mounts: [
      { destination: "/proc", type: "proc", source: "proc" },
      ...(r.rootImage ? [] : [{ destination: PAUSE_PATH, type: "bind", source: r.pauseBinary, options: ["rbind", "ro"] }]),
    ],
    annotations: {
      [CONTAINER_TYPE_ANNOTATION]: "sandbox",
      [SANDBOX_ID_ANNOTATION]: r.sandboxId,
      ...(r.rootImage ? { [ROOTFS_SOURCE_ANNOTATION]: r.rootImage, [ROOTFS_TYPE_ANNOTATION]: "erofs" } : {}),
    },
    linux: { namespaces, ...(r.cgroupsPath ? { cgroupsPath: r.cgroupsPath } : {}) },
  };
}

/**
 * Prepares containerd's spec for a container of a gvisor pod: it joins the
 * pod's sandbox (runsc reads the annotations), gets the pod's hostname, hosts,
 * resolv.conf and /dev/shm mounts, and loses namespace paths (host namespaces
 * mean nothing inside gVisor's kernel: every container shares the sandbox's
 * network and IPC).
 */
export function prepareGvisorSpec(spec: OciSpec, sandboxId: string, pod: PodContext | undefined, minOomScoreAdj: number): OciSpec {
  const out: OciSpec = structuredClone(spec);
  clampOomScoreAdj(out, minOomScoreAdj);
  out.annotations = { ...out.annotations, [CONTAINER_TYPE_ANNOTATION]: "container", [SANDBOX_ID_ANNOTATION]: sandboxId };
  if (out.linux?.namespaces) out.linux.namespaces = out.linux.namespaces.map((n) => ({ type: n.type }));
  if (pod) addPodMounts(out, pod);
  return out;
}
