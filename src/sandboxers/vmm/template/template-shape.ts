import { createHash } from "node:crypto";
import { readFileSync, statSync } from "node:fs";
import { which } from "../../../fs/which.js";
import type { Accelerator } from "../driver/hypervisor.js";

/** Bumped when what a template holds, or how it is restored, changes: old templates become stale. */
export const TEMPLATE_FORMAT = 2;

/**
 * Everything that shapes a booted guest's memory and device state. Two VMs of the same shape
 * can be restored from one template; anything that differs (a new kernel, initrd or agent, a
 * changed command line, size, machine, accelerator or QEMU) needs a template of its own.
 */
export interface TemplateShape {
  /** The QEMU binary: device state only loads into the QEMU (version) that saved it. */
  qemuPath: string;
  machineType: string;
  accelerator: Accelerator;
  vcpus: number;
  memoryMb: number;
  kernelPath: string;
  /** The initrd holds the guest agent: its digest covers the agent build too. */
  initrdPath: string;
  kernelCmdline: string;
  /** Empty hot-plug slots the template has (restored VMs get their share and NIC there). */
  hotplugSlots: number;
  /** The guest boots with its (unmounted) virtio-9p share device in the share slot: templates of the 9p guest (see VmSpec.share9pSlot). */
  coldShare9p: boolean;
}

/** What the key was computed from: kept beside a template so `kuasar-ctl` and logs can say why it is stale. */
export interface TemplateIdentity {
  format: number;
  qemu: string;
  machineType: string;
  accelerator: Accelerator;
  vcpus: number;
  memoryMb: number;
  kernel: string;
  initrd: string;
  kernelCmdline: string;
  hotplugSlots: number;
  coldShare9p: boolean;
}

const fileDigests = new Map<string, { stamp: string; digest: string }>();

/**
 * sha256 of a file's content, remembered while its size, mtime and inode stay the same (a
 * kernel or QEMU binary is tens of MB: not hashed again for every pod).
 */
export function fileDigest(path: string): string {
  const st = statSync(path);
  const stamp = `${st.ino}:${st.size}:${st.mtimeMs}`;
  const known = fileDigests.get(path);
  if (known?.stamp === stamp) return known.digest;
  const digest = createHash("sha256").update(readFileSync(path)).digest("hex");
  fileDigests.set(path, { stamp, digest });
  return digest;
}

/** The identity of a shape, with file contents reduced to digests. */
export function templateIdentity(s: TemplateShape, digest: (path: string) => string = fileDigest): TemplateIdentity {
  return {
    format: TEMPLATE_FORMAT,
    qemu: digest(s.qemuPath.includes("/") ? s.qemuPath : (which(s.qemuPath) ?? s.qemuPath)),
    machineType: s.machineType,
    accelerator: s.accelerator,
    vcpus: s.vcpus,
    memoryMb: s.memoryMb,
    kernel: digest(s.kernelPath),
    initrd: digest(s.initrdPath),
    kernelCmdline: s.kernelCmdline,
    hotplugSlots: s.hotplugSlots,
    coldShare9p: s.coldShare9p,
  };
}

/** The template's key: its accelerator (never mixed up, readable in the directory name) and a digest of its identity. */
export function templateKey(id: TemplateIdentity): string {
  const canonical = JSON.stringify(Object.fromEntries(Object.entries(id).sort(([a], [b]) => a.localeCompare(b))));
  return `${id.accelerator}-${createHash("sha256").update(canonical).digest("hex").slice(0, 32)}`;
}
