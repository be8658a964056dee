import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { OciSpec } from "../../../src/pod/oci-spec.js";
import type { PodContext } from "../../../src/pod/pod-context.js";
import { CONTAINER_TYPE_ANNOTATION, prepareGvisorSpec, rootContainerSpec, SANDBOX_ID_ANNOTATION } from "../../../src/sandboxers/gvisor/sandbox-spec.js";

const pod: PodContext = {
  pid: 4321,
  files: { hostname: "/s/hostname", hosts: "/s/hosts", resolvConf: "/s/resolv.conf" },
  shmPath: "/s/shm",
  hostNetwork: false,
  hostIpc: false,
  sharedPid: false,
};

const containerdSpec = (): OciSpec => ({
  process: { args: ["sh"], oomScoreAdj: -998 },
  root: { path: "rootfs" },
  annotations: { [CONTAINER_TYPE_ANNOTATION]: "container", [SANDBOX_ID_ANNOTATION]: "from-cri", "x.y/z": "kept" },
  mounts: [{ destination: "/dev/shm", type: "tmpfs", source: "shm" }],
  linux: { namespaces: [{ type: "pid" }, { type: "network", path: "/proc/77/ns/net" }, { type: "ipc", path: "/proc/77/ns/ipc" }] },
});

describe("rootContainerSpec", () => {
  it("starts the sandbox from an empty rootfs running only the pause program, in the pod's network namespace", () => {
    const s = rootContainerSpec({ sandboxId: "pod1", rootfs: "/p/gvisor/rootfs", pauseBinary: "/b/kuasar-pause", hostname: "web", netnsPath: "/run/netns/cni-1" });
    assert.deepEqual(s.process?.args, ["/pause"]);
    assert.deepEqual(s.root, { path: "/p/gvisor/rootfs", readonly: true });
    assert.equal(s.hostname, "web");
    assert.deepEqual(s.annotations, { [CONTAINER_TYPE_ANNOTATION]: "sandbox", [SANDBOX_ID_ANNOTATION]: "pod1" });
    assert.deepEqual(s.mounts?.find((m) => m.destination === "/pause"), { destination: "/pause", type: "bind", source: "/b/kuasar-pause", options: ["rbind", "ro"] });
    assert.deepEqual(s.linux?.namespaces?.find((n) => n.type === "network"), { type: "network", path: "/run/netns/cni-1" });
  });

  it("names no network namespace for a host-network pod", () => {
    const s = rootContainerSpec({ sandboxId: "pod1", rootfs: "/r", pauseBinary: "/b", hostname: "h", netnsPath: "" });
    assert.equal(s.linux?.namespaces?.some((n) => n.type === "network"), false);
  });

  it("puts the sandbox in the pod cgroup when there is one, else leaves the cgroup to runsc", () => {
    assert.equal(rootContainerSpec({ sandboxId: "p", rootfs: "/r", pauseBinary: "/b", hostname: "h", netnsPath: "", cgroupsPath: "/kubepods/p1/p" }).linux?.cgroupsPath, "/kubepods/p1/p");
    assert.equal(rootContainerSpec({ sandboxId: "p", rootfs: "/r", pauseBinary: "/b", hostname: "h", netnsPath: "" }).linux?.cgroupsPath, undefined);
  });
});

describe("prepareGvisorSpec", () => {
  it("points the container at the pod's sandbox and keeps other annotations", () => {
    const s = prepareGvisorSpec(containerdSpec(), "pod1", pod, 0);
    assert.equal(s.annotations?.[CONTAINER_TYPE_ANNOTATION], "container");
    assert.equal(s.annotations?.[SANDBOX_ID_ANNOTATION], "pod1");
    assert.equal(s.annotations?.["x.y/z"], "kept");
  });

  it("drops host namespace paths (gVisor's kernel has its own) and keeps the types", () => {
    const s = prepareGvisorSpec(containerdSpec(), "pod1", pod, 0);
    assert.deepEqual(s.linux?.namespaces, [{ type: "pid" }, { type: "network" }, { type: "ipc" }]);
  });

  it("mounts the pod's hostname, hosts, resolv.conf and shm, and clamps oom_score_adj", () => {
    const s = prepareGvisorSpec(containerdSpec(), "pod1", pod, -500);
    const byDest = new Map(s.mounts?.map((m) => [m.destination, m.source]));
    assert.equal(byDest.get("/etc/hostname"), "/s/hostname");
    assert.equal(byDest.get("/etc/hosts"), "/s/hosts");
    assert.equal(byDest.get("/etc/resolv.conf"), "/s/resolv.conf");
    assert.equal(byDest.get("/dev/shm"), "/s/shm");
    assert.equal(s.process?.oomScoreAdj, -500);
  });

  it("leaves the input spec untouched and a standalone container's mounts alone", () => {
    const input = containerdSpec();
    const s = prepareGvisorSpec(input, "solo", undefined, 0);
    assert.deepEqual(input, containerdSpec());
    assert.deepEqual(s.mounts, [{ destination: "/dev/shm", type: "tmpfs", source: "shm" }]);
  });
});
