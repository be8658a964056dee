/**
 * A configuration issue 6 names that has no implementation yet (wasm, vmm, gvisor): listed
 * in every report as not available, with the reason, instead of being left out silently.
 * Replace the entry in `configurations.ts` by a real {@link BenchConfiguration} when the
 * sandboxer lands (a wasm one also needs a WASI workload image instead of {@link sleepContainer}).
 *
 * @internal benchmark, not part of the runtime
 */
import type { BenchConfiguration } from "./bench-configuration.js";

/** What {@link plannedConfiguration} needs. */
export interface PlannedConfigurationOptions {
  readonly id: string;
  readonly label: string;
  readonly containerdVersion: "1.7" | "2";
  readonly description: string;
  /** Shown as the reason ("not available yet: ..."). */
  readonly reason: string;
}

/** A configuration whose {@link BenchConfiguration.availability} always answers `reason`. */
export function plannedConfiguration(o: PlannedConfigurationOptions): BenchConfiguration {
  return {
    id: o.id,
    label: o.label,
    role: "ours",
    containerdVersion: o.containerdVersion,
    description: o.description,
    managementProcesses: "kuasard + kuasar-endpoint + per-pod processes of the sandboxer",
    availability: async () => `not available yet: ${o.reason}`,
    setup: () => Promise.reject(new Error(`${o.id}: not implemented`)),
  };
}
