import { defaultsOf, type OptionTable } from "../../config/option-table.js";
import { defaultGuestDir, defaultTemplateGuestDir } from "./guest-dir.js";

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
  /**
   * Start pods by restoring a VM template (a guest of the same shape booted once and saved,
   * under `<dir>/templates`, built on first use or by `kuasar-ctl template build`) instead of
   * booting; a pod boots when there is none or it fails. Default false.
   */
  template: boolean;
  /**
   * Guest kernel of VM templates: one with 9p, so that restored VMs share the template's
   * unchanged pages (see docs/adr/0009-vm-templates.md). When it or
   * {@link templateInitrdPath} cannot be read, templates boot `kernelPath` and `initrdPath`.
   * Default `build/guest-template/vmlinuz` of this installation (packaging/build-guest.sh).
   */
  templateKernelPath: string;
  /** Guest initrd of VM templates (with the 9p modules). Default `build/guest-template/initrd.img`. */
  templateInitrdPath: string;
}

/** The keys of `[sandboxers.vmm.hypervisor]`: types, defaults and docs in one place. */
export const hypervisorTable: OptionTable<HypervisorOptions> = {
  path: { kind: "string", nonEmpty: true, default: "qemu-system-x86_64", doc: "The QEMU system emulator." },
  machineType: { kind: "enum", values: ["q35", "pc"], default: "q35", doc: "QEMU machine type." },
  kernelPath: { kind: "path", default: `${defaultGuestDir}/vmlinuz`, doc: "Guest kernel (packaging/build-guest.sh builds it)." },
  initrdPath: { kind: "path", default: `${defaultGuestDir}/initrd.img`, doc: "Guest initrd holding the agent." },
  kernelParams: { kind: "string", default: "", doc: "Appended to the guest's kernel command line." },
  vcpus: { kind: "int", min: 1, max: 64, default: 1, doc: "vCPUs per pod, plus ceil(cpu quota / period) of the pod's limits." },
  memoryInMb: { kind: "int", min: 64, max: 1 << 20, default: 256, doc: "Memory per pod in MiB, plus the pod's memory limit." },
  shareFs: { kind: "enum", values: ["virtio-fs"], default: "virtio-fs", doc: "How container filesystems reach the guest." },
  virtiofsdPath: { kind: "string", nonEmpty: true, default: "/usr/lib/qemu/virtiofsd", doc: "The virtio-fs daemon." },
  accelerator: { kind: "enum", values: ["auto", "kvm", "tcg"], default: "auto", doc: "auto: boot a probe guest on KVM, else TCG; or kvm / tcg." },
  kvmProbeTimeoutMs: { kind: "int", min: 500, max: 600_000, default: 10_000, doc: "Deadline of the KVM probe boot, in ms." },
  bootTimeoutMs: { kind: "int", min: 1000, max: 600_000, default: 60_000, doc: "QEMU start to the guest agent's first answer, in ms." },
  stopTimeoutMs: { kind: "int", min: 0, max: 600_000, default: 10_000, doc: "Clean guest power-off before QEMU is killed, in ms." },
  debug: { kind: "bool", default: false, doc: "Kernel messages on the console log and virtiofsd debug logs." },
  template: { kind: "bool", default: false, doc: "Restore pods from a VM template of their shape (built on first use) instead of booting; boot when that fails." },
  templateKernelPath: { kind: "path", default: `${defaultTemplateGuestDir}/vmlinuz`, doc: "Guest kernel of VM templates (with 9p: restored VMs share its pages); kernel_path when unreadable." },
  templateInitrdPath: { kind: "path", default: `${defaultTemplateGuestDir}/initrd.img`, doc: "Guest initrd of VM templates (with the 9p modules); initrd_path when unreadable." },
};

/** Every hypervisor key at its default. */
export function defaultHypervisorOptions(): HypervisorOptions {
  return defaultsOf(hypervisorTable);
}
