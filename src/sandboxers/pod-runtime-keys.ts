import type { OptionTable } from "../config/option-table.js";
import type { PodRuntimeOptions } from "../pod/pod-runtime.js";
import type { SandboxerBase } from "./sandboxer-kind.js";

/** Keys of the kinds whose pods a holder keeps on the host (runc, wasm, gvisor). */
export interface PodRuntimeKeys {
  shmSizeMb: number;
  reconcileIntervalSecs: number;
}

export const podRuntimeKeys: OptionTable<PodRuntimeKeys> = {
  shmSizeMb: { kind: "int", min: 1, max: 1 << 20, default: 64, doc: "Size of each pod's /dev/shm tmpfs, in MiB (64, as containerd's CRI)." },
  reconcileIntervalSecs: {
    kind: "int",
    min: 0,
    max: 86_400,
    default: 60,
    doc: "Seconds between passes that take down what dir holds and no live sandbox owns; one pass always runs at start; 0 disables the periodic ones.",
  },
};

/** The pod runtime's options from the daemon's part and these keys. */
export function podRuntimeOptions(base: SandboxerBase, o: PodRuntimeKeys): PodRuntimeOptions {
  return { ...base, shmSizeBytes: o.shmSizeMb * 1024 * 1024, reconcileIntervalMs: o.reconcileIntervalSecs * 1000 };
}
