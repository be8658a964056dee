import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { OciSpec } from "../../../src/pod/oci-spec.js";
import { guestContainerSpec } from "../../../src/sandboxers/vmm/guest-spec.js";
import { vmPaths } from "../../../src/sandboxers/vmm/guest-paths.js";

const paths = vmPaths("/run/kuasar-vmm", "/run/kuasar-vmm/pods/p1", "p1");
const containerDir = "/run/kuasar-vmm/pods/p1/shared/c/c1";

function spec(): OciSpec {
  return {
    ociVersion: "1.1.0",
    process: { args: ["sh"], apparmorProfile: "cri-containerd.apparmor.d", oomScoreAdj: -998 },
    root: { path: "rootfs", readonly: false },
    hostname: "pod",
    hooks: { createRuntime: [{ path: "/usr/bin/hook" }] },
    mounts: [
      { destination: "/proc", type: "proc", source: "proc" },
      { destination: "/dev/shm", type: "bind", source: "/srv/cri/sandboxes/p1/shm", options: ["rbind", "rw"] },
      { destination: "/etc/hosts", type: "bind", source: "/srv/cri/sandboxes/p1/hosts", options: ["rbind", "ro"] },
      { destination: "/data", type: "none", source: "/srv/vol", options: ["bind"] },
    ],
    linux: {
      namespaces: [{ type: "pid", path: "/proc/9/ns/pid" }, { type: "network", path: "/run/netns/x" }, { type: "ipc" }, { type: "uts" }, { type: "mount" }],
      cgroupsPath: "kubepods-besteffort.slice:cri-containerd:c1",
      sysctl: { "net.ipv4.ip_forward": "1", "kernel.shmmax": "1", "vm.swappiness": "1" },
      mountLabel: "x",
    },
  };
}

describe("guest container spec", () => {
  it("reaches the rootfs and host bind sources through the share, and /dev/shm from the pod's guest tmpfs", () => {
    const { spec: s, binds } = guestContainerSpec(spec(), "c1", paths, { containerDir, hostIpc: false });
    assert.equal(s.root?.path, "/run/kuasar/shared/c/c1/rootfs");
    const byDest = Object.fromEntries((s.mounts ?? []).map((m) => [m.destination, m]));
    assert.equal(byDest["/proc"]?.source, "proc");
    assert.equal(byDest["/dev/shm"]?.source, "/run/kuasar/shm");
    assert.equal(byDest["/etc/hosts"]?.source, "/run/kuasar/shared/c/c1/m/2");
    assert.equal(byDest["/data"]?.source, "/run/kuasar/shared/c/c1/m/3");
    assert.deepEqual(binds, [
      { source: "/srv/cri/sandboxes/p1/hosts", target: `${containerDir}/m/2`, recursive: true },
      { source: "/srv/vol", target: `${containerDir}/m/3`, recursive: false },
    ]);
  });

  it("uses the guest's network, IPC, UTS and shared pid namespace, and drops host-only settings", () => {
    const { spec: s } = guestContainerSpec(spec(), "c1", paths, { containerDir, hostIpc: false });
    assert.deepEqual(s.linux?.namespaces, [{ type: "mount" }]);
    assert.equal(s.hostname, undefined);
    assert.equal(s["hooks"], undefined);
    assert.equal(s.process?.["apparmorProfile"], undefined);
    assert.equal(s.process?.oomScoreAdj, -998, "root in the guest may lower it");
    assert.equal(s.linux?.cgroupsPath, "/kuasar/c1");
    assert.deepEqual(s.linux?.["sysctl"], { "vm.swappiness": "1" });
    assert.equal(s.linux?.["mountLabel"], undefined);
  });

  it("keeps a private pid namespace, and a cgroupfs path, as given", () => {
    const o = spec();
    o.linux!.namespaces = [{ type: "pid" }, { type: "mount" }];
    o.linux!.cgroupsPath = "/k8s.io/c1";
    const { spec: s } = guestContainerSpec(o, "c1", paths, { containerDir, hostIpc: false });
    assert.deepEqual(s.linux?.namespaces, [{ type: "pid" }, { type: "mount" }]);
    assert.equal(s.linux?.cgroupsPath, "/k8s.io/c1");
  });

  it("shares a mount with a recursive attribute (rro) recursively, so its submounts reach the guest's runc", () => {
    const oci = { ...spec(), mounts: [{ destination: "/ro", type: "bind", source: "/srv/ro", options: ["bind", "ro", "rro"] }] };
    const { spec: s, binds } = guestContainerSpec(oci, "c1", paths, { containerDir, hostIpc: false });
    assert.deepEqual(binds, [{ source: "/srv/ro", target: `${containerDir}/m/0`, recursive: true }]);
    assert.deepEqual(s.mounts?.[0]?.options, ["bind", "ro", "rro"], "runc in the guest applies rro itself");
  });

  it("never changes the spec it was given", () => {
    const o = spec();
    const before = JSON.stringify(o);
    guestContainerSpec(o, "c1", paths, { containerDir, hostIpc: false });
    assert.equal(JSON.stringify(o), before);
  });
});
