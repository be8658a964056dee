/**
 * What the vmm sandboxer needs from a virtual machine monitor. QEMU implements
 * it (qemu/); Cloud Hypervisor, Firecracker or StratoVirt would implement the
 * same shape: the sandbox logic only sees a booted guest whose agent answers on
 * a unix socket, a control channel, and a pid.
 */
export interface Hypervisor {
  /** Name for logs and Status, e.g. "qemu". */
  readonly name: string;
  /** Starts the VM described by `spec`, detached from the daemon (it outlives it); resolves with its pid once spawned. */
  launch(spec: VmSpec): Promise<number>;
  /** Opens the VM's control channel (QMP for QEMU); also how a restarted daemon re-attaches. */
  control(spec: Pick<VmSpec, "controlSocket">): Promise<VmControl>;
}

/** A control connection to a running VM. */
export interface VmControl {
  /** Run state as the VMM reports it (e.g. "running", "shutdown"). */
  status(): Promise<string>;
  /** Asks the VMM to exit at once (the guest gets no say). */
  quit(): Promise<void>;
  /** Resolves when the connection ends (the VMM exited, or {@link close}). */
  readonly closed: Promise<void>;
  close(): void;
}

/** Acceleration a VM boots with. */
export type Accelerator = "kvm" | "tcg";

/** Everything needed to boot one sandbox's VM. Paths are host paths. */
export interface VmSpec {
  /** Sandbox id (VM name). */
  id: string;
  accelerator: Accelerator;
  vcpus: number;
  memoryMb: number;
  kernelPath: string;
  initrdPath: string;
  /** Full kernel command line. */
  kernelCmdline: string;
  /** Unix socket the VMM serves for the agent's virtio-serial port. */
  agentSocket: string;
  /** Unix socket of the VMM's control channel. */
  controlSocket: string;
  /** vhost-user-fs socket of the virtio-fs daemon sharing the pod directory (tag "kuasar"), if any. */
  shareSocket: string | undefined;
  /**
   * Host directory QEMU itself serves over 9p (fsdev {@link SHARE_FSDEV}), whose virtio-9p device
   * is hot-plugged later: the share of a VM restored from a template onto private RAM. A backend
   * only (no device, nothing migrated), so the template stays the same for every pod.
   */
  share9pPath?: string;
  /**
   * The hot-plug slot (see {@link hotplugSlotId}) whose virtio-9p device of {@link share9pPath} is
   * on the command line instead: a 9p template's guest boots with the device (unmounted, so it
   * migrates) and its restored VMs have it from their first instruction, without the guest's
   * PCIe hot-plug handling (about a third of a restore under TCG). Undefined: hot-plugged later.
   */
  share9pSlot?: number;
  /** Serial console log file. */
  consoleLog: string;
  /** Where the VMM's own stdout/stderr go. */
  vmmLog: string;
  /** Network: a tap device (in `netnsPath`) and the guest NIC's MAC, or none. */
  nic: { tap: string; mac: string } | undefined;
  /** Network namespace the VMM runs in (its tap lives there); undefined for the host's. */
  netnsPath: string | undefined;
  /** Cgroup dirs (one per hierarchy) the VMM runs in from its start; empty: the daemon's. */
  cgroups: readonly string[];
  /** Guest RAM: an anonymous shared memfd (default), or a file (a VM template's, see template/). */
  memory?: GuestMemory;
  /** Wait for a device state to load (QEMU `-incoming defer`) instead of booting. */
  incoming?: boolean;
  /** Empty hot-plug slots (PCIe root ports) for devices added after start: a template's restored VMs get their share and NIC there. */
  hotplugSlots?: number;
}

/**
 * Guest RAM backed by a file. `shared`: writes go to the file (a template being built, whose
 * pages restored VMs then map); otherwise a private copy-on-write mapping of it (a VM restored
 * from the template: pages it never writes stay shared with every other such VM).
 */
export interface GuestMemory {
  file: string;
  shared: boolean;
}

/** Id of the 9p filesystem backend of {@link VmSpec.share9pPath}. */
export const SHARE_FSDEV = "fsdev0";

/** Id of the n-th hot-plug slot (see {@link VmSpec.hotplugSlots}). */
export function hotplugSlotId(n: number): string {
  return `hp${n}`;
}

/** virtio-fs tag of the pod's shared directory (guest/init mounts it). */
export const SHARE_TAG = "kuasar";
/** Name of the agent's virtio-serial port (guest/init looks it up). */
export const AGENT_PORT_NAME = "kuasar.agent";
