import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { prepareContainerSpec, type PodContext } from "../../../src/sandboxers/runc/container-spec.js";
import type { OciSpec } from "../../../src/pod/oci-spec.js";

const pod = (over: Partial<PodContext> = {}): PodContext => ({
  pid: 4321,
  files: { hostname: "/s/hostname", hosts: "/s/hosts", resolvConf: "/s/resolv.conf" },
  shmPath: "/s/shm",
  hostNetwork: false,
  hostIpc: false,
  sharedPid: false,
  ...over,
});

const base = (): OciSpec => ({
  process: { args: ["sh"], oomScoreAdj: -998 },
  root: { path: "rootfs" },
  mounts: [{ destination: "/dev/shm", type: "tmpfs", source: "shm", options: ["nosuid"] }],
  linux: { namespaces: [{ type: "pid" }, { type: "mount" }, { type: "network" }, { type: "ipc" }, { type: "uts" }] },
});

describe("prepareContainerSpec", () => {
  it("joins the pod's network, ipc and uts namespaces by path and keeps a private pid namespace", () => {
    const s = prepareContainerSpec(base(), pod(), 0);
    assert.deepEqual(s.linux!.namespaces, [
      { type: "pid" },
      { type: "mount" },
      { type: "network", path: "/proc/4321/ns/network" },
      { type: "ipc", path: "/proc/4321/ns/ipc" },
      { type: "uts", path: "/proc/4321/ns/uts" },
    ]);
  });

  it("keeps namespace paths containerd already set, and shares pid when the pod does", () => {
    const spec = base();
    spec.linux!.namespaces![2] = { type: "network", path: "/proc/77/ns/net" };
    const s = prepareContainerSpec(spec, pod({ sharedPid: true }), 0);
    assert.equal(s.linux!.namespaces!.find((n) => n.type === "network")!.path, "/proc/77/ns/net");
    assert.equal(s.linux!.namespaces!.find((n) => n.type === "pid")!.path, "/proc/4321/ns/pid");
  });

  it("drops network and uts for host-network pods and ipc for host-ipc pods", () => {
    const s = prepareContainerSpec(base(), pod({ hostNetwork: true, hostIpc: true, shmPath: "" }), 0);
    // uts is left as containerd wrote it (CRI omits it for host-network pods); no path is added.
    assert.deepEqual(s.linux!.namespaces, [{ type: "pid" }, { type: "mount" }, { type: "uts" }]);
    assert.equal(s.mounts!.find((m) => m.destination === "/dev/shm")!.type, "tmpfs");
  });

  it("bind-mounts the pod's files and shm, replacing the private shm tmpfs", () => {
    const s = prepareContainerSpec(base(), pod(), 0);
    const byDest = new Map(s.mounts!.map((m) => [m.destination, m]));
    assert.equal(byDest.get("/etc/hosts")!.source, "/s/hosts");
    assert.equal(byDest.get("/etc/resolv.conf")!.source, "/s/resolv.conf");
    assert.equal(byDest.get("/etc/hostname")!.source, "/s/hostname");
    assert.deepEqual(byDest.get("/dev/shm"), { destination: "/dev/shm", type: "bind", source: "/s/shm", options: ["rbind", "rprivate", "rw"] });
  });

  it("does not add a mount CRI already configured", () => {
    const spec = base();
    spec.mounts!.push({ destination: "/etc/hosts", type: "bind", source: "/cri/hosts" });
    const s = prepareContainerSpec(spec, pod(), 0);
    assert.deepEqual(s.mounts!.filter((m) => m.destination === "/etc/hosts").map((m) => m.source), ["/cri/hosts"]);
  });

  it("clamps a negative oom_score_adj to what this process may set, and leaves the input alone", () => {
    const spec = base();
    assert.equal(prepareContainerSpec(spec, undefined, 0).process!.oomScoreAdj, 0);
    assert.equal(prepareContainerSpec(spec, undefined, -1000).process!.oomScoreAdj, -998);
    assert.equal(spec.process!.oomScoreAdj, -998);
  });
});
