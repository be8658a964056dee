import { AGENT_PORT_NAME, SHARE_TAG, type VmSpec } from "../driver/hypervisor.js";

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
    // vhost-user devices (virtio-fs) need guest RAM the daemon can map.
    "-object", `memory-backend-memfd,id=mem,size=${mem},share=on`,
    "-numa", "node,memdev=mem",
    "-device", "virtio-serial-pci,id=ser0",
    "-chardev", `socket,id=agent,path=${spec.agentSocket},server=on,wait=off`,
    "-device", `virtserialport,bus=ser0.0,chardev=agent,name=${AGENT_PORT_NAME}`,
  ];
  if (spec.shareSocket) {
    argv.push("-chardev", `socket,id=fs0,path=${spec.shareSocket}`, "-device", `vhost-user-fs-pci,chardev=fs0,tag=${SHARE_TAG}`);
  }
  if (spec.nic) {
    argv.push("-netdev", `tap,id=net0,ifname=${spec.nic.tap},script=no,downscript=no`, "-device", `virtio-net-pci,netdev=net0,mac=${spec.nic.mac}`);
  }
  return argv;
}
