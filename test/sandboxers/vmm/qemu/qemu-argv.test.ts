import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { VmSpec } from "../../../../src/sandboxers/vmm/driver/hypervisor.js";
import { qemuArgv } from "../../../../src/sandboxers/vmm/qemu/qemu-argv.js";

const spec: VmSpec = {
  id: "p1",
  accelerator: "tcg",
  vcpus: 2,
  memoryMb: 320,
  kernelPath: "/g/vmlinuz",
  initrdPath: "/g/initrd.img",
  kernelCmdline: "console=ttyS0 quiet",
  agentSocket: "/s/a.agent",
  controlSocket: "/s/a.qmp",
  shareSocket: "/s/a.fs",
  consoleLog: "/p/console.log",
  vmmLog: "/p/qemu.log",
  nic: { tap: "tap0_kuasar", mac: "02:00:00:00:00:01" },
  netnsPath: "/run/netns/x",
  cgroups: [],
};

/** The value following `flag` for every occurrence. */
const values = (argv: string[], flag: string) => argv.flatMap((a, i) => (a === flag ? [argv[i + 1]!] : []));

describe("QEMU command line", () => {
  it("boots the kernel and initrd with the accelerator, size and command line asked for", () => {
    const argv = qemuArgv("/usr/bin/qemu-system-x86_64", "q35", spec);
    assert.equal(argv[0], "/usr/bin/qemu-system-x86_64");
    assert.deepEqual(values(argv, "-machine"), ["q35,accel=tcg"]);
    assert.deepEqual(values(argv, "-cpu"), ["max"]);
    assert.deepEqual(values(argv, "-smp"), ["2"]);
    assert.deepEqual(values(argv, "-m"), ["320M"]);
    assert.deepEqual(values(argv, "-kernel"), ["/g/vmlinuz"]);
    assert.deepEqual(values(argv, "-initrd"), ["/g/initrd.img"]);
    assert.deepEqual(values(argv, "-append"), ["console=ttyS0 quiet"]);
    assert.ok(argv.includes("-no-reboot"), "a guest power-off or panic ends QEMU");
    assert.equal(qemuArgv("q", "q35", { ...spec, accelerator: "kvm" })[argv.indexOf("-cpu") + 1], "host");
  });

  it("serves the agent port and QMP on unix sockets and shares memory for virtio-fs", () => {
    const argv = qemuArgv("q", "q35", spec);
    assert.ok(values(argv, "-chardev").includes("socket,id=agent,path=/s/a.agent,server=on,wait=off"));
    assert.ok(values(argv, "-device").includes("virtserialport,bus=ser0.0,chardev=agent,name=kuasar.agent"));
    assert.deepEqual(values(argv, "-qmp"), ["unix:/s/a.qmp,server=on,wait=off"]);
    assert.ok(values(argv, "-object").includes("memory-backend-memfd,id=mem,size=320M,share=on"));
    assert.ok(values(argv, "-device").includes("vhost-user-fs-pci,chardev=fs0,tag=kuasar"));
    assert.ok(values(argv, "-netdev").includes("tap,id=net0,ifname=tap0_kuasar,script=no,downscript=no"));
    assert.ok(values(argv, "-device").includes("virtio-net-pci,netdev=net0,mac=02:00:00:00:00:01"));
  });

  it("leaves out the share and the NIC when there are none", () => {
    const argv = qemuArgv("q", "pc", { ...spec, shareSocket: undefined, nic: undefined });
    assert.equal(values(argv, "-netdev").length, 0);
    assert.ok(!argv.some((a) => a.startsWith("vhost-user-fs")));
    assert.deepEqual(values(argv, "-machine"), ["pc,accel=tcg"]);
  });
  it("maps a template's RAM file shared to build it, privately or shared to restore from it, and waits for the state", () => {
    const plain = qemuArgv("q", "q35", spec);
    assert.ok(!plain.includes("-incoming"), "a pod boots by default");
    assert.ok(!values(plain, "-device").some((d) => d.startsWith("pcie-root-port")));
    const build = qemuArgv("q", "q35", { ...spec, memory: { file: "/t/memory", shared: true }, hotplugSlots: 2 });
    assert.ok(values(build, "-object").includes("memory-backend-file,id=mem,size=320M,mem-path=/t/memory,share=on"));
    assert.deepEqual(values(build, "-device").filter((d) => d.startsWith("pcie-root-port")), ["pcie-root-port,id=hp0,bus=pcie.0,chassis=1", "pcie-root-port,id=hp1,bus=pcie.0,chassis=2"]);
    const restore = qemuArgv("q", "q35", { ...spec, memory: { file: "/t/memory", shared: false }, incoming: true, hotplugSlots: 2 });
    assert.ok(values(restore, "-object").includes("memory-backend-file,id=mem,size=320M,mem-path=/t/memory,share=off"));
    assert.deepEqual(values(restore, "-incoming"), ["defer"]);
  });
  it("gives a restored VM's 9p share as a backend only (its device is hot-plugged), commas in the path doubled", () => {
    assert.equal(values(qemuArgv("q", "q35", spec), "-fsdev").length, 0);
    const argv = qemuArgv("q", "q35", { ...spec, shareSocket: undefined, share9pPath: "/run/pods/a,b/shared", memory: { file: "/t/memory", shared: false }, incoming: true, hotplugSlots: 2 });
    assert.deepEqual(values(argv, "-fsdev"), ["local,id=fsdev0,path=/run/pods/a,,b/shared,security_model=passthrough,multidevs=remap"]);
    assert.ok(!values(argv, "-device").some((d) => d.startsWith("virtio-9p")), "the device is hot-plugged after the state is loaded");
  });
  it("puts a 9p template's share device in its slot, after the root port it sits in", () => {
    const argv = qemuArgv("q", "q35", { ...spec, shareSocket: undefined, share9pPath: "/s", share9pSlot: 0, incoming: true, hotplugSlots: 2 });
    const devices = values(argv, "-device");
    const at = devices.indexOf("virtio-9p-pci,id=share0,fsdev=fsdev0,mount_tag=kuasar,bus=hp0");
    assert.ok(at > devices.indexOf("pcie-root-port,id=hp0,bus=pcie.0,chassis=1"), devices.join(" "));
    assert.equal(values(qemuArgv("q", "q35", { ...spec, shareSocket: undefined, share9pSlot: 0, hotplugSlots: 2 }), "-fsdev").length, 0, "no device without its backend");
  });
});
