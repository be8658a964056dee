import { AGENT_PORT_NAME, hotplugSlotId, SHARE_FSDEV, SHARE_TAG, type VmSpec } from "../driver/hypervisor.js";

/** QEMU's command line for a sandbox VM (pure: tested without QEMU). */
export function qemuArgv(binary: string, machineType: string, spec: VmSpec): string[] {
  const mem = `${spec.memoryMb}M`;
  const argv = [
    binary,
    "-name", `kuasar-${spec.id},debug-threads=on`,
    "-machine", `${machineType},accel=${spec.accelerator}`,
    "-cpu", spec.accelerator === "kvm" ? "host" : "max",
    "-smp", String(spec.vcpus),
    "-m", mem,
    "-nodefaults", "-no-user-config", "-nographic", "-no-reboot",
    "-kernel", spec.kernelPath,
    "-initrd", spec.initrdPath,
    "-append", spec.kernelCmdline,
    "-serial", `file:${spec.consoleLog}`,
    "-qmp", `unix:${spec.controlSocket},server=on,wait=off`,
    "-object", memoryBackend(spec, mem),
    "-numa", "node,memdev=mem",
    "-device", "virtio-serial-pci,id=ser0",
    "-chardev", `socket,id=agent,path=${spec.agentSocket},server=on,wait=off`,
    "-device", `virtserialport,bus=ser0.0,chardev=agent,name=${AGENT_PORT_NAME}`,
  ];
  if (spec.shareSocket) {
    argv.push("-chardev", `socket,id=fs0,path=${spec.shareSocket}`, "-device", `vhost-user-fs-pci,chardev=fs0,tag=${SHARE_TAG}`);
  }
  if (spec.share9pPath !== undefined) {
    // passthrough: QEMU runs as root and keeps the guest's owners and modes on the host files;
    // remap: the pod directory holds bind mounts (container rootfs), keep their inode numbers apart.
    argv.push("-fsdev", `local,id=${SHARE_FSDEV},path=${commaSafe(spec.share9pPath)},security_model=passthrough,multidevs=remap`);
  }
  if (spec.nic) {
    argv.push("-netdev", `tap,id=net0,ifname=${spec.nic.tap},script=no,downscript=no`, "-device", `virtio-net-pci,netdev=net0,mac=${spec.nic.mac}`);
  }
  // q35's root bus takes no hot-plug: each slot is a root port of its own.
  for (let n = 0; n < (spec.hotplugSlots ?? 0); n++) argv.push("-device", `pcie-root-port,id=${hotplugSlotId(n)},bus=pcie.0,chassis=${n + 1}`);
  // After the root ports: the device sits in one.
  if (spec.share9pPath !== undefined && spec.share9pSlot !== undefined) {
    argv.push("-device", `virtio-9p-pci,id=share0,fsdev=${SHARE_FSDEV},mount_tag=${SHARE_TAG},bus=${hotplugSlotId(spec.share9pSlot)}`);
  }
  if (spec.incoming) argv.push("-incoming", "defer");
  return argv;
}

function memoryBackend(spec: VmSpec, size: string): string {
  // vhost-user devices (virtio-fs) need guest RAM the daemon can map: shared.
  if (!spec.memory) return `memory-backend-memfd,id=mem,size=${size},share=on`;
  return `memory-backend-file,id=mem,size=${size},mem-path=${spec.memory.file},share=${spec.memory.shared ? "on" : "off"}`;
}

/** QEMU option values end at a comma; a doubled comma is a literal one. */
function commaSafe(s: string): string {
  return s.replace(/,/g, ",,");
}
