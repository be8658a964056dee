import type { Schema } from "../../config/schema.js";

/**
 * How vmm sandboxes are booted (`[sandboxers.vmm.hypervisor]`, or `[hypervisor]`
 * in a Kuasar-style `vmm-sandboxer --config` file). Keys are Kuasar's QEMU keys
 * where they apply, in snake_case in TOML.
 */
export interface HypervisorOptions {
  /** The QEMU system emulator. Default `qemu-system-x86_64` from PATH. */
  path: string;
  /** QEMU machine type. Default `q35`. */
  machineType: string;
  /** Guest kernel. Default `build/guest/vmlinuz` of this installation (packaging/build-guest.sh). */
  kernelPath: string;
  /** Guest initrd holding the agent. Default `build/guest/initrd.img` of this installation. */
  initrdPath: string;
  /** Extra kernel command line, appended to ours. Default "". */
  kernelParams: string;
  /** vCPUs of a pod without CPU limits; a limit adds ceil(quota/period). Default 1. */
  vcpus: number;
  /** Memory of a pod without a memory limit, in MiB; a limit is added to it. Default 256. */
  memoryInMb: number;
  /** How container filesystems reach the guest: `virtio-fs` (virtiofsd). Default `virtio-fs`. */
  shareFs: string;
  /** The virtio-fs daemon. Default `/usr/lib/qemu/virtiofsd` (Debian's qemu-system-common). */
  virtiofsdPath: string;
  /** `auto` (probe KVM by booting a guest, fall back to TCG), `kvm` or `tcg`. Default `auto`. */
  accelerator: string;
  /** Deadline of the KVM probe boot, in ms. Default 10000. */
  kvmProbeTimeoutMs: number;
  /** Deadline from QEMU start to the agent's first answer, in ms. Default 60000. */
  bootTimeoutMs: number;
  /** How long Stop waits for a clean guest power-off before killing QEMU, in ms. Default 10000. */
  stopTimeoutMs: number;
  /** Kernel messages on the console log (`<pod dir>/console.log`) and virtiofsd debug logs. Default false. */
  debug: boolean;
}

export function defaultHypervisorOptions(guestDir: string): HypervisorOptions {
  return {
    path: "qemu-system-x86_64",
    machineType: "q35",
    kernelPath: `${guestDir}/vmlinuz`,
    initrdPath: `${guestDir}/initrd.img`,
    kernelParams: "",
    vcpus: 1,
    memoryInMb: 256,
    shareFs: "virtio-fs",
    virtiofsdPath: "/usr/lib/qemu/virtiofsd",
    accelerator: "auto",
    kvmProbeTimeoutMs: 10_000,
    bootTimeoutMs: 60_000,
    stopTimeoutMs: 10_000,
    debug: false,
  };
}

export const hypervisorSchema: Schema<HypervisorOptions> = {
  path: { kind: "string", nonEmpty: true },
  machineType: { kind: "enum", values: ["q35", "pc"] },
  kernelPath: { kind: "path" },
  initrdPath: { kind: "path" },
  kernelParams: { kind: "string" },
  vcpus: { kind: "int", min: 1, max: 64 },
  memoryInMb: { kind: "int", min: 64, max: 1 << 20 },
  shareFs: { kind: "enum", values: ["virtio-fs"] },
  virtiofsdPath: { kind: "string", nonEmpty: true },
  accelerator: { kind: "enum", values: ["auto", "kvm", "tcg"] },
  kvmProbeTimeoutMs: { kind: "int", min: 500, max: 600_000 },
  bootTimeoutMs: { kind: "int", min: 1000, max: 600_000 },
  stopTimeoutMs: { kind: "int", min: 0, max: 600_000 },
  debug: { kind: "bool" },
};
