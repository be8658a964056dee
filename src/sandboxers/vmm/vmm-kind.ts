import { defaultsOf } from "../../config/option-table.js";
import { podRuntimeKeys, podRuntimeOptions } from "../pod-runtime-keys.js";
import type { SandboxerKindDefinition } from "../sandboxer-kind.js";
import { hypervisorTable, type HypervisorOptions } from "./hypervisor-options.js";

/**
 * The vmm kind's own keys: the `[sandboxers.vmm.hypervisor]` table. Its pods live in VMs, so the
 * host pod runtime's keys (shm size, reconcile passes) are not its keys and keep their defaults.
 */
export interface VmmKindOptions {
  hypervisor: HypervisorOptions;
}

export const vmmKind: SandboxerKindDefinition<VmmKindOptions> = {
  name: "vmm",
  options: {
    hypervisor: { kind: "table", table: hypervisorTable, doc: "How VMs boot (Kuasar's QEMU keys where they apply)." },
  },
  kuasarTopLevelTables: ["hypervisor"],
  programs: ({ hypervisor: h }) => ({ qemu: h.path, virtiofsd: h.virtiofsdPath, kernel: h.kernelPath, initrd: h.initrdPath }),
  async create(base, o, s) {
    // Loaded only for a configured kind: a daemon carries the code of the kinds it serves.
    const { createVmmSandboxer } = await import("./vmm-sandboxer.js");
    return createVmmSandboxer({ ...podRuntimeOptions(base, defaultsOf(podRuntimeKeys)), hypervisor: o.hypervisor }, s.log, s.events, s.minOomScoreAdj, s.outputKeeper);
  },
};
