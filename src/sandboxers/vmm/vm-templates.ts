import { join } from "node:path";
import type { Logger } from "../../log/logger.js";
import type { Accelerator } from "./driver/hypervisor.js";
import type { HypervisorOptions } from "./hypervisor-options.js";
import type { QemuDriver } from "./qemu/qemu-driver.js";
import { templateBuilder, templateShape } from "./template-builder.js";
import { templateIdentity, type TemplateIdentity } from "./template/template-shape.js";
import { TemplateStore, type Template } from "./template/template-store.js";
import type { BootedVm, BootRequest } from "./vm-boot.js";
import { restoreVm } from "./vm-restore.js";

/**
 * A template's boot may take this many boot deadlines: it is off every pod's path (a pod boots
 * meanwhile), and its guest (a generic kernel, for 9p) boots slower than the pods'.
 */
export const TEMPLATE_BOOT_DEADLINES = 3;

/** Templates kept at most (one per pod size in use; each holds the guest RAM its boot touched). */
export const MAX_TEMPLATES = 4;

/** A vmm sandboxer's VM templates: under `<dir>/templates`, for the options it runs with. */
export class VmTemplates {
  readonly store: TemplateStore;

  constructor(
    private readonly qemu: QemuDriver,
    private readonly options: HypervisorOptions,
    stateDir: string,
    private readonly log: Logger,
  ) {
    this.store = new TemplateStore(join(stateDir, "templates"), log);
  }

  identity(accelerator: Accelerator, size: { vcpus: number; memoryMb: number }): TemplateIdentity {
    return templateIdentity(templateShape(this.options, accelerator, size));
  }

  /** The template for pods of this size, built now if there is none. */
  async obtain(accelerator: Accelerator, size: { vcpus: number; memoryMb: number }): Promise<Template> {
    const shape = templateShape(this.options, accelerator, size);
    const t = await this.store.obtain(templateIdentity(shape), templateBuilder(this.qemu, shape, this.options.bootTimeoutMs * TEMPLATE_BOOT_DEADLINES, this.log));
    this.store.evict(MAX_TEMPLATES);
    return t;
  }

  /** The template for pods of this size if there is a whole one (a broken one is removed with a warning). */
  find(accelerator: Accelerator, size: { vcpus: number; memoryMb: number }): Template | undefined {
    return this.store.find(this.identity(accelerator, size));
  }

  /** Starts a pod VM from `t` (see vm-restore.ts). */
  restore(t: Template, b: BootRequest, log: Logger, onPids: (qemuPid: number, virtiofsdPid: number) => void): Promise<BootedVm> {
    return restoreVm(this.qemu, this.options, t, b, log, onPids);
  }

  /** Removes templates of another kernel, initrd (agent), QEMU, machine or command line than configured now. */
  prune(): string[] {
    const now = this.identity("tcg", { vcpus: 1, memoryMb: 64 });
    return this.store.prune((_key, id) => id !== undefined && id.format === now.format && id.qemu === now.qemu && id.kernel === now.kernel && id.initrd === now.initrd && id.machineType === now.machineType && id.kernelCmdline === now.kernelCmdline && id.hotplugSlots === now.hotplugSlots);
  }
}
